import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { optionsFromFlags } from '../../cli/commands/verify.js';
import { DEFAULTS } from '../../src/verify/index.js';
import { freePort } from '../helpers/mariadb.js';

/** verify's flags: the JWT secret's order (shared with up), repeatable --resolve, errors. No network. */
const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'mi-verify-flags-'));
const fromStack = 'S'.repeat(40);
const fromEnv = 'E'.repeat(40);
const fromFlag = 'F'.repeat(40);
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const stackFile = file('stack.yaml', `tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp: { jwtSecret: { file: ${file('jwt', `${fromStack}\n`)} } }\n`);
const flags = (patch: Record<string, unknown> = {}) => ({
  resolve: [],
  ca: [],
  room: DEFAULTS.room,
  idle: '0',
  connections: '1',
  messages: '1',
  timeout: '2',
  httpPort: '80',
  ...patch,
});

describe('the JWT secret verify mints tokens with', () => {
  it('comes from --token / --jwt-secret-file first, then the stack reference, then $MESSENGER_JWT_SECRET', () => {
    const env = { MESSENGER_JWT_SECRET: fromEnv };
    const withToken = optionsFromFlags(undefined, flags({ stack: stackFile, token: 't' }), env);
    expect([withToken.token, withToken.jwtSecret]).toEqual(['t', undefined]);
    expect(optionsFromFlags(undefined, flags({ stack: stackFile, jwtSecretFile: file('flag', `${fromFlag}\n`) }), env).jwtSecret).toBe(fromFlag);
    expect(optionsFromFlags(undefined, flags({ stack: stackFile }), env).jwtSecret).toBe(fromStack);
    expect(optionsFromFlags('wss://chat.example.com/ws', flags(), env).jwtSecret).toBe(fromEnv);
    expect(optionsFromFlags('wss://chat.example.com/ws', flags(), {}).jwtSecret).toBeUndefined();
  });

  it('a ready token comes from --token-file or $MESSENGER_VERIFY_TOKEN, kept out of argv (issue 14, finding 11)', () => {
    const env = { MESSENGER_JWT_SECRET: fromEnv, MESSENGER_VERIFY_TOKEN: 'from-env' };
    const fromFile = optionsFromFlags('wss://chat.example.com/ws', flags({ tokenFile: file('token', 'from-file\n') }), env);
    expect([fromFile.token, fromFile.jwtSecret]).toEqual(['from-file', undefined]);
    expect(optionsFromFlags('wss://chat.example.com/ws', flags(), env).token).toBe('from-env');
    expect(optionsFromFlags('wss://chat.example.com/ws', flags({ token: 'by-hand' }), env).token).toBe('by-hand');
    expect(() => optionsFromFlags('wss://chat.example.com/ws', flags({ tokenFile: file('empty', '\n') }), env)).toThrow(/^--token-file: .* is empty; put the token in it$/);
  });

  it('is held to the same rule as up', () => {
    expect(() => optionsFromFlags('wss://chat.example.com/ws', flags(), { MESSENGER_JWT_SECRET: 'short' })).toThrow(/^MESSENGER_JWT_SECRET: the JWT secret must be at least 32/);
  });
});

describe('the verify CLI', () => {
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'tests/verify/cli-entry.ts', 'verify', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  };

  it('accepts one --resolve per port like curl (here nothing answers: exit 3, not bad input)', async () => {
    const [tls, http] = [await freePort(), await freePort()];
    const url = `wss://chat.verify.test:${tls}/ws`;
    const r = await cli([url, '--resolve', `chat.verify.test:${tls}:127.0.0.1`, '--resolve', `chat.verify.test:${http}:127.0.0.1`, '--http-port', String(http), '--token', 't', '--quick', '--timeout', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(3);
  });

  it('keeps its --json error object for bad input, with exit 2', async () => {
    const r = await cli(['wss://chat.verify.test/ws', '--resolve', 'chat.verify.test:8443:127.0.0.1', '--token', 't', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'MI_ERR_CONFIG', message: expect.stringMatching(/^--resolve: chat\.verify\.test:8443 does not match the URL's chat\.verify\.test:443/) } });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe("the stack's verify.address", () => {
  it('stands for DNS on the URL port and the redirect port, unless --resolve is given', () => {
    const withAddress = file('addr.yaml', 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\nverify: { address: 203.0.113.10 }\n');
    expect(optionsFromFlags(undefined, flags({ stack: withAddress }), {}).resolve).toEqual([
      { host: 'chat.example.com', port: 443, address: '203.0.113.10' },
      { host: 'chat.example.com', port: 80, address: '203.0.113.10' },
    ]);
    const explicit = optionsFromFlags(undefined, flags({ stack: withAddress, resolve: ['chat.example.com:443:198.51.100.1'] }), {});
    expect(explicit.resolve).toEqual([{ host: 'chat.example.com', port: 443, address: '198.51.100.1' }]);
    const bad = file('bad.yaml', 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\nverify: { address: chat.example.com }\n');
    expect(() => optionsFromFlags(undefined, flags({ stack: bad }), {})).toThrow(/^stack\.verify\.address: "chat\.example\.com" must be an IP address like 203\.0\.113\.10$/);
  });
});
