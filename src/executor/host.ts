import type { Command } from '../core/command.js';

/** What the executor needs from a machine: run a command (argv + stdin), and close. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Host {
  /** user@address:port, for messages. */
  readonly label: string;
  run(command: Command, options?: { timeoutMs?: number }): Promise<RunResult>;
  close(): Promise<void>;
}
