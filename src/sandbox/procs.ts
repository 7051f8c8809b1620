/**
 * Host processes by PID: start detached, check liveness (guarding against PID reuse with the
 * kernel's start time), stop with a bound. Never by name: other sessions run the same binaries.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** A process we started, identified by PID plus its start time (clock ticks since boot). */
export interface ProcRef {
  pid: number;
  start: number;
  what: string;
}

interface ProcStat {
  state: string;
  ppid: number;
  start: number;
}

function readStat(pid: number): ProcStat | null {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may hold spaces and parentheses; fields resume after the last ')'.
  const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', ppid: Number(fields[1]), start: Number(fields[19]) };
}

/** True when the process runs (zombies count as gone) and is still the one we started. */
export function isAlive(ref: ProcRef): boolean {
  const st = readStat(ref.pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X' && st.start === ref.start;
}

/**
 * Starts argv in its own session and process group (so it outlives the CLI and a Ctrl-C of it),
 * with stdout and stderr appended to logPath.
 */
export function spawnDetached(argv: readonly string[], logPath: string, what: string, env?: NodeJS.ProcessEnv): ProcRef {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('spawnDetached: empty argv');
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    child.on('error', () => {}); // a missing binary shows up as a dead PID; preflight checks binaries first
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${cmd}`);
    const st = readStat(pid);
    return { pid, start: st?.start ?? -1, what };
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the process is gone; false on timeout. */
export async function waitGone(ref: ProcRef, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(ref)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** SIGTERM, wait up to timeoutMs, then SIGKILL. Resolves true when the process is gone. */
export async function stopProc(ref: ProcRef, timeoutMs: number): Promise<boolean> {
  if (!isAlive(ref)) return true;
  signal(ref.pid, 'SIGTERM');
  if (await waitGone(ref, timeoutMs)) return true;
  signal(ref.pid, 'SIGKILL');
  return waitGone(ref, 5_000);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
}

/**
 * The PID namespace of the machine nspawn runs (its child's namespace, e.g. `pid:[4026532301]`),
 * or null when nspawn has no child in another namespace (not booted, or gone).
 */
export function guestPidNamespace(nspawn: ProcRef): string | null {
  if (!isAlive(nspawn)) return null;
  const own = pidNamespace(nspawn.pid);
  for (const pid of allPids()) {
    if (readStat(pid)?.ppid !== nspawn.pid) continue;
    const ns = pidNamespace(pid);
    if (ns && ns !== own) return ns;
  }
  return null;
}

/** Live processes in PID namespace `ns`: what runs inside the machine. */
export function procsInPidNamespace(ns: string): ProcRef[] {
  const found: ProcRef[] = [];
  for (const pid of allPids()) {
    if (pidNamespace(pid) !== ns) continue;
    const st = readStat(pid);
    if (st && st.state !== 'Z') found.push({ pid, start: st.start, what: 'guest process' });
  }
  return found;
}

/** Mount points at or below `dir`, from the host's mount table. */
export function mountsUnder(dir: string): string[] {
  const table = readFileSync('/proc/self/mounts', 'utf8');
  return table
    .split('\n')
    .map((line) => (line.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}
