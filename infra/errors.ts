import { MiError, type ErrorCode } from '../src/errors/index.js';

/**
 * Errors raised by the Pulumi side: MiErrors like everywhere else (code from the catalogue, one-line
 * message). This class is serialized into the dynamic providers with its base; MiError assigns
 * `message` explicitly because Pulumi's closure serialization turns `super(message)` into
 * `Error.call(this, message)`, which sets nothing on `this`.
 */
export class InfraError extends MiError {
  /** `details.begetCode` carries the Beget API's own error code (ALREADY_REMOVING...) for callers to branch on. */
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
    // Explicit for the same reason: serialized, the base constructor runs without `new.target`.
    this.name = 'InfraError';
    Error.captureStackTrace(this, InfraError);
  }
}

/** One line: `stack config "field": problem; fix: pulumi config set field ...`. */
export function configError(field: string, problem: string, fix: string): InfraError {
  return new InfraError('MI_ERR_CONFIG', `stack config "${field}": ${problem}; fix: ${fix}`);
}
