/**
 * Commands are data (Kamal-style): an argv array and optional stdin bytes. Nothing in the core runs
 * them; the executor quotes them in exactly one place at the SSH edge.
 */
export interface Command {
  argv: string[];
  /** Bytes fed to the command's stdin (file contents, SQL): never part of the command line. */
  stdin?: string | Buffer;
  /** Short human description shown by `plan` and in failures. */
  label: string;
}

/** A POSIX shell script with positional arguments ($1, $2...), passed safely as argv. */
export function sh(label: string, script: string, args: string[] = [], stdin?: string | Buffer): Command {
  return { argv: ['sh', '-c', script, 'mi', ...args], label, ...(stdin === undefined ? {} : { stdin }) };
}

export function cmd(label: string, ...argv: string[]): Command {
  return { argv, label };
}

/** Quotes one argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function toShell(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
