import type { ErrorCode } from '../errors/catalogue.js';

/**
 * Commands are data (Kamal-style): an argv array and optional stdin bytes. Nothing in the core runs
 * them; the executor quotes them in exactly one place at the SSH edge. Host logic lives in the
 * checked-in remote programs (remote/), called as `mi-remote COMMAND ARG...`.
 */
export interface Command {
  argv: string[];
  /** Bytes fed to the command's stdin (file contents, SQL, an archive): never part of the command line. */
  stdin?: string | Buffer;
  /** Short human description shown by `plan` and in failures. */
  label: string;
  /** The error code each exit status of this command means (e.g. 10 → MI_ERR_NGINX_INVALID). */
  errors?: Readonly<Partial<Record<number, ErrorCode>>>;
}

/** The program name steps use for the remote programs; the executor runs the uploaded copy. */
export const REMOTE_PROGRAM = 'mi-remote';

export function cmd(label: string, ...argv: string[]): Command {
  return { argv, label };
}

/** `mi-remote SUBCOMMAND ARG...`, with what its exit statuses mean. */
export function remote(label: string, argv: readonly string[], options: { stdin?: string | Buffer; errors?: Command['errors'] } = {}): Command {
  return {
    argv: [REMOTE_PROGRAM, ...argv],
    label,
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
    ...(options.errors === undefined ? {} : { errors: options.errors }),
  };
}
