/**
 * Local commands as argv arrays (never a shell string), with their output collected.
 */
import { $ } from 'zx';
import { SandboxError } from './errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms (SIGKILL); the result then has code 124. */
  timeoutMs?: number;
  input?: string;
}

/** Runs argv (zx quotes each element) and resolves with its exit code and output; never rejects on a non-zero exit. */
export async function runRaw(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new Error('runRaw: empty argv');
  const out = await $({
    nothrow: true,
    quiet: true,
    env: opts.env ?? process.env,
    ...(opts.input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] as const } : { input: opts.input }),
    ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs, timeoutSignal: 'SIGKILL' as const }),
  })`${argv}`;
  const timedOut = opts.timeoutMs !== undefined && out.signal === 'SIGKILL';
  return { code: timedOut ? 124 : (out.exitCode ?? (out.signal ? 128 : 1)), stdout: out.stdout, stderr: out.stderr };
}

/** Runs argv and rejects with MI_ERR_SANDBOX_COMMAND (or `code`) when it exits non-zero. */
export async function run(
  argv: readonly string[],
  opts: RunOptions & { errorCode?: ConstructorParameters<typeof SandboxError>[0] } = {},
): Promise<string> {
  const res = await runRaw(argv, opts);
  if (res.code !== 0) {
    const tail = (res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ');
    throw new SandboxError(opts.errorCode ?? 'MI_ERR_SANDBOX_COMMAND', `${argv.join(' ')} exited ${res.code}: ${tail}`);
  }
  return res.stdout;
}
