import type { BackupSecrets } from '../../src/core/backup.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import type { Command } from '../../src/core/command.js';
import { buildDesiredState, type AppBundle, type DesiredState, type ReleaseIntent } from '../../src/core/desired-state.js';
import type { Fact } from '../../src/core/facts.js';
import { sha256 } from '../../src/core/file-plan.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import type { RenderedFile, SitePhase } from '../../src/core/render.js';
import type { Step, StepPlan } from '../../src/core/step.js';
import { desiredStamp } from '../../src/core/steps/app.js';
import { appSecretsFact, secretsFact } from '../../src/core/steps/secrets.js';
import type { TierName } from '../../src/core/tiers.js';

/**
 * Step fixtures as data (pyinfra-style): the raw stdout of each fact exactly as `mi-remote facts`
 * prints it (see remote/facts.sh), and the plan the step must make from it. `runFixture` parses the
 * raw text with each fact's own parser, so the fixtures exercise the parsers too.
 */

// Paths on the host, spelled out so the expectations do not borrow them from the code under test.
export const SWAPFILE = '/swapfile';
export const SYSCTL = '/etc/sysctl.d/60-messenger-chat.conf';
export const MARIADB_CNF = '/etc/mysql/mariadb.conf.d/60-messenger-chat.cnf';
export const SECRETS = '/etc/messenger-chat/secrets.env';
export const UNIT_FILE = '/etc/systemd/system/messenger-chat@.service';
export const CHAT_ENV = '/etc/messenger-chat/chat.env';
export const instanceEnv = (port: number) => `/etc/messenger-chat/instance-${port}.env`;
export const STAMP_FILE = '/etc/messenger-chat/.applied';
export const APP_SECRETS = '/etc/messenger-chat/app-secrets.env';
export const RELEASES = '/srv/messenger-chat/releases';
export const CURRENT = '/srv/messenger-chat/current';
export const INSTANCES = '/srv/messenger-chat/instances';
export const NPM_CACHE = '/srv/messenger-chat/.npm-cache';
export const UPSTREAM = '/etc/nginx/messenger-chat-upstream.inc';
export const BUNDLE_ID = '1.0.0-abcdef123456';
/** When the fixtures' release is made (its id starts with it), and by whom. */
export const NOW = new Date('2026-12-01T12:03:01Z');
export const BY = 'ops@laptop';
export const NEW_TIME = '20261201T120301Z';
/** Older releases kept on the host (other content); OLD_1 is the newer of the two. */
export const OLD_1 = '20261120T080000Z-0123456789ab';
export const OLD_2 = '20261110T080000Z-ba9876543210';
export const release = (id: string) => `${RELEASES}/${id}`;
export const NGINX_MAIN = '/etc/nginx/nginx.conf';
export const SITE = '/etc/nginx/conf.d/messenger-chat.conf';
export const WEBROOT = '/var/www/acme';
export const HOOK = '/etc/letsencrypt/renewal-hooks/deploy/messenger-chat-reload-nginx';
export const CA_BUNDLE = '/etc/messenger-chat/acme-ca.pem';
export const CA_DROP_IN = '/etc/systemd/system/certbot.service.d/messenger-chat-acme-ca.conf';
export const DOMAIN = 'chat.messenger.test';
export const LE = 'https://acme-v02.api.letsencrypt.org/directory';
export const PEBBLE = 'https://pebble.test:14000/dir';
export const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfixture\n-----END CERTIFICATE-----\n';

export interface DesiredOpts {
  tier?: TierName;
  container?: string | null;
  jwtSecret?: string;
  sshPort?: number;
  /** The SSH user the run logs in as (default: root, like the detected host's basics without one). */
  sshUser?: string;
  /** More of the stack's harden section. */
  harden?: StackOverrides['harden'];
  /** The stack's redis section. */
  redis?: StackOverrides['redis'];
  /** A private ACME CA (the sandbox's Pebble); also points the stack's ACME server at PEBBLE. */
  acmeCaBundle?: string;
  /** metrics.nodeExporter in the stack. */
  nodeExporter?: boolean;
  /** A user's app (app.source = SOURCE_DIR, start `node dist/main.js`, health /api/health) instead of the bundled server. */
  source?: boolean;
  /** How the host installs a source release: `ci` (built there) or `production` (built locally). */
  install?: 'ci' | 'production';
  /** More of the stack's app section. */
  app?: StackOverrides['app'];
  intent?: ReleaseIntent;
  /** app.secrets as the CLI resolved them. */
  appSecrets?: Record<string, string>;
  /** stack.backup, and its secrets as the CLI resolved them. */
  backup?: StackOverrides['backup'];
  backupSecrets?: BackupSecrets;
  backupPasswordGenerated?: string;
}

/** Where the remote programs of this checkout are installed on a host (the detected fact). */
export const PROGRAMS_DIR = '/usr/local/lib/messenger-infra/remote-0123456789abcdef';

/** A user's Node.js project as app.source wants it: package.json with a build script, and a lock file. */
export const SOURCE_DIR = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'mi-core-source-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shop', version: '2.3.0', scripts: { build: 'nest build' } }));
  writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion":3}\n');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/main.ts'), 'console.log(1)\n');
  return dir;
})();

export const BUNDLED: AppBundle = { kind: 'bundled', version: '1.0.0', id: BUNDLE_ID, files: [{ name: 'messenger-chat.mjs', content: Buffer.from('console.log(1)\n') }] };

function sourceBundle(install: 'ci' | 'production'): AppBundle {
  const files = [
    { name: 'package-lock.json', content: Buffer.from('{"lockfileVersion":3}\n') },
    { name: 'package.json', content: Buffer.from('{"name":"shop","version":"2.3.0"}') },
    { name: 'src/main.ts', content: Buffer.from('console.log(1)\n') },
  ];
  return { kind: 'source', version: '2.3.0', id: '2.3.0-0a1b2c3d4e5f', files, install };
}

/** A desired state as `up` builds it (the real loader, a fixed time), for a host that is not touched. */
export function state(opts: DesiredOpts = {}): DesiredState {
  const stack = loadStack({
    overrides: {
      tier: opts.tier ?? 'mvp',
      domain: DOMAIN,
      email: 'ops@messenger.test',
      ...(opts.acmeCaBundle === undefined ? {} : { acme: { server: PEBBLE } }),
      ...(opts.nodeExporter === undefined ? {} : { metrics: { nodeExporter: opts.nodeExporter } }),
      app: { ...(opts.source ? { source: SOURCE_DIR, start: 'node dist/main.js', health: '/api/health' } : {}), ...opts.app },
      ...(opts.backup === undefined ? {} : { backup: opts.backup }),
      ...(opts.harden === undefined ? {} : { harden: opts.harden }),
      ...(opts.redis === undefined ? {} : { redis: opts.redis }),
    },
  });
  return buildDesiredState({
    stack,
    host: { os: OS_PROFILES.debian13, arch: 'x64', container: opts.container ?? null, sshPort: opts.sshPort ?? 22, programsDir: PROGRAMS_DIR, ...(opts.sshUser ? { sshUser: opts.sshUser } : {}) },
    bundle: opts.source ? sourceBundle(opts.install ?? 'ci') : BUNDLED,
    ...(opts.jwtSecret === undefined ? {} : { jwtSecret: opts.jwtSecret }),
    ...(opts.appSecrets === undefined ? {} : { appSecrets: opts.appSecrets }),
    ...(opts.acmeCaBundle === undefined ? {} : { acmeCaBundle: opts.acmeCaBundle }),
    ...(opts.intent === undefined ? {} : { intent: opts.intent }),
    ...(opts.backupSecrets === undefined ? {} : { backupSecrets: opts.backupSecrets }),
    ...(opts.backupPasswordGenerated === undefined ? {} : { backupPasswordGenerated: opts.backupPasswordGenerated }),
    now: NOW,
    by: BY,
  });
}

export function fileAt(d: DesiredState, path: string, phase: SitePhase = 'full'): RenderedFile {
  const file = d.files[phase].find((f) => f.path === path);
  if (!file) throw new Error(`no rendered file at ${path}`);
  return file;
}

// ---------------------------------------------------------------------------------------------------
// Raw fact text, as remote/facts.sh prints it.

/** stdout, or [stdout, exit status]. */
export type Raw = string | [stdout: string, code: number];
export type RawFacts = Record<string, Raw>;

export const MISSING_FILE = 'left\nmissing\n';

/** `facts file PATH` for a file on the host: leftovers line, `%a %U %G`, sha256, base64 content. */
export function fileText(file: RenderedFile, host: { left?: string; content?: string; mode?: number; owner?: string } = {}): string {
  const content = host.content ?? file.content;
  const left = host.left ? `left ${host.left}` : 'left';
  return `${left}\n${(host.mode ?? file.mode).toString(8)} ${host.owner ?? file.owner} ${file.group}\n${sha256(content)}\n${Buffer.from(content).toString('base64')}`;
}

/** File facts for `paths`: each as rendered (converged), unless `text` says otherwise. */
export function files(d: DesiredState, paths: readonly string[], text: (f: RenderedFile) => string = (f) => fileText(f), phase: SitePhase = 'full'): RawFacts {
  return Object.fromEntries(paths.map((p) => [`file:${p}`, text(fileAt(d, p, phase))]));
}

export const missing = (d: DesiredState, paths: readonly string[]) => files(d, paths, () => MISSING_FILE);

/** `facts link PATH`: leftovers, then the target (readlink exits 1 when there is no link). */
export const link = (target: string, left = ''): Raw => (target ? `left${left ? ` ${left}` : ''}\n${target}\n` : ['left\n', 1]);

export const PACKAGES = 'packages:nginx,mariadb-server,certbot,ufw,curl,ca-certificates,openssl,zstd,redis-server';
/** The packages of a host hardened as the stack's defaults ask (stack.harden). */
export const HARDEN_PACKAGES = ['fail2ban', 'python3-systemd', 'unattended-upgrades', 'needrestart'] as const;
export const installed = (...names: string[]) => names.map((n) => `${n} install ok installed\n`).join('');

export function secretsText(mode: string, keys: Record<string, string>): string {
  return [`mode ${mode}`, ...Object.entries(keys).map(([k, v]) => `${k} ${sha256(v)}`)].join('\n') + '\n';
}

/** The secrets most app fixtures run with. */
export const SECRETS_OK = secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'jwt-secret', MESSENGER_REDIS_PASSWORD: 'redis-password' });

/** `facts units PREFIX`: `UNIT ACTIVE` per loaded unit, `enabled UNIT` per enabled one. */
export function unitsText(active: Record<number, string>, enabled: readonly number[]): string {
  return [
    ...Object.entries(active).map(([port, s]) => `messenger-chat@${port}.service ${s}`),
    ...enabled.map((p) => `enabled messenger-chat@${p}.service`),
  ].join('\n') + '\n';
}

/** The stamp `mi-remote release` must write for `releaseId`, for the secrets facts the host reports. */
export function stampFor(d: DesiredState, releaseId: string, secretsStdout = SECRETS_OK, appSecretsStdout = ''): string {
  return desiredStamp(
    d,
    new Map<string, unknown>([
      [secretsFact.id, secretsFact.parse(secretsStdout, 0)],
      [appSecretsFact.id, appSecretsFact.parse(appSecretsStdout, 0)],
    ]),
    releaseId,
  );
}

/** The manifest of a release as the host keeps it (`.mi-manifest.json`). */
export interface HostReleaseSpec {
  id: string;
  hash: string;
  kind?: 'bundled' | 'source';
  migrates?: boolean;
}

/** `facts releases DIR`: per complete release, newest first, its name and manifest on one line. */
export function releasesText(...releases: HostReleaseSpec[]): string {
  return releases
    .map((r) => `${r.id} ${JSON.stringify({ id: r.id, hash: r.hash, kind: r.kind ?? 'bundled', version: '0.9.0', createdAt: '2026-11-20T08:00:00.000Z', by: 'ci@runner', migrates: r.migrates ?? false })}`)
    .join('\n') + '\n';
}

/** The live release of a converged host: the run's content, built at an earlier time. */
export const liveId = (d: DesiredState) => `20261130T080000Z-${d.release.hash.slice(0, 12)}`;
export const liveRelease = (d: DesiredState): HostReleaseSpec => ({ id: liveId(d), hash: d.release.hash });
export const OLD_RELEASES: HostReleaseSpec[] = [
  { id: OLD_1, hash: '1'.repeat(64) },
  { id: OLD_2, hash: '2'.repeat(64) },
];

/** `facts file` of nginx's live upstream naming `ports` (as `mi-remote release` writes it). */
export function upstreamText(ports: readonly number[], left = ''): string {
  const content = ports.map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;\n`).join('');
  return `left${left ? ` ${left}` : ''}\n644 root root\n${sha256(content)}\n${Buffer.from(content).toString('base64')}`;
}

/** The app's config files: the unit, the shared env file, one env file per port of both slots. */
export const appFiles = (d: DesiredState) => [UNIT_FILE, CHAT_ENV, ...d.model.appPorts.map(instanceEnv)];

/**
 * Every fact of the `app` step on a converged host: the live release (this run's content) on the
 * first slot, its instances active and enabled, the upstream naming them, files and stamp as desired.
 */
export function appConverged(d: DesiredState, appSecrets = ''): RawFacts {
  const live = d.model.app.slots[0];
  return {
    [`link:${CURRENT}`]: link(release(liveId(d))),
    'app-stamp': `${stampFor(d, liveId(d), SECRETS_OK, appSecrets)}\n`,
    'app-instances': unitsText(Object.fromEntries(live.map((p) => [p, 'active'])), live),
    secrets: SECRETS_OK,
    'app-secrets': appSecrets,
    'app-releases': releasesText(liveRelease(d), ...OLD_RELEASES),
    [`file:${UPSTREAM}`]: upstreamText(live),
    ...files(d, appFiles(d)),
  };
}

/** nginx step facts: unit, webroot, cert, the live upstream (written by a release) and the two nginx files. */
export function webFacts(cert: string, nginx: RawFacts, rest: RawFacts = {}): RawFacts {
  return { 'unit:nginx': 'active enabled\n', [`exists:${WEBROOT}`]: 'yes\n', [`cert:${DOMAIN}`]: cert, [`file:${UPSTREAM}`]: upstreamText([3000]), ...nginx, ...rest };
}

export const CERT_OK = `fresh\n${DOMAIN}\nserver ${LE}\n`;

// ---------------------------------------------------------------------------------------------------
// The fixture table and its one loop.

export interface Expected {
  /** Exact argv of every command, in order. */
  commands: string[][];
  changes: string[];
  skipped?: string;
  /** By command index: the exact stdin, or a check of it. */
  stdin?: Record<number, string | ((stdin: string | Buffer | undefined) => void)>;
  /** By command index: what its exit statuses mean. */
  errors?: Record<number, Command['errors']>;
  /** The files the plan shows a diff for (the `+++` path of each diff). */
  diffs?: string[];
}

export interface Fixture {
  name: string;
  step: Step;
  desired?: DesiredOpts;
  facts: RawFacts | ((d: DesiredState) => RawFacts);
  expect: Expected | ((d: DesiredState) => Expected);
  /** A known bug: the fixture states the right plan and fails until the step is fixed. */
  bug?: string;
}

function gather(step: Step, d: DesiredState, raw: RawFacts): Map<string, unknown> {
  const facts = new Map<string, unknown>();
  for (const fact of step.facts(d) as Fact[]) {
    const value = raw[fact.id];
    if (value === undefined) throw new Error(`fixture lacks fact ${fact.id}`);
    const [stdout, code] = typeof value === 'string' ? [value, 0] : value;
    facts.set(fact.id, fact.parse(stdout, code));
  }
  const unknown = Object.keys(raw).filter((id) => !facts.has(id));
  if (unknown.length > 0) throw new Error(`fixture gives facts the step does not read: ${unknown.join(', ')}`);
  return facts;
}

export function runFixture(f: Fixture): StepPlan {
  const d = state(f.desired);
  const plan = f.step.plan(gather(f.step, d, typeof f.facts === 'function' ? f.facts(d) : f.facts), d);
  const want = typeof f.expect === 'function' ? f.expect(d) : f.expect;

  expect(plan.commands.map((c) => c.argv)).toEqual(want.commands);
  expect(plan.changes).toEqual(want.changes);
  expect(plan.skipped).toBe(want.skipped);
  for (const [i, check] of Object.entries(want.stdin ?? {})) {
    const stdin = plan.commands[Number(i)]?.stdin;
    if (typeof check === 'string') expect(stdin).toBe(check);
    else check(stdin);
  }
  for (const [i, errors] of Object.entries(want.errors ?? {})) expect(plan.commands[Number(i)]?.errors).toEqual(errors);
  if (want.diffs) expect(plan.diffs.map((diff) => /^\+\+\+ (\S+)/m.exec(diff)?.[1])).toEqual(want.diffs);

  // What holds for every plan: ok means no commands, and a supplied secret (JWT, the app's) never reaches a command line.
  expect(plan.changes.length > 0).toBe(plan.commands.length > 0);
  const argv = plan.commands.flatMap((c) => c.argv).join(' ');
  for (const secret of [d.jwtSecret, ...Object.values(d.appSecrets)]) if (secret) expect(argv).not.toContain(secret);
  return plan;
}
