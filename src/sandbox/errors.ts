/** Stable error codes of the sandbox, so callers and tests branch on `code`, not on message text. */
export type SandboxErrorCode =
  | 'MI_ERR_SANDBOX_NOT_ROOT'
  | 'MI_ERR_SANDBOX_MISSING_PACKAGES'
  | 'MI_ERR_SANDBOX_PORT_TAKEN'
  | 'MI_ERR_SANDBOX_OS_MISMATCH'
  | 'MI_ERR_SANDBOX_BAD_OS'
  | 'MI_ERR_SANDBOX_BUSY'
  | 'MI_ERR_SANDBOX_ROOTFS'
  | 'MI_ERR_SANDBOX_BOOT'
  | 'MI_ERR_SANDBOX_PEBBLE'
  | 'MI_ERR_SANDBOX_STOP'
  | 'MI_ERR_SANDBOX_COMMAND';

export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
  }
}

export function isSandboxError(err: unknown): err is SandboxError {
  return err instanceof SandboxError;
}
