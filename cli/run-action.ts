import { Command, InvalidArgumentError } from 'commander';
import { isMiError } from '../src/errors/index.js';
import type { ErrorCode } from '../src/errors/catalogue.js';
import { jsonLine } from './step-output.js';

/**
 * Shared CLI wiring. Every command's action runs through `runAction`, so every failure reads the same:
 * one line `error: <message>` on stderr and the exit code of the error's catalogue entry (2 for bad
 * input); with `--json` also one JSON object on stdout. Never a stack trace, unless MI_DEBUG=1.
 */

export interface ErrorReport {
  code: ErrorCode;
  message: string;
  exitCode: number;
  /** The error line for stderr (ends with a newline). */
  line: string;
}

/** How an error is shown. Not one of ours means a bug: said so, with exit 1. */
export function describeError(err: unknown, env: NodeJS.ProcessEnv = process.env): ErrorReport {
  const known = isMiError(err);
  const raw = err instanceof Error ? err.message : String(err);
  // One line: the rest of a multi-line message is in --json and in the MI_DEBUG=1 stack.
  const message = raw.split('\n')[0] ?? '';
  const stack = env.MI_DEBUG === '1' && err instanceof Error && err.stack ? `${err.stack}\n` : '';
  return {
    code: known ? err.code : 'MI_ERR_INTERNAL',
    message: raw,
    exitCode: known ? err.exitCode : 1,
    line: `error: ${message}${known ? '' : ' (unexpected: please report)'}\n${stack}`,
  };
}

export interface ActionOptions {
  /** The `--json` error object; default `{type: 'error', code, message}` like the event lines. */
  jsonError?: (report: ErrorReport) => unknown;
}

const defaultJsonError = ({ code, message }: ErrorReport) => ({ type: 'error', code, message });

/** Whether the command was given `--json`: commander passes the Command as the action's last argument. */
function wantsJson(args: unknown[]): boolean {
  const command = args.at(-1);
  return command instanceof Command && command.opts().json === true;
}

export function runAction<A extends unknown[]>(action: (...args: A) => Promise<number | void> | number | void, options: ActionOptions = {}) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await action(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const report = describeError(err);
      if (wantsJson(args)) process.stdout.write(jsonLine((options.jsonError ?? defaultJsonError)(report)));
      process.stderr.write(report.line);
      process.exitCode = report.exitCode;
    }
  };
}

/**
 * commander's own usage errors (unknown option, a value outside `.choices()`, a bad port) are bad input:
 * one line, exit 2. Call before adding commands, so they inherit it.
 */
export function exitOnUsageErrors(program: Command): Command {
  return program.configureOutput({ outputError: (text, write) => write(text) }).exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
}

/** Parses a TCP port flag; commander reports a bad one as a one-line usage error (exit 2). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a whole number from 1 to 65535');
  return port;
}

/** Parses a whole number of seconds (0 to one day), e.g. a wait bound. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds > 86_400) throw new InvalidArgumentError('must be a whole number of seconds from 0 to 86400');
  return seconds;
}
