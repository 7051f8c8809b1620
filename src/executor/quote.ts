/**
 * The one place argv becomes shell text: the SSH protocol carries a command line, which the remote
 * user's shell parses. Every argument is quoted for a POSIX shell.
 */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function toShell(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
