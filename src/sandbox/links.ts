/**
 * What joins the guests of a multi-host sandbox to this machine, and nothing more: each guest's SSH
 * and the edge's 80/443 forwarded to this machine's loopback; from inside each guest, its loopback's
 * ACME port to Pebble and a proxy port to tinyproxy, the guests' only way out (to Debian's mirrors
 * and the npm registry). No route, no NAT rule, no address outside the namespaces: every crossing is
 * a Unix socket between two forwarder processes (forward.ts). Planning is pure; starting spawns.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GUEST_EGRESS_PORT, HOST_EGRESS_PORT, PEBBLE_ACME_PORT, SSH_PORT } from './constants.js';
import { SandboxError } from './errors.js';
import type { NetworkPlan } from './network.js';
import { isAlive, spawnDetached, type ProcRef } from './procs.js';

const LOOPBACK = '127.0.0.1';
const tcp = (port: number) => `tcp:${LOOPBACK}:${port}`;

export interface ForwarderSpec {
  /** null: this machine's own network namespace. */
  netns: string | null;
  /** LISTEN CONNECT pairs, flattened (forward.ts's argv). */
  pairs: string[];
  what: string;
}

/**
 * The forwarder processes of a network: one on this machine, one in each guest's namespace.
 * `sockDir` holds the Unix sockets; `sshPorts[i]` is guest i+1's port on this machine.
 */
export function planForwarders(plan: NetworkPlan, sockDir: string, sshPorts: readonly number[]): ForwarderSpec[] {
  const sock = (name: string) => `unix:${join(sockDir, `${name}.sock`)}`;
  const host: string[] = [];
  const guests: ForwarderSpec[] = [];
  for (const g of plan.guests) {
    const port = sshPorts[g.index - 1];
    if (port === undefined) throw new Error(`no SSH port for guest ${g.index}`);
    const pairs = [sock(`ssh-${g.index}`), tcp(SSH_PORT), tcp(GUEST_EGRESS_PORT), sock('egress'), tcp(PEBBLE_ACME_PORT), sock('acme')];
    host.push(tcp(port), sock(`ssh-${g.index}`));
    if (g.index === 1) {
      // The edge: the site and HTTP-01 validation on this machine's 80/443, as with one host.
      for (const web of [80, 443]) {
        host.push(tcp(web), sock(`edge-${web}`));
        pairs.push(sock(`edge-${web}`), tcp(web));
      }
    }
    guests.push({ netns: g.netns, pairs, what: `forwarder in ${g.netns}` });
  }
  host.push(sock('egress'), tcp(HOST_EGRESS_PORT), sock('acme'), tcp(PEBBLE_ACME_PORT));
  // Guest-side listeners first: their socket files must exist before this machine's side is used.
  return [...guests, { netns: null, pairs: host, what: 'forwarder on this machine' }];
}

/** Tinyproxy's configuration: loopback only, CONNECT to 443 only, as an unprivileged user. */
export function tinyproxyConfig(): string {
  return [
    'User nobody',
    'Group nogroup',
    `Port ${HOST_EGRESS_PORT}`,
    `Listen ${LOOPBACK}`,
    `Allow ${LOOPBACK}`,
    'ConnectPort 443',
    'Timeout 600',
    'MaxClients 200',
    'DisableViaHeader Yes',
    'LogLevel Warning',
    '',
  ].join('\n');
}

const FORWARD_MAIN = join(import.meta.dirname, 'forward-main.ts');
// tsx's ESM entry (`--import tsx`), found from this file rather than from the caller's working directory.
const TSX_LOADER = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;

function forwarderArgv(spec: ForwarderSpec): string[] {
  // The forwarder is TypeScript like the rest: node loads it through tsx, as bin/messenger-infra.js does.
  const node = [process.execPath, '--import', TSX_LOADER, FORWARD_MAIN, ...spec.pairs];
  return spec.netns ? ['ip', 'netns', 'exec', spec.netns, ...node] : node;
}

export interface StartedLinks {
  procs: ProcRef[];
  logs: string[];
}

/**
 * Starts tinyproxy and every forwarder, detached, each logging into `dir`. Each process is pushed onto
 * `procs` (the run state's list) as it starts, so a failure halfway leaves nothing `down` cannot find.
 */
export async function startLinks(specs: readonly ForwarderSpec[], dir: string, procs: ProcRef[]): Promise<StartedLinks> {
  const confPath = join(dir, 'tinyproxy.conf');
  await writeFile(confPath, tinyproxyConfig(), { mode: 0o644 });
  const tinyLog = join(dir, 'tinyproxy.log');
  procs.push(spawnDetached(['tinyproxy', '-d', '-c', confPath], tinyLog, 'tinyproxy'));
  const logs: string[] = [];
  specs.forEach((spec, i) => {
    const log = join(dir, `forward-${i}.log`);
    logs.push(log);
    procs.push(spawnDetached(forwarderArgv(spec), log, spec.what));
  });
  return { procs, logs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every forwarder printed `forward ready`; fails early, with its log, when one exits. */
export async function waitLinksReady(started: StartedLinks, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const forwarders = started.procs.slice(1);
  for (;;) {
    const dead = started.procs.find((p) => !isAlive(p));
    if (dead) {
      const i = forwarders.indexOf(dead);
      const log = i >= 0 ? await readFile(started.logs[i]!, 'utf8').catch(() => '') : '';
      throw new SandboxError('MI_ERR_SANDBOX_NETWORK', `${dead.what} exited: ${log.trim().split('\n').slice(-2).join(' | ') || 'no output'}`);
    }
    const texts = await Promise.all(started.logs.map((l) => readFile(l, 'utf8').catch(() => '')));
    if (texts.every((t) => t.includes('forward ready'))) return;
    if (Date.now() > deadline) throw new SandboxError('MI_ERR_SANDBOX_NETWORK', `the forwarders did not start within ${timeoutMs} ms (logs: ${started.logs.join(', ')})`);
    await sleep(100);
  }
}
