import type { Command } from '../core/command.js';

/** What the executor needs from a machine: run a command (argv + stdin), and close. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The connection ended before the command reported an exit status. */
  dropped?: boolean;
}

/** A command kept running until released (the host lock's holder). */
export interface Held {
  /** null once the command printed its ready line; its result if it ended before that. */
  ready: Promise<RunResult | null>;
  /** Ends the command's stdin and waits for it to exit. */
  release(): Promise<RunResult>;
}

export interface Host {
  /** user@address:port, for messages. */
  readonly label: string;
  run(command: Command, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Where `mi-remote` is installed on this host; commands name it as REMOTE_PROGRAM. */
  usePrograms(dir: string): void;
  close(): Promise<void>;
}
