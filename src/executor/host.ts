import type { Command } from '../core/command.js';

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
