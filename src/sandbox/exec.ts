/**
 * Local commands as argv arrays (never a shell string), with their output collected.
 */
import { spawn } from 'node:child_process';
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

/** Runs argv and resolves with its exit code and output; never rejects on a non-zero exit. */
export function runRaw(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('runRaw: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout, stderr });
    });
  });
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
