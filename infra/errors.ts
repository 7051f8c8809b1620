/**
 * Errors raised by the Pulumi side. Bad input gets one line naming the field and the fix; runtime
 * failures carry a stable code so the CLI and tests can branch on it instead of on message text.
 */
export class InfraError extends Error {
  override readonly name = 'InfraError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One line: `stack config "field": problem; fix: pulumi config set field ...`. */
export function configError(field: string, problem: string, fix: string): InfraError {
  return new InfraError('MI_ERR_CONFIG', `stack config "${field}": ${problem}; fix: ${fix}`);
}
