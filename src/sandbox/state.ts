/**
 * The run state of the one sandbox: what `status` and `down` need to find it again.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { STATE_FILE } from './constants.js';
import type { ProcRef } from './procs.js';
import type { SandboxInfo } from './types.js';

export interface SandboxState {
  info: SandboxInfo;
  suite: string;
  rootDir: string;
  /** 'booting' until the guest answers over SSH and Pebble's directory answers. */
  phase: 'booting' | 'ready';
  procs: { nspawn: ProcRef; pebble: ProcRef[] };
  /** The guest's PID namespace (`pid:[inode]`), recorded once booted, to find its processes at stop. */
  guestPidNs: string | null;
}

export async function readState(): Promise<SandboxState | null> {
  if (!existsSync(STATE_FILE)) return null;
  try {
    return JSON.parse(await readFile(STATE_FILE, 'utf8')) as SandboxState;
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
