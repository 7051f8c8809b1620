/**
 * sandbox up / down / status: the orchestration of rootfs, machines, their network and Pebble, with the run state
 * written before anything starts, so `down` can always clean up after a failed or interrupted `up`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ACME_DIRECTORY,
  BOOT_TIMEOUT_MS,
  DEFAULT_OS,
  GUEST_EGRESS_PORT,
  MACHINES_DIR,
  MAX_HOSTS,
  PEBBLE_TIMEOUT_MS,
  RUN_DIR,
  SANDBOX_ENDPOINT,
  SANDBOX_NAME,
  SANDBOX_OSES,
  STOP_TIMEOUT_MS,
  SUITES,
  sshPortOf,
  type SandboxOs,
} from './constants.js';
import { SandboxError } from './errors.js';
import { configureGuest } from './guest-config.js';
import { withSandboxLock } from './lock.js';
import { bootMachine, machineAnswers, stopMachine, waitMachineReady } from './machine.js';
import { httpsGet, makeListenerCerts, pebblePaths, startPebble, waitPebbleReady, writePebbleConfig } from './pebble.js';
import { checkPackages, checkPorts, checkRoot } from './preflight.js';
import { planForwarders, startLinks, waitLinksReady, type StartedLinks } from './links.js';
import { checkNetworkFree, createNetwork, HUB_NETNS, netnsPath, planNetwork, removeNetwork } from './network.js';
import { guestPidNamespace, isAlive, mountsUnder, stopProc, type ProcRef } from './procs.js';
import { copyRootfs, ensureRootfsCache } from './rootfs.js';
import { generateClientKey, generateHostKeys, writeKnownHosts } from './ssh-keys.js';
import { clearState, readState, writeState, type GuestState, type SandboxState } from './state.js';
import type { SandboxHost, SandboxInfo } from './types.js';

export interface SandboxUpOptions {
  os?: SandboxOs;
  /**
   * Guests to boot: 1 shares this machine's network; 2 to MAX_HOSTS get a private network. Absent: a
   * running sandbox of any size is returned, and a new one has one guest.
   */
  hosts?: number;
  onProgress?: (line: string) => void;
}

function assertOs(os: unknown): SandboxOs {
  if (typeof os === 'string' && (SANDBOX_OSES as readonly string[]).includes(os)) return os as SandboxOs;
  throw new SandboxError('MI_ERR_SANDBOX_BAD_OS', `--os: unknown sandbox OS "${String(os)}"; use one of ${SANDBOX_OSES.join(', ')}`);
}

function assertHosts(hosts: unknown): number {
  if (typeof hosts === 'number' && Number.isInteger(hosts) && hosts >= 1 && hosts <= MAX_HOSTS) return hosts;
  throw new SandboxError('MI_ERR_SANDBOX_BAD_HOSTS', `--hosts: "${String(hosts)}" is not a whole number from 1 to ${MAX_HOSTS}; use e.g. --hosts 3`);
}

/** Every process the sandbox started: guests, Pebble, tinyproxy and the forwarders. */
function procsOf(state: SandboxState): ProcRef[] {
  return [...state.guests.map((g) => g.nspawn), ...state.pebble, ...(state.network?.procs ?? [])].filter((p): p is ProcRef => p !== null);
}

function anyAlive(state: SandboxState): boolean {
  return procsOf(state).some(isAlive);
}

/** Processes alive, every guest answering over SSH, Pebble's directory answering. */
async function isHealthy(state: SandboxState): Promise<boolean> {
  if (state.phase !== 'ready' || !procsOf(state).every(isAlive)) return false;
  const { sshKeyPath: keyPath, knownHostsPath } = state.info;
  const [acmeOk, ...sshOk] = await Promise.all([
    readFile(state.info.acmeCaBundlePath, 'utf8')
      .then((ca) => httpsGet(ACME_DIRECTORY, ca))
      .then((r) => r.status === 200)
      .catch(() => false),
    ...state.info.hosts.map((h) => machineAnswers({ keyPath, knownHostsPath, port: h.sshPort })),
  ]);
  return acmeOk && sshOk.every(Boolean);
}

/**
 * Starts the sandbox VPS (or `hosts` of them on a private network) and its ACME CA, or returns the
 * running one when it is healthy and of the same OS and size. Refuses when not root, when host
 * packages are missing, when a port is taken, or when a sandbox of another OS or size runs.
 */
export async function sandboxUp(opts: SandboxUpOptions = {}): Promise<SandboxInfo> {
  const os = assertOs(opts.os ?? DEFAULT_OS);
  // Unasked, any size that runs will do (`up --sandbox` of a one-host stack uses the first guest).
  const wanted = opts.hosts === undefined ? null : assertHosts(opts.hosts);
  const hosts = wanted ?? 1;
  const log = opts.onProgress ?? (() => {});
  checkRoot();
  checkPackages(undefined, hosts);
  return withSandboxLock(async () => {
    const existing = await readState();
    if (existing) {
      const running = existing.info.hosts.length;
      if ((existing.info.os !== os || (wanted !== null && running !== wanted)) && anyAlive(existing)) {
        const what = (o: string, n: number) => `${o} sandbox of ${n} host${n === 1 ? '' : 's'}`;
        throw new SandboxError(
          'MI_ERR_SANDBOX_OS_MISMATCH',
          `a ${what(existing.info.os, running)} is running; stop it first with \`messenger-infra sandbox down\`, then start a ${what(os, hosts)}`,
        );
      }
      if (await isHealthy(existing)) {
        log(`sandbox ${existing.info.name} (${os}${running > 1 ? `, ${running} hosts` : ''}) already running`);
        return existing.info;
      }
      log('found a stale or unhealthy sandbox; cleaning it up');
      await teardown(existing, log);
    }
    await checkPorts(hosts);
    return bringUp(os, hosts, log);
  });
}

/** Guest names: the first keeps the one-host sandbox's name, so tools pointed at it keep working. */
function guestNames(hosts: number): string[] {
  return Array.from({ length: hosts }, (_, i) => (i === 0 ? SANDBOX_NAME : `${SANDBOX_NAME}-${i + 1}`));
}

/**
 * What each guest of a sandbox of `hosts` will be, known before it boots (like SANDBOX_ENDPOINT): lets
 * `up --sandbox` check a multi-host stack before starting anything.
 */
export function plannedHosts(hosts: number): Pick<SandboxHost, 'name' | 'sshHost' | 'sshPort' | 'privateAddress'>[] {
  const net = hosts > 1 ? planNetwork(guestNames(hosts)) : null;
  return guestNames(hosts).map((name, i) => ({ name, sshHost: SANDBOX_ENDPOINT.sshHost, sshPort: sshPortOf(i + 1), privateAddress: net?.guests[i]?.address ?? null }));
}

async function bringUp(os: SandboxOs, hosts: number, log: (line: string) => void): Promise<SandboxInfo> {
  const suite = SUITES[os];
  const names = guestNames(hosts);
  const net = hosts > 1 ? planNetwork(names) : null;
  const primaryDir = join(MACHINES_DIR, SANDBOX_NAME);
  const sshDir = join(primaryDir, 'ssh');
  const pebble = pebblePaths(join(primaryDir, 'pebble'));
  const guests: GuestState[] = names.map((name) => {
    const stateDir = join(MACHINES_DIR, name);
    return { name, stateDir, rootDir: join(stateDir, 'rootfs'), netns: net ? name : null, nspawn: null, guestPidNs: null };
  });
  const netDir = join(MACHINES_DIR, HUB_NETNS);
  const t0 = Date.now();
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;

  let t = Date.now();
  if (await ensureRootfsCache(suite, log)) log(`rootfs ${suite} built in ${since(t)}`);

  for (const dir of [...guests.map((g) => g.stateDir), netDir]) {
    if (mountsUnder(dir).length > 0) {
      throw new SandboxError('MI_ERR_SANDBOX_ROOTFS', `${dir} still has mounts: unmount them (see /proc/mounts) and retry`);
    }
  }
  if (net) checkNetworkFree(net);
  await Promise.all([...guests.map((g) => g.stateDir), netDir].map((d) => rm(d, { recursive: true, force: true })));
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  t = Date.now();
  await Promise.all(guests.map((g) => copyRootfs(suite, g.rootDir)));
  log(`fresh cop${hosts > 1 ? `ies (${hosts})` : 'y'} of the ${suite} rootfs in ${since(t)}`);

  const hostList: SandboxHost[] = plannedHosts(hosts).map((h) => ({ ...h, nspawnPid: 0 }));
  const info: SandboxInfo = {
    name: SANDBOX_NAME,
    os,
    ...SANDBOX_ENDPOINT,
    sshKeyPath: join(sshDir, 'id_ed25519'),
    knownHostsPath: join(sshDir, 'known_hosts'),
    acmeCaBundlePath: pebble.listenerCa,
    verifyCaPath: pebble.issuerRoots,
    stateDir: primaryDir,
    nspawnPid: 0,
    pebblePids: [],
    startedAt: '',
    hosts: hostList,
    privateNetwork: net?.cidr ?? null,
  };
  const [clientPub, hostKeys] = await Promise.all([
    generateClientKey(info.sshKeyPath, `messenger-infra@${SANDBOX_NAME}`),
    Promise.all(guests.map((g) => generateHostKeys(g.rootDir))),
    makeListenerCerts(pebble).then(() => writePebbleConfig(pebble)),
  ]);
  await writeKnownHosts(info.knownHostsPath, hostList.map((h, i) => ({ port: h.sshPort, hostKeys: hostKeys[i] ?? [] })));
  const peers = hostList.flatMap((h) => (h.privateAddress ? [{ name: h.name, address: h.privateAddress }] : []));
  await Promise.all(
    guests.map((g) =>
      configureGuest(g.rootDir, {
        hostname: g.name,
        suite,
        authorizedKey: clientPub,
        peers,
        ...(net ? { egressProxy: `http://127.0.0.1:${GUEST_EGRESS_PORT}` } : {}),
      }),
    ),
  );

  // Record the state before starting anything, so a failure or Ctrl-C can be cleaned by `down`.
  const state: SandboxState = {
    info,
    suite,
    phase: 'booting',
    guests,
    pebble: [],
    network: net ? { dir: netDir, sockDir: join(RUN_DIR, HUB_NETNS), namespaces: [net.hubNs, ...guests.map((g) => g.name)], procs: [] } : null,
  };
  await writeState(state);
  t = Date.now();
  try {
    let links: StartedLinks | null = null;
    try {
      if (net && state.network) {
        await createNetwork(net);
        await Promise.all([mkdir(state.network.sockDir, { recursive: true, mode: 0o700 }), mkdir(netDir, { recursive: true })]);
        links = await startLinks(planForwarders(net, state.network.sockDir, hostList.map((h) => h.sshPort)), netDir, state.network.procs);
        log(`private network ${net.cidr} for ${hosts} guests; forwards started`);
      }
      state.pebble = startPebble(pebble);
      guests.forEach((g, i) => {
        g.nspawn = bootMachine(g.rootDir, g.name, join(g.stateDir, 'machine.log'), g.netns ? netnsPath(g.netns) : undefined);
        hostList[i]!.nspawnPid = g.nspawn.pid;
      });
    } finally {
      info.nspawnPid = guests[0]?.nspawn?.pid ?? 0;
      info.pebblePids = state.pebble.map((p) => p.pid);
      await writeState(state);
    }
    log(`booting ${os} (${suite}) as ${names.join(', ')}; starting Pebble`);
    await Promise.all([
      waitPebbleReady(pebble, state.pebble, PEBBLE_TIMEOUT_MS).then(() => log(`Pebble ready in ${since(t)}`)),
      ...(links ? [waitLinksReady(links, PEBBLE_TIMEOUT_MS)] : []),
      ...guests.map((g, i) =>
        waitMachineReady(
          g.nspawn!,
          join(g.stateDir, 'machine.log'),
          { keyPath: info.sshKeyPath, knownHostsPath: info.knownHostsPath, port: hostList[i]!.sshPort },
          BOOT_TIMEOUT_MS,
        ).then((s) => log(`${g.name} answers over SSH (systemd ${s}) in ${since(t)}`)),
      ),
    ]);
  } catch (err) {
    log('start failed; stopping what was started');
    await teardown(state, () => {}).catch(() => {});
    throw err;
  }
  info.startedAt = new Date().toISOString();
  for (const g of guests) g.guestPidNs = guestPidNamespace(g.nspawn!);
  await writeState({ ...state, info, phase: 'ready' });
  log(`sandbox up in ${since(t0)}`);
  return info;
}

/**
 * Stops the machines, Pebble, tinyproxy and the forwarders by PID, checks nothing is left, deletes the
 * network namespaces, removes the copies and the state.
 */
async function teardown(state: SandboxState, log: (line: string) => void): Promise<void> {
  const t = Date.now();
  const others = [...state.pebble, ...(state.network?.procs ?? [])];
  await Promise.all([
    ...state.guests.map((g) => (g.nspawn ? stopMachine(g.nspawn, g.guestPidNs, STOP_TIMEOUT_MS) : Promise.resolve())),
    ...others.map((p) => stopProc(p, 5_000)),
  ]);
  const alive = others.filter(isAlive);
  if (alive.length > 0) {
    throw new SandboxError('MI_ERR_SANDBOX_STOP', `processes survive the stop: ${alive.map((p) => `${p.what} ${p.pid}`).join(', ')}`);
  }
  if (state.network) {
    await removeNetwork(state.network.namespaces);
    await rm(state.network.sockDir, { recursive: true, force: true });
  }
  const dirs = [...state.guests.map((g) => g.stateDir), ...(state.network ? [state.network.dir] : [])];
  for (const dir of dirs) {
    const mounts = mountsUnder(dir);
    if (mounts.length > 0) {
      // Never delete through a mount point: it could reach host files.
      throw new SandboxError('MI_ERR_SANDBOX_STOP', `mounts left under ${dir}: ${mounts.join(', ')}; unmount them, then run down again`);
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  await clearState();
  log(`sandbox stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** Stops the sandbox if one is recorded. `stopped` is false when there was nothing to stop. */
export async function sandboxDown(opts: { onProgress?: (line: string) => void } = {}): Promise<{ stopped: boolean }> {
  checkRoot();
  return withSandboxLock(async () => {
    const state = await readState();
    if (!state) return { stopped: false };
    const wasAlive = anyAlive(state) || state.guests.some((g) => existsSync(g.stateDir));
    await teardown(state, opts.onProgress ?? (() => {}));
    return { stopped: wasAlive };
  });
}

/** The recorded sandbox and whether it is running and healthy; null when none is recorded. */
export async function sandboxStatus(): Promise<(SandboxInfo & { running: boolean }) | null> {
  checkRoot();
  const state = await readState();
  if (!state) return null;
  return { ...state.info, running: await isHealthy(state) };
}
