/**
 * Errors raised by the Pulumi side. Bad input gets one line naming the field and the fix; runtime
 * failures carry a stable code so the CLI and tests can branch on it instead of on message text.
 */
export class InfraError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    // Explicit assignments: Pulumi's closure serialization turns `super(message)` into
    // `Error.call(this, message)`, which sets nothing on `this`, inside dynamic providers.
    this.message = message;
    this.name = 'InfraError';
    this.code = code;
    Error.captureStackTrace(this, InfraError);
  }
}

/** One line: `stack config "field": problem; fix: pulumi config set field ...`. */
export function configError(field: string, problem: string, fix: string): InfraError {
  return new InfraError('MI_ERR_CONFIG', `stack config "${field}": ${problem}; fix: ${fix}`);
}
