import { exitCodeFor, type ErrorCode } from './catalogue.js';

export { ERROR_CATALOGUE, exitCodeFor, isErrorCode, type ErrorCode } from './catalogue.js';

/**
 * The one error hierarchy of the toolkit (ws-style stable codes). The CLI prints `message` as one line
 * and exits with the code's exit status from the catalogue; nothing else is needed to report it.
 */
export class MiError extends Error {
  readonly exitCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    // Explicit: Pulumi's closure serialization turns super(message) into Error.call(this, message).
    this.message = message;
    // new.target is undefined when Pulumi's serialized providers call the constructor as a function.
    this.name = new.target?.name ?? 'MiError';
    this.exitCode = exitCodeFor(code);
  }
}

/** Bad input: names the field and the fix; exit 2. */
export class ConfigError extends MiError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('MI_ERR_CONFIG', `${field}: ${detail}`, { field });
  }
}

/** What a failed remote command carries, so a failure can be read without the host's logs. */
export interface RemoteFailure {
  step: string;
  host: string;
  command: string;
  exitStatus: number;
  stderrTail: string;
}

/** A remote command that failed, with its own code (MI_ERR_NGINX_INVALID, MI_ERR_HEALTH_GATE, ...). */
export class RemoteError extends MiError {
  constructor(
    code: ErrorCode,
    readonly failure: RemoteFailure,
  ) {
    super(code, `${failure.command} on ${failure.host}: exit status ${failure.exitStatus}${failure.stderrTail ? `: ${failure.stderrTail}` : ''}`, { ...failure });
  }
}

export function isMiError(err: unknown): err is MiError {
  return err instanceof MiError;
}
