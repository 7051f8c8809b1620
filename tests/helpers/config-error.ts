import { expect } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';

/** The one-line ConfigError (exit 2, `FIELD: message`) that `fn` throws; fails the test if it throws none. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect([e.code, e.exitCode]).toEqual(['MI_ERR_CONFIG', 2]);
    expect(e.message).not.toContain('\n');
    expect(e.message.startsWith(`${e.field}: `)).toBe(true);
    return e;
  }
  throw new Error('accepted');
}
