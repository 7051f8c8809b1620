/**
 * The guest machine: boot a root filesystem with real systemd under systemd-nspawn, wait until it
 * answers over SSH, and power it off.
 */
import { readFile } from 'node:fs/promises';
import { SandboxError } from './errors.js';
import { runRaw } from './exec.js';
import { guestPidNamespace, isAlive, procsInPidNamespace, spawnDetached, stopProc, waitGone, type ProcRef } from './procs.js';
import { sshArgv } from './ssh-keys.js';

/**
 * Boots `rootDir` as machine `name`. Without `netnsPath` it shares the host's network (so sshd is on
 * the host's loopback); with one it runs in that network namespace (a guest of a multi-host sandbox).
 * Either way it keeps nspawn's default capabilities: no CAP_NET_ADMIN, so nothing in the guest can
 * change a firewall. `--register=no`: there is no systemd-machined on this host.
 */
export function bootMachine(rootDir: string, name: string, logPath: string, netnsPath?: string): ProcRef {
  return spawnDetached(
    [
      'systemd-nspawn',
      '--quiet',
      '--directory', rootDir,
      '--boot',
      '--machine', name,
      '--register=no',
      '--keep-unit',
      '--resolv-conf=copy-host',
      '--console=read-only',
      ...(netnsPath ? [`--network-namespace-path=${netnsPath}`] : []),
    ],
    logPath,
    'systemd-nspawn',
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SshTarget {
  keyPath: string;
  knownHostsPath: string;
  /** This machine's loopback port reaching the guest's sshd; 2222 when absent. */
  port?: number;
}

/**
 * Polls until `systemctl is-system-running` over SSH prints running or degraded (the state after
 * boot finished). Fails early when nspawn exits.
 */
export async function waitMachineReady(nspawn: ProcRef, logPath: string, ssh: SshTarget, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!isAlive(nspawn)) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      const tail = log.trim().split('\n').slice(-3).join(' | ');
      throw new SandboxError('MI_ERR_SANDBOX_BOOT', `systemd-nspawn exited during boot: ${tail} (log: ${logPath})`);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new SandboxError('MI_ERR_SANDBOX_BOOT', `the guest did not finish booting within ${timeoutMs} ms (last: ${last || 'no answer'}; log: ${logPath})`);
    }
    // --wait blocks until boot is over, so one call usually suffices once sshd is up.
    const res = await runRaw(sshArgv(ssh.keyPath, ssh.knownHostsPath, ['systemctl', 'is-system-running', '--wait'], 2, ssh.port), {
      timeoutMs: Math.min(left, 30_000),
    });
    const state = res.stdout.trim();
    if (state === 'running' || state === 'degraded') return state;
    last = state || res.stderr.trim().split('\n').slice(-1)[0] || `exit ${res.code}`;
    await sleep(state ? 200 : 150);
  }
}

/** True when the guest answers a trivial command over SSH (a quick health check). */
export async function machineAnswers(ssh: SshTarget): Promise<boolean> {
  const res = await runRaw(sshArgv(ssh.keyPath, ssh.knownHostsPath, ['true'], 3, ssh.port), { timeoutMs: 8_000 });
  return res.code === 0;
}

/**
 * SIGTERM to nspawn makes the guest's systemd power off cleanly; SIGKILL after the bound. Any
 * process still in the machine's PID namespace afterwards is killed by its PID.
 * `guestNs` is the namespace recorded at boot, used when nspawn itself is already gone.
 */
export async function stopMachine(nspawn: ProcRef, guestNs: string | null, timeoutMs: number): Promise<void> {
  const ns = guestPidNamespace(nspawn) ?? guestNs;
  await stopProc(nspawn, timeoutMs);
  const leftovers = () => (ns ? procsInPidNamespace(ns) : []);
  for (const p of leftovers()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    await waitGone(p, 5_000);
  }
  const left = [nspawn, ...leftovers()].filter(isAlive);
  if (left.length > 0) {
    throw new SandboxError('MI_ERR_SANDBOX_STOP', `machine processes survive the stop: pids ${left.map((p) => p.pid).join(', ')}`);
  }
}
