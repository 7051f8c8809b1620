import { spawn } from 'node:child_process';
import { loadStack } from '../../src/config/load.js';
import type { StackOverrides } from '../../src/config/load.js';
import { toShell, type Command } from '../../src/core/command.js';
import { buildDesiredState, type DesiredState } from '../../src/core/desired-state.js';
import { OS_PROFILES, type OsId } from '../../src/core/os-profiles.js';
import type { TierName } from '../../src/core/tiers.js';
import type { Host, RunResult } from '../../src/executor/host.js';

/** A desired state as `up` builds it, for a host that is not touched. */
export function desired(tier: TierName = 'mvp', opts: { os?: OsId; container?: string | null; stack?: StackOverrides; jwtSecret?: string } = {}): DesiredState {
  const stack = loadStack({ overrides: { tier, domain: 'chat.messenger.test', email: 'ops@messenger.test', ...opts.stack } });
  return buildDesiredState({
    stack,
    host: { os: OS_PROFILES[opts.os ?? 'debian13'], arch: 'x64', container: opts.container === undefined ? null : opts.container, sshPort: 22 },
    bundle: { version: '1.0.0', id: '1.0.0-abcdef123456', files: [{ name: 'messenger-chat.mjs', content: Buffer.from('console.log(1)\n') }] },
    ...(opts.jwtSecret ? { jwtSecret: opts.jwtSecret } : {}),
  });
}

/**
 * The local machine as a Host: runs commands through the real /bin/sh exactly as the SSH edge
 * would (one quoted line), so scripts built by the core are exercised for real.
 */
export class LocalShellHost implements Host {
  readonly label = 'local';
  readonly ran: Command[] = [];
  run(command: Command): Promise<RunResult> {
    this.ran.push(command);
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', toShell(command.argv)], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
      child.stdin.end(command.stdin ?? '');
    });
  }
  async close(): Promise<void> {}
}
