import { InvalidArgumentError } from 'commander';

/**
 * Shared CLI wiring: every command's action runs through `runAction`, which prints a known error as
 * one line (`error: …`) and sets the exit code it carries (2 for bad input, 1 otherwise).
 */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: unknown }).exitCode;
  return typeof code === 'number' ? code : 1;
}

export function runAction<A extends unknown[]>(action: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await action(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const e = err as Error & { code?: string };
      const known = typeof e.code === 'string' && e.code.startsWith('MI_');
      process.stderr.write(`error: ${known ? e.message : (e.stack ?? String(e))}\n`);
      process.exitCode = exitCodeOf(err);
    }
  };
}

/** Parses a TCP port flag; commander reports a bad one as a one-line usage error (exit 2). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a whole number from 1 to 65535');
  return port;
}
