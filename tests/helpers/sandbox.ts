/**
 * `useSandbox(os)`: one fresh sandbox VPS for a whole test file, torn down after it.
 *
 *   const sb = useSandbox('debian13');
 *   it('...', async () => { const r = await sb.ssh(['nginx', '-v']); ... sb.info.acmeDirectory ... });
 *
 * Test files run one at a time (vitest.config.ts), and the sandbox takes host ports, so a sandbox
 * left by another file (of either OS) is stopped first. Set MI_KEEP_SANDBOX=1 to leave it running
 * after the file for debugging.
 */
import { afterAll, beforeAll } from 'vitest';
import { runRaw, type RunResult } from '../../src/sandbox/exec.js';
import { sandboxDown, sandboxStatus, sandboxUp, sshArgv, type SandboxInfo, type SandboxOs } from '../../src/sandbox/index.js';

export interface SandboxHandle {
  /** The running sandbox; throws when read outside the file's tests. */
  readonly info: SandboxInfo;
  /** Runs a command on the guest as root (argv joined by ssh; the guest's shell parses it). */
  ssh(remote: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Destroys the sandbox and boots a brand-new one from the pristine root filesystem (a host lost). */
  replace(): Promise<void>;
}

export function useSandbox(os: SandboxOs = 'debian13', opts: { fresh?: boolean } = {}): SandboxHandle {
  let current: SandboxInfo | null = null;
  beforeAll(async () => {
    const status = await sandboxStatus();
    // A fresh sandbox unless the caller accepts the running one: tests must not see another file's changes.
    if (status && (status.os !== os || !status.running || opts.fresh !== false)) await sandboxDown();
    current = await sandboxUp({ os });
  }, 300_000);
  afterAll(async () => {
    if (process.env.MI_KEEP_SANDBOX === '1') return;
    await sandboxDown();
    current = null;
  }, 120_000);
  return {
    get info(): SandboxInfo {
      if (!current) throw new Error('useSandbox: the sandbox is only up inside the test file (beforeAll..afterAll)');
      return current;
    },
    ssh(remote, timeoutMs = 120_000) {
      const info = this.info;
      return runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, remote), { timeoutMs });
    },
    async replace() {
      await sandboxDown();
      current = null;
      current = await sandboxUp({ os });
    },
  };
}
