import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import { readJwtSecret } from '../../src/executor/up.js';

const base = { tier: 'mvp' as const, domain: 'chat.example.com', email: 'ops@example.com' };

describe('the user-supplied JWT secret', () => {
  it('comes from $MESSENGER_JWT_SECRET, a named variable or a file, trimmed', () => {
    const secret = 'A'.repeat(40);
    expect(readJwtSecret(loadStack({ overrides: base }), {})).toBeUndefined();
    expect(readJwtSecret(loadStack({ overrides: base }), { MESSENGER_JWT_SECRET: `${secret}\n` })).toBe(secret);
    expect(readJwtSecret(loadStack({ overrides: { ...base, app: { jwtSecret: { env: 'CHAT_SECRET' } } } }), { CHAT_SECRET: secret })).toBe(secret);
    const file = join(mkdtempSync(join(tmpdir(), 'mi-jwt-')), 'jwt.secret');
    writeFileSync(file, `  ${secret}\n`);
    expect(readJwtSecret(loadStack({ overrides: { ...base, app: { jwtSecret: { file } } } }), {})).toBe(secret);
  });

  it('refuses short secrets, shell syntax and unset references with one line naming the source', () => {
    const stack = loadStack({ overrides: base });
    expect(() => readJwtSecret(stack, { MESSENGER_JWT_SECRET: 'short' })).toThrow(/^MESSENGER_JWT_SECRET: the JWT secret must be at least 32 characters/);
    expect(() => readJwtSecret(stack, { MESSENGER_JWT_SECRET: `${'a'.repeat(32)} b$(touch /tmp/pwned)` })).toThrow(/must be at least 32 characters of A-Z/);
    const named = loadStack({ overrides: { ...base, app: { jwtSecret: { env: 'CHAT_SECRET' } } } });
    expect(() => readJwtSecret(named, {})).toThrow(/^stack\.app\.jwtSecret\.env: environment variable CHAT_SECRET is not set/);
  });
});
