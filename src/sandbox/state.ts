/**
 * The run state of the one sandbox: what `status` and `down` need to find it again.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { STATE_FILE } from './constants.js';
import type { ProcRef } from './procs.js';
import type { SandboxInfo } from './types.js';

export interface GuestState {
  name: string;
  stateDir: string;
  rootDir: string;
  /** The network namespace it boots in; null when it shares this machine's network (one host). */
  netns: string | null;
  /** null until nspawn is started. */
  nspawn: ProcRef | null;
  /** The guest's PID namespace (`pid:[inode]`), recorded once booted, to find its processes at stop. */
  guestPidNs: string | null;
}

export interface NetworkState {
  /** Tinyproxy's and the forwarders' configuration and logs. */
  dir: string;
  sockDir: string;
  /** Every namespace `up` creates (the hub's and each guest's), deleted by `down`. */
  namespaces: string[];
  /** Tinyproxy and the forwarders. */
  procs: ProcRef[];
}

export interface SandboxState {
  info: SandboxInfo;
  suite: string;
  /** 'booting' until every guest answers over SSH and Pebble's directory answers. */
  phase: 'booting' | 'ready';
  guests: GuestState[];
  pebble: ProcRef[];
  network: NetworkState | null;
}

/** The layout written before multi-host sandboxes: one guest, its processes under `procs`. */
interface OneHostState {
  info: SandboxInfo;
  suite: string;
  rootDir: string;
  phase: 'booting' | 'ready';
  procs: { nspawn: ProcRef; pebble: ProcRef[] };
  guestPidNs: string | null;
}

/** A state left by an earlier version (a sandbox still running across an upgrade) in today's layout. */
function upgrade(raw: SandboxState | OneHostState): SandboxState {
  if ('guests' in raw) return raw;
  const { info, suite, phase, rootDir, procs, guestPidNs } = raw;
  return {
    info: { ...info, hosts: info.hosts ?? [{ name: info.name, sshHost: info.sshHost, sshPort: info.sshPort, privateAddress: null, nspawnPid: info.nspawnPid }], privateNetwork: null },
    suite,
    phase,
    guests: [{ name: info.name, stateDir: info.stateDir, rootDir, netns: null, nspawn: procs.nspawn, guestPidNs }],
    pebble: procs.pebble,
    network: null,
  };
}

export async function readState(): Promise<SandboxState | null> {
  if (!existsSync(STATE_FILE)) return null;
  try {
    return upgrade(JSON.parse(await readFile(STATE_FILE, 'utf8')) as SandboxState | OneHostState);
  } catch {
    return null; // a torn or foreign file is treated as no state
  }
}

/** Writes atomically (temp file + rename), so a reader never sees half a file. */
export async function writeState(state: SandboxState): Promise<void> {
  await mkdir(dirname(STATE_FILE), { recursive: true });
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, STATE_FILE);
}

export async function clearState(): Promise<void> {
  await rm(STATE_FILE, { force: true });
}
