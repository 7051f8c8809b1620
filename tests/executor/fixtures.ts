import { spawn } from 'node:child_process';
import { loadStack } from '../../src/config/load.js';
import type { StackOverrides } from '../../src/config/load.js';
import { join } from 'node:path';
import { REMOTE_PROGRAM, type Command } from '../../src/core/command.js';
import { buildDesiredState, type DesiredState } from '../../src/core/desired-state.js';
import { OS_PROFILES, type OsId } from '../../src/core/os-profiles.js';
import type { TierName } from '../../src/core/tiers.js';
import type { Host, RunResult } from '../../src/executor/host.js';
import { toShell } from '../../src/executor/quote.js';
import { REMOTE_SOURCE_DIR } from '../../src/executor/remote-programs.js';
import { outputOf } from '../helpers/output.js';

/** A desired state as `up` builds it, for a host that is not touched. */
export function desired(tier: TierName = 'mvp', opts: { os?: OsId; container?: string | null; stack?: StackOverrides; jwtSecret?: string } = {}): DesiredState {
  const stack = loadStack({ overrides: { tier, domain: 'chat.messenger.test', email: 'ops@messenger.test', ...opts.stack } });
  return buildDesiredState({
    stack,
    host: { os: OS_PROFILES[opts.os ?? 'debian13'], arch: 'x64', container: opts.container === undefined ? null : opts.container, sshPort: 22 },
    bundle: { kind: 'bundled', version: '1.0.0', id: '1.0.0-abcdef123456', files: [{ name: 'messenger-chat.mjs', content: Buffer.from('console.log(1)\n') }] },
    ...(opts.jwtSecret ? { jwtSecret: opts.jwtSecret } : {}),
  });
}

/** A shell script as a command, for tests that need ad-hoc host behaviour. */
export function sh(label: string, script: string): Command {
  return { argv: ['sh', '-c', script], label };
}

/**
 * The local machine as a Host: runs commands through the real /bin/sh exactly as the SSH edge
 * would (one quoted line), with `mi-remote` from the checkout, so the remote programs and the
 * commands the core plans are exercised for real.
 */
export class LocalShellHost implements Host {
  readonly label = 'local';
  readonly ran: Command[] = [];
  constructor(private readonly env: Record<string, string> = {}) {}
  usePrograms(): void {}
  run(command: Command): Promise<RunResult> {
    this.ran.push(command);
    const argv = command.argv.map((a) => (a === REMOTE_PROGRAM ? join(REMOTE_SOURCE_DIR, REMOTE_PROGRAM) : a));
    const child = spawn('sh', ['-c', toShell(argv)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    const output = outputOf(child);
    child.stdin.end(command.stdin ?? '');
    return output;
  }
  async close(): Promise<void> {}
}
