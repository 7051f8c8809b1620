/**
 * Errors with stable codes, in the style of ws's `WS_ERR_*`: the CLI maps the class to an exit code
 * and prints the one-line message.
 */
export class ConfigError extends Error {
  readonly code = 'MI_ERR_CONFIG';
  readonly exitCode = 2;
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'ConfigError';
  }
}

/** A runtime failure (SSH, a step, a remote command) with a stable code and what it concerned. */
export class MiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'MiError';
  }
}
