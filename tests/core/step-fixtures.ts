import { expect } from 'vitest';
import type { Command } from '../../src/core/command.js';
import { buildDesiredState, type DesiredState } from '../../src/core/desired-state.js';
import type { Fact } from '../../src/core/facts.js';
import { sha256 } from '../../src/core/file-plan.js';
import type { RenderedFile, SitePhase } from '../../src/core/render.js';
import type { Step, StepPlan } from '../../src/core/step.js';
import { desiredStamp } from '../../src/core/steps/app.js';
import { secretsFact } from '../../src/core/steps/secrets.js';
import type { TierName } from '../../src/core/tiers.js';
import { desired } from '../executor/fixtures.js';

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
export const RELEASES = '/opt/messenger-chat/releases';
export const BUNDLE_ID = '1.0.0-abcdef123456';
export const RELEASE = `${RELEASES}/${BUNDLE_ID}`;
export const CURRENT = '/opt/messenger-chat/current';
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
  /** A private ACME CA (the sandbox's Pebble); also points the stack's ACME server at PEBBLE. */
  acmeCaBundle?: string;
  /** metrics.nodeExporter in the stack. */
  nodeExporter?: boolean;
}

/** `desired()` of the executor fixtures, plus what it does not take (SSH port, private ACME CA). */
export function state(opts: DesiredOpts = {}): DesiredState {
  const base = desired(opts.tier ?? 'mvp', {
    ...(opts.container === undefined ? {} : { container: opts.container }),
    ...(opts.jwtSecret === undefined ? {} : { jwtSecret: opts.jwtSecret }),
    stack: {
      ...(opts.acmeCaBundle === undefined ? {} : { acme: { server: PEBBLE } }),
      ...(opts.nodeExporter === undefined ? {} : { metrics: { nodeExporter: opts.nodeExporter } }),
    },
  });
  if (opts.sshPort === undefined && opts.acmeCaBundle === undefined) return base;
  return buildDesiredState({
    stack: base.stack,
    host: { ...base.host, sshPort: opts.sshPort ?? base.host.sshPort },
    bundle: base.bundle,
    ...(base.jwtSecret === undefined ? {} : { jwtSecret: base.jwtSecret }),
    ...(opts.acmeCaBundle === undefined ? {} : { acmeCaBundle: opts.acmeCaBundle }),
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

export const PACKAGES = 'packages:nginx,mariadb-server,certbot,ufw,curl,ca-certificates,openssl';
export const installed = (...names: string[]) => names.map((n) => `${n} install ok installed\n`).join('');

export function secretsText(mode: string, keys: Record<string, string>): string {
  return [`mode ${mode}`, ...Object.entries(keys).map(([k, v]) => `${k} ${sha256(v)}`)].join('\n') + '\n';
}

/** The secrets most app fixtures run with. */
export const SECRETS_OK = secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'jwt-secret' });

/** `facts units PREFIX`: `UNIT ACTIVE` per loaded unit, `enabled UNIT` per enabled one. */
export function unitsText(active: Record<number, string>, enabled: readonly number[]): string {
  return [
    ...Object.entries(active).map(([port, s]) => `messenger-chat@${port}.service ${s}`),
    ...enabled.map((p) => `enabled messenger-chat@${p}.service`),
  ].join('\n') + '\n';
}

/** The stamp `mi-remote release` must write, for the secrets fact the host reports. */
export function stampFor(d: DesiredState, secretsStdout: string): string {
  return desiredStamp(d, new Map([[secretsFact.id, secretsFact.parse(secretsStdout, 0)]]));
}

/** Every app fact of a converged host: all instances active and enabled, files and stamp as desired. */
export function appConverged(d: DesiredState): RawFacts {
  const ports = d.model.appPorts;
  return {
    'app-user': '998\n',
    [`link:${CURRENT}`]: link(RELEASE),
    'app-stamp': `${stampFor(d, SECRETS_OK)}\n`,
    'app-instances': unitsText(Object.fromEntries(ports.map((p) => [p, 'active'])), ports),
    secrets: SECRETS_OK,
    [`exists:${RELEASE}/.complete`]: 'yes\n',
    ...files(d, [UNIT_FILE, CHAT_ENV, ...ports.map(instanceEnv)]),
  };
}

/** nginx step facts: unit, webroot, cert and the two nginx files. */
export function webFacts(cert: string, nginx: RawFacts, rest: RawFacts = {}): RawFacts {
  return { 'unit:nginx': 'active enabled\n', [`exists:${WEBROOT}`]: 'yes\n', [`cert:${DOMAIN}`]: cert, ...nginx, ...rest };
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

  // What holds for every plan: ok means no commands, and a supplied secret never reaches a command line.
  expect(plan.changes.length > 0).toBe(plan.commands.length > 0);
  if (d.jwtSecret) expect(plan.commands.flatMap((c) => c.argv).join(' ')).not.toContain(d.jwtSecret);
  return plan;
}
