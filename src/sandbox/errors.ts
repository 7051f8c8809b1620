import { MiError, type ErrorCode } from '../errors/index.js';

/** The sandbox's codes: the catalogue's MI_ERR_SANDBOX_* keys, so callers and tests branch on `code`. */
export type SandboxErrorCode = Extract<ErrorCode, `MI_ERR_SANDBOX_${string}`>;

/** A failure of the local sandbox; its exit code comes from the catalogue like every MiError. */
export class SandboxError extends MiError {
  declare readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string) {
    super(code, message);
  }
}

export function isSandboxError(err: unknown): err is SandboxError {
  return err instanceof SandboxError;
}
