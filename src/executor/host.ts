import type { Command } from '../core/command.js';
import { MiError } from '../errors/index.js';

/** What the executor needs from a machine: run a command (argv + stdin), and close. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The connection ended before the command reported an exit status. */
  dropped?: boolean;
}

/** A command kept running until its stdin ends (the host lock's holder, `logs -f`). */
export interface Started {
  /** Settles when the command exits. */
  done: Promise<RunResult>;
  /** Ends the command's stdin and waits for it to exit. */
  end(): Promise<RunResult>;
}

export interface Host {
  /** user@address:port, for messages. */
  readonly label: string;
  run(command: Command, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Where `mi-remote` is installed on this host; commands name it as REMOTE_PROGRAM. */
  usePrograms(dir: string): void;
  close(): Promise<void>;
}

/** The last line a command printed: what a one-line error quotes. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** A command outside a step (reading logs, a secret) that failed: dropped, or its last line. */
export function commandError(host: Host, what: string, result: RunResult): MiError {
  if (result.dropped) return new MiError('MI_ERR_SSH_DROPPED', `${what} on ${host.label}: the SSH connection ended`, { host: host.label });
  return new MiError('MI_ERR_STEP_FAILED', `${what} on ${host.label} failed: ${lastLine(result.stderr) || `exit status ${result.code}`}`, { host: host.label });
}
