/**
 * sandbox up / down / status: the orchestration of rootfs, machine and Pebble, with the run state
 * written before anything starts, so `down` can always clean up after a failed or interrupted `up`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ACME_DIRECTORY,
  BOOT_TIMEOUT_MS,
  DEFAULT_OS,
  MACHINES_DIR,
  PEBBLE_TIMEOUT_MS,
  SANDBOX_ENDPOINT,
  SANDBOX_NAME,
  SANDBOX_OSES,
  STOP_TIMEOUT_MS,
  SUITES,
  type SandboxOs,
} from './constants.js';
import { SandboxError } from './errors.js';
import { configureGuest } from './guest-config.js';
import { withSandboxLock } from './lock.js';
import { bootMachine, machineAnswers, stopMachine, waitMachineReady } from './machine.js';
import { httpsGet, makeListenerCerts, pebblePaths, startPebble, waitPebbleReady, writePebbleConfig } from './pebble.js';
import { checkPackages, checkPorts, checkRoot } from './preflight.js';
import { guestPidNamespace, isAlive, mountsUnder, stopProc } from './procs.js';
import { copyRootfs, ensureRootfsCache } from './rootfs.js';
import { generateClientKey, generateHostKeys, writeKnownHosts } from './ssh-keys.js';
import { clearState, readState, writeState, type SandboxState } from './state.js';
import type { SandboxInfo } from './types.js';

export interface SandboxUpOptions {
  os?: SandboxOs;
  onProgress?: (line: string) => void;
}

function assertOs(os: unknown): SandboxOs {
  if (typeof os === 'string' && (SANDBOX_OSES as readonly string[]).includes(os)) return os as SandboxOs;
  throw new SandboxError('MI_ERR_SANDBOX_BAD_OS', `--os: unknown sandbox OS "${String(os)}"; use one of ${SANDBOX_OSES.join(', ')}`);
}

function anyAlive(state: SandboxState): boolean {
  return [state.procs.nspawn, ...state.procs.pebble].some(isAlive);
}

function allAlive(state: SandboxState): boolean {
  return [state.procs.nspawn, ...state.procs.pebble].every(isAlive);
}

/** Processes alive, the guest answering over SSH, Pebble's directory answering. */
async function isHealthy(state: SandboxState): Promise<boolean> {
  if (state.phase !== 'ready' || !allAlive(state)) return false;
  const [sshOk, acmeOk] = await Promise.all([
    machineAnswers({ keyPath: state.info.sshKeyPath, knownHostsPath: state.info.knownHostsPath }),
    readFile(state.info.acmeCaBundlePath, 'utf8')
      .then((ca) => httpsGet(ACME_DIRECTORY, ca))
      .then((r) => r.status === 200)
      .catch(() => false),
  ]);
  return sshOk && acmeOk;
}

/**
 * Starts the sandbox VPS and its ACME CA, or returns the running one when it is healthy and of the
 * same OS. Refuses when not root, when host packages are missing, when a port is taken, or when a
 * sandbox of another OS runs.
 */
export async function sandboxUp(opts: SandboxUpOptions = {}): Promise<SandboxInfo> {
  const os = assertOs(opts.os ?? DEFAULT_OS);
  const log = opts.onProgress ?? (() => {});
  checkRoot();
  checkPackages();
  return withSandboxLock(async () => {
    const existing = await readState();
    if (existing) {
      if (existing.info.os !== os && anyAlive(existing)) {
        throw new SandboxError(
          'MI_ERR_SANDBOX_OS_MISMATCH',
          `a ${existing.info.os} sandbox is running; stop it first with \`messenger-infra sandbox down\`, then start ${os}`,
        );
      }
      if (await isHealthy(existing)) {
        log(`sandbox ${existing.info.name} (${os}) already running`);
        return existing.info;
      }
      log('found a stale or unhealthy sandbox; cleaning it up');
      await teardown(existing, log);
    }
    await checkPorts();
    return bringUp(os, log);
  });
}

async function bringUp(os: SandboxOs, log: (line: string) => void): Promise<SandboxInfo> {
  const suite = SUITES[os];
  const name = SANDBOX_NAME;
  const stateDir = join(MACHINES_DIR, name);
  const rootDir = join(stateDir, 'rootfs');
  const sshDir = join(stateDir, 'ssh');
  const pebble = pebblePaths(join(stateDir, 'pebble'));
  const machineLog = join(stateDir, 'machine.log');
  const t0 = Date.now();
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;

  let t = Date.now();
  if (await ensureRootfsCache(suite, log)) log(`rootfs ${suite} built in ${since(t)}`);

  if (mountsUnder(stateDir).length > 0) {
    throw new SandboxError('MI_ERR_SANDBOX_ROOTFS', `${stateDir} still has mounts: unmount them (see /proc/mounts) and retry`);
  }
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  t = Date.now();
  await copyRootfs(suite, rootDir);
  log(`fresh copy of the ${suite} rootfs in ${since(t)}`);

  const info: SandboxInfo = {
    name,
    os,
    ...SANDBOX_ENDPOINT,
    sshKeyPath: join(sshDir, 'id_ed25519'),
    knownHostsPath: join(sshDir, 'known_hosts'),
    acmeCaBundlePath: pebble.listenerCa,
    verifyCaPath: pebble.issuerRoots,
    stateDir,
    nspawnPid: 0,
    pebblePids: [],
    startedAt: '',
  };
  const [clientPub, hostKeys] = await Promise.all([
    generateClientKey(info.sshKeyPath, `messenger-infra@${name}`),
    generateHostKeys(rootDir),
    makeListenerCerts(pebble).then(() => writePebbleConfig(pebble)),
  ]);
  await writeKnownHosts(info.knownHostsPath, hostKeys);
  await configureGuest(rootDir, { hostname: name, suite, authorizedKey: clientPub });

  // Record the state before starting anything, so a failure or Ctrl-C can be cleaned by `down`.
  t = Date.now();
  const pebbleProcs = startPebble(pebble);
  const nspawn = bootMachine(rootDir, name, machineLog);
  info.nspawnPid = nspawn.pid;
  info.pebblePids = pebbleProcs.map((p) => p.pid);
  const state: SandboxState = { info, suite, rootDir, phase: 'booting', procs: { nspawn, pebble: pebbleProcs }, guestPidNs: null };
  await writeState(state);
  log(`booting ${os} (${suite}) as ${name}; starting Pebble`);

  try {
    await Promise.all([
      waitPebbleReady(pebble, pebbleProcs, PEBBLE_TIMEOUT_MS).then(() => log(`Pebble ready in ${since(t)}`)),
      waitMachineReady(nspawn, machineLog, { keyPath: info.sshKeyPath, knownHostsPath: info.knownHostsPath }, BOOT_TIMEOUT_MS).then(
        (s) => log(`guest answers over SSH (systemd ${s}) in ${since(t)}`),
      ),
    ]);
  } catch (err) {
    log('start failed; stopping what was started');
    await teardown(state, () => {}).catch(() => {});
    throw err;
  }
  info.startedAt = new Date().toISOString();
  await writeState({ ...state, info, phase: 'ready', guestPidNs: guestPidNamespace(nspawn) });
  log(`sandbox up in ${since(t0)}`);
  return info;
}

/** Stops the machine and Pebble by PID, checks nothing is left, removes the copy and the state. */
async function teardown(state: SandboxState, log: (line: string) => void): Promise<void> {
  const t = Date.now();
  await Promise.all([
    stopMachine(state.procs.nspawn, state.guestPidNs, STOP_TIMEOUT_MS),
    ...state.procs.pebble.map((p) => stopProc(p, 5_000)),
  ]);
  const alive = state.procs.pebble.filter(isAlive);
  if (alive.length > 0) {
    throw new SandboxError('MI_ERR_SANDBOX_STOP', `Pebble processes survive the stop: ${alive.map((p) => p.pid).join(', ')}`);
  }
  const mounts = mountsUnder(state.info.stateDir);
  if (mounts.length > 0) {
    // Never delete through a mount point: it could reach host files.
    throw new SandboxError('MI_ERR_SANDBOX_STOP', `mounts left under ${state.info.stateDir}: ${mounts.join(', ')}; unmount them, then run down again`);
  }
  await rm(state.info.stateDir, { recursive: true, force: true });
  await clearState();
  log(`sandbox stopped in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** Stops the sandbox if one is recorded. `stopped` is false when there was nothing to stop. */
export async function sandboxDown(opts: { onProgress?: (line: string) => void } = {}): Promise<{ stopped: boolean }> {
  checkRoot();
  return withSandboxLock(async () => {
    const state = await readState();
    if (!state) return { stopped: false };
    const wasAlive = anyAlive(state) || existsSync(state.info.stateDir);
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
