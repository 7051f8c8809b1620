import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadStack, type LoadOptions } from '../../src/config/load.js';
import { tempDir } from './fixtures.js';

/** Bad stack input fails at load time with a one-line ConfigError naming the field (exit code 2). */
const dir = tempDir('config');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function stackFile(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

const GOOD = { tier: 'mvp', domain: 'chat.example.com', email: 'ops@example.com' } as const;

function configError(options: LoadOptions): ConfigError {
  try {
    loadStack(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe('MI_ERR_CONFIG');
    expect(e.message).not.toContain('\n');
    return e;
  }
  throw new Error('loadStack accepted bad input');
}

describe('a good stack', () => {
  it('loads from flags with defaults filled in', () => {
    const stack = loadStack({ overrides: { ...GOOD } });
    expect(stack).toMatchObject({ ...GOOD, app: { port: 3000 } });
  });

  it('normalises a mixed-case domain to the lowercase form certificates and certbot use', () => {
    const stack = loadStack({ overrides: { ...GOOD, domain: 'Chat.Example.COM' } });
    expect(stack.domain).toBe('chat.example.com');
    expect(buildHostModel(stack, OS_PROFILES.debian13).certDir).toBe('/etc/letsencrypt/live/chat.example.com');
  });

  it('loads from a file, and flags win over it', () => {
    const file = stackFile('good.yaml', 'tier: growth\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  port: 4000\n');
    expect(loadStack({ file }).tier).toBe('growth');
    const stack = loadStack({ file, overrides: { tier: 'scale', app: { allowedOrigins: ['https://x.example.com'] } } });
    expect(stack.tier).toBe('scale');
    expect(stack.app).toMatchObject({ port: 4000, allowedOrigins: ['https://x.example.com'] });
  });
});

describe('bad input names the field and what is allowed', () => {
  it.each([
    ['unknown tier', { ...GOOD, tier: 'huge' }, 'stack.tier', /must be one of mvp, growth, scale/],
    ['domain that is not a hostname', { ...GOOD, domain: 'not a host' }, 'stack.domain', /must be a hostname/],
    ['domain without a dot', { ...GOOD, domain: 'localhost' }, 'stack.domain', /must be a hostname/],
    ['domain given as a URL', { ...GOOD, domain: 'https://chat.example.com' }, 'stack.domain', /must be a hostname/],
    ['malformed e-mail', { ...GOOD, email: 'ops-at-example.com' }, 'stack.email', /must be an e-mail address/],
    ['e-mail with a bad domain', { ...GOOD, email: 'ops@example' }, 'stack.email', /must be an e-mail address/],
    ['missing e-mail', { tier: 'mvp', domain: 'chat.example.com' }, 'stack.email', /is required/],
    ['port too high', { ...GOOD, app: { port: 70000 } }, 'stack.app.port', /from 1 to 65535/],
    ['port zero', { ...GOOD, app: { port: 0 } }, 'stack.app.port', /from 1 to 65535/],
    ['SSH port out of range', { ...GOOD, target: { host: '203.0.113.5', ssh: { port: 65536 } } }, 'stack.target.ssh.port', /from 1 to 65535/],
    ['origin with a path', { ...GOOD, app: { allowedOrigins: ['https://chat.example.com/app'] } }, 'stack.app.allowedOrigins.0', /must be an origin/],
    ['redis.enabled not a boolean', { ...GOOD, redis: { enabled: 'yes' } }, 'stack.redis.enabled', /must be true or false/],
    ["Redis off under the scale tier's three bundled instances", { ...GOOD, tier: 'scale', redis: { enabled: false } }, 'stack.redis.enabled', /the scale tier runs 3 instances of the bundled chat server, which share messages only through Redis; remove redis.enabled: false$/],
  ] as const)('%s', (_name, overrides, field, allowed) => {
    const err = configError({ overrides: overrides as LoadOptions['overrides'] });
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    expect(err.message).toMatch(allowed);
  });

  it('a missing field says "is required" and, where the field has one, its rule (not zod\'s wording)', () => {
    expect(configError({ overrides: { tier: 'mvp', email: 'ops@example.com' } }).message).toBe('stack.domain: is required; it must be a hostname like chat.example.com');
    expect(configError({ overrides: { domain: 'chat.example.com', email: 'ops@example.com' } }).message).toBe('stack.tier: is required; it must be one of mvp, growth, scale');
  });

  it('a target without a host loads (`up --provider` creates the host; the commands that connect require it)', () => {
    expect(loadStack({ overrides: { ...GOOD, target: { ssh: { user: 'deploy' } } } }).target).toEqual({ ssh: { user: 'deploy', port: 22 } });
  });

  it('unknown key in the file', () => {
    const file = stackFile('typo.yaml', 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  prot: 3000\n');
    const err = configError({ file });
    expect(err.field).toBe('stack.app');
    expect(err.message).toMatch(/unknown field\(s\) prot/);
  });

  it('unknown top-level key', () => {
    const err = configError({ overrides: { ...GOOD, tire: 'mvp' } as LoadOptions['overrides'] });
    expect(err.field).toBe('stack');
    expect(err.message).toMatch(/unknown field\(s\) tire/);
  });

  it('missing stack file', () => {
    const err = configError({ file: join(dir, 'nope.yaml') });
    expect(err.field).toBe('--stack');
    expect(err.message).toMatch(/does not exist/);
  });

  it('missing file named by the stack (SSH key)', () => {
    const err = configError({ overrides: { ...GOOD, target: { host: '203.0.113.5', ssh: { key: join(dir, 'no-key') } } } });
    expect(err.field).toBe('stack.target.ssh.key');
    expect(err.message).toMatch(/does not exist/);
  });

  it('a file that is not YAML', () => {
    const err = configError({ file: stackFile('bad.yaml', 'tier: [mvp\n') });
    expect(err.field).toBe('--stack');
    expect(err.message).toMatch(/not valid YAML/);
  });
});
