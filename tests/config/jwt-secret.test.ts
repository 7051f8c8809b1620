import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JWT_SECRET_MIN, JWT_SECRET_RE, resolveJwtSecret } from '../../src/config/jwt-secret.js';
import { loadStack } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors/index.js';

/** The one JWT-secret rule of up, plan, verify and the host setup: stack reference, then env, then none. */
const base = { tier: 'mvp' as const, domain: 'chat.example.com', email: 'ops@example.com' };
const secret = 'A'.repeat(40);
const other = 'B'.repeat(40);
const withRef = (jwtSecret: { env: string } | { file: string }) => loadStack({ overrides: { ...base, app: { jwtSecret } } });
const secretFile = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), 'mi-jwt-')), 'jwt.secret');
  writeFileSync(file, text);
  return file;
};

describe('resolveJwtSecret', () => {
  it('takes the stack reference first, then $MESSENGER_JWT_SECRET, else nothing (the host generates one)', () => {
    const env = { MESSENGER_JWT_SECRET: other, CHAT_SECRET: secret };
    expect(resolveJwtSecret(withRef({ env: 'CHAT_SECRET' }), env)).toEqual({ value: secret, source: 'stack.app.jwtSecret.env' });
    expect(resolveJwtSecret(withRef({ file: secretFile(`  ${secret}\n`) }), env)).toEqual({ value: secret, source: 'stack.app.jwtSecret.file' });
    expect(resolveJwtSecret(loadStack({ overrides: base }), env)).toEqual({ value: other, source: 'MESSENGER_JWT_SECRET' });
    expect(resolveJwtSecret(undefined, { MESSENGER_JWT_SECRET: `${other}\n` })).toEqual({ value: other, source: 'MESSENGER_JWT_SECRET' });
    expect(resolveJwtSecret(loadStack({ overrides: base }), {})).toBeUndefined();
  });

  it('refuses short secrets, shell syntax and unset references with one line naming the source (exit 2)', () => {
    const stack = loadStack({ overrides: base });
    const thrown = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).exitCode).toBe(2);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(thrown(() => resolveJwtSecret(stack, { MESSENGER_JWT_SECRET: 'short' }))).toBe(
      'MESSENGER_JWT_SECRET: the JWT secret must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / = -; use e.g. `openssl rand -base64 48`',
    );
    expect(thrown(() => resolveJwtSecret(stack, { MESSENGER_JWT_SECRET: `${'a'.repeat(32)} b$(touch /tmp/pwned)` }))).toMatch(/must be at least 32 characters of A-Z/);
    expect(thrown(() => resolveJwtSecret(withRef({ env: 'CHAT_SECRET' }), {}))).toBe(
      'stack.app.jwtSecret.env: environment variable CHAT_SECRET is not set; export it or remove the reference',
    );
    expect(thrown(() => resolveJwtSecret(withRef({ file: secretFile('short\n') }), {}))).toMatch(/^stack\.app\.jwtSecret\.file: the JWT secret must be/);
  });

  it('is one rule: 32 characters of a config-safe set', () => {
    expect(JWT_SECRET_MIN).toBe(32);
    expect(JWT_SECRET_RE.test('a'.repeat(31))).toBe(false);
    expect(JWT_SECRET_RE.test('aA0._~+/=-'.repeat(4))).toBe(true);
    expect(JWT_SECRET_RE.test(`${'a'.repeat(32)}"`)).toBe(false);
  });
});
