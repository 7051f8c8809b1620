// Errors of `verify`: bad input (exit 2) and the stable codes failing checks carry.

import { MiError, type ErrorCode } from '../errors/index.js';

/** Bad input: the toolkit's one-line ConfigError naming the field and the fix (exit code 2). */
export { ConfigError as VerifyInputError } from '../errors/index.js';

/** Thrown inside a check to fail it with a catalogue code and a one-line cause (the runner records it). */
export class CheckFailure extends MiError {
  constructor(
    code: ErrorCode,
    readonly cause1: string,
    readonly data?: Record<string, number | string | boolean | null>,
  ) {
    super(code, cause1, data ?? {});
  }
}

/** Network error codes meaning nothing answered at the address at all. */
export const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'MI_ERR_VERIFY_TIMEOUT_CONNECT',
]);

/** Error code of a Node network error, or undefined. */
export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
