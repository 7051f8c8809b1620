// verify for a user's app, without the network: the Engine.IO/Socket.IO wire format, which checks
// apply, the options `up` builds (quickVerifyOptions with appModelOf's fields), the stack and flags.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFromFlags } from '../../cli/commands/verify.js';
import { loadStack } from '../../src/config/load.js';
import { appModelOf } from '../../src/core/host-model.js';
import { CHECKS, checksFor } from '../../src/verify/checks.js';
import { decodePollingBody, engineIoPath, looksLikeSocketIo, parseConnectAnswer, parseEngineError, parseOpenPacket } from '../../src/verify/engine-io.js';
import { BUNDLED_ONLY, DEFAULTS, quickVerifyOptions, validateOptions, type VerifyOptions } from '../../src/verify/index.js';

describe('the Engine.IO v4 / Socket.IO v5 wire format', () => {
  const open = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}';

  it('reads the open packet', () => {
    expect(parseOpenPacket(open)).toEqual({ sid: 'lv_VI97HAXpY6yYWAAAC', upgrades: ['websocket'], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 });
    expect(parseOpenPacket('0{"upgrades":[]}')).toBeUndefined();
    expect(parseOpenPacket('40')).toBeUndefined();
    expect(parseOpenPacket('<html>')).toBeUndefined();
    expect(parseOpenPacket(undefined)).toBeUndefined();
  });

  it('splits polling bodies: v4 on U+001E, v3 by length prefix', () => {
    expect(decodePollingBody(open)).toEqual([open]);
    expect(decodePollingBody('40{"sid":"a"}\x1e2\x1e42["hello"]')).toEqual(['40{"sid":"a"}', '2', '42["hello"]']);
    expect(decodePollingBody(`${open.length}:${open}2:40`)).toEqual([open, '40']);
    expect(decodePollingBody('')).toEqual([]);
  });

  it('tells a connect ack from a connect error', () => {
    expect(parseConnectAnswer('40{"sid":"wZX3oN0bSVIhsaknAAAI"}')).toEqual({ kind: 'ack', sid: 'wZX3oN0bSVIhsaknAAAI' });
    expect(parseConnectAnswer('40')).toEqual({ kind: 'ack' });
    expect(parseConnectAnswer('44{"message":"Not authorized"}')).toEqual({ kind: 'refused', message: 'Not authorized' });
    expect(parseConnectAnswer('42["event"]')).toBeUndefined();
    expect(parseConnectAnswer('2')).toBeUndefined();
  });

  it("reads Engine.IO's JSON errors", () => {
    expect(parseEngineError('{"code":1,"message":"Session ID unknown"}')).toEqual({ code: 1, message: 'Session ID unknown' });
    expect(parseEngineError('<html>404</html>')).toBeUndefined();
  });

  it('knows Socket.IO paths and their Engine.IO request path', () => {
    expect(looksLikeSocketIo('/socket.io/')).toBe(true);
    expect(looksLikeSocketIo('/api/socket.io')).toBe(true);
    expect(looksLikeSocketIo('/ws')).toBe(false);
    expect(engineIoPath('/socket.io')).toBe('/socket.io/');
    expect(engineIoPath('/socket.io/')).toBe('/socket.io/');
  });
});

describe('which checks apply', () => {
  it('the bundled server: exactly the existing checks', () => {
    expect(checksFor(undefined).map((c) => c.id)).toEqual(CHECKS.map((c) => c.id));
  });

  it("a user's app: the common ones, its health and paths (a path listed twice once), then the chat checks as skipped", () => {
    const defs = checksFor({ kind: 'source', health: '/api/health', websocket: ['/ws', '/socket.io/', '/ws'] });
    expect(defs.map((c) => c.id)).toEqual([
      'dns.resolve',
      'tls.chain',
      'tls.expiry',
      'http.redirect',
      'app.health',
      'app.ws:/ws',
      'app.sio.websocket:/socket.io/',
      'app.sio.polling:/socket.io/',
      'app.sio.ping:/socket.io/',
      ...CHECKS.slice(4).map((c) => c.id),
    ]);
    const skipped = defs.slice(9);
    expect(skipped.every((d) => d.needs.length === 0 && d.skipIf?.({} as never) === BUNDLED_ONLY)).toBe(true);
    expect(BUNDLED_ONLY).toBe('applies to the bundled chat server only');
  });
});

const dir = mkdtempSync(join(tmpdir(), 'mi-verify-app-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
mkdirSync(join(dir, 'backend'));
file('backend/package.json', '{"name":"backend","version":"1.0.0","scripts":{"start":"node main.js"}}');
file('backend/package-lock.json', '{"name":"backend","lockfileVersion":3,"packages":{}}');
const sourceStack = (app: string) => file(`stack-${Math.random().toString(36).slice(2)}.yaml`, `tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  source: ./backend\n  start: node main.js\n${app}`);

describe("up's closing check for a user's app", () => {
  it('quickVerifyOptions takes appModelOf(stack) as is: a user app checks its paths, no JWT secret', () => {
    const stack = loadStack({ file: sourceStack('  health: /api/health\n  websocket: [/socket.io/]\n') });
    const opts = quickVerifyOptions({ domain: stack.domain, address: '203.0.113.10', jwtSecret: 'x'.repeat(40), app: appModelOf(stack) });
    expect(opts).toMatchObject({
      url: 'wss://chat.example.com/socket.io/',
      resolve: { host: 'chat.example.com', port: 443, address: '203.0.113.10' },
      app: { kind: 'source', health: '/api/health', websocket: ['/socket.io/'] },
      quick: true,
    });
    expect(opts.jwtSecret).toBeUndefined();
    expect(() => validateOptions(opts)).not.toThrow();
  });

  it('for the bundled server it is what it was', () => {
    const stack = loadStack({ file: file('bundled.yaml', 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\n') });
    const before = quickVerifyOptions({ domain: 'chat.example.com', address: '203.0.113.10', jwtSecret: 'x'.repeat(40) });
    expect(quickVerifyOptions({ domain: 'chat.example.com', address: '203.0.113.10', jwtSecret: 'x'.repeat(40), app: appModelOf(stack) })).toEqual(before);
    expect(before.url).toBe('wss://chat.example.com/ws');
    expect(before.app).toBeUndefined();
  });
});

describe("validateOptions for a user's app", () => {
  const base: VerifyOptions = { url: 'wss://chat.example.com/socket.io/', room: 'verify', idleSeconds: 0, connections: 1, messages: 1, timeoutMs: 1000, quick: true };
  it('needs no credentials, but well-formed paths', () => {
    expect(() => validateOptions({ ...base, app: { kind: 'source', health: '/api/health', websocket: ['/socket.io/'] } })).not.toThrow();
    expect(() => validateOptions(base)).toThrow(/^--token: no credentials/);
    expect(() => validateOptions({ ...base, app: { kind: 'source', health: 'api/health', websocket: ['/ws'] } })).toThrow(/^app\.health: "api\/health" must be a path like \/api\/health$/);
    expect(() => validateOptions({ ...base, app: { kind: 'source', health: '/h', websocket: [] } })).toThrow(/^app\.websocket: must list at least one path/);
    expect(() => validateOptions({ ...base, app: { kind: 'source', health: '/h', websocket: ['/ws?x=1'] } })).toThrow(/^app\.websocket: "\/ws\?x=1" must be a path/);
  });
});

describe("verify's flags for a user's app", () => {
  const flags = (patch: Record<string, unknown> = {}) => ({ resolve: [], ca: [], room: DEFAULTS.room, idle: '0', connections: '1', messages: '1', timeout: '2', httpPort: '80', ...patch });

  it("--stack with app.source: the app's paths through appModelOf, the URL on its first path, no JWT secret", () => {
    const stack = sourceStack('  health: /api/health\n  websocket: [/socket.io/, /live]\n');
    const opts = optionsFromFlags(undefined, flags({ stack }), { MESSENGER_JWT_SECRET: 'short' });
    expect(opts).toMatchObject({ url: 'wss://chat.example.com/socket.io/', app: { kind: 'source', health: '/api/health', websocket: ['/socket.io/', '/live'] } });
    expect(opts.jwtSecret).toBeUndefined();
    expect(optionsFromFlags(undefined, flags({ stack, token: 't' }), {}).token).toBe('t');
  });

  it('app.websocket defaults to the paths nginx proxies by default', () => {
    const opts = optionsFromFlags(undefined, flags({ stack: sourceStack('  health: /api/health\n') }), {});
    expect(opts.app).toEqual({ kind: 'source', health: '/api/health', websocket: ['/ws', '/socket.io/'] });
  });

  it('--health/--websocket name a user app without a stack; --websocket alone is refused', () => {
    expect(optionsFromFlags('wss://chat.example.com/', flags({ health: '/up', websocket: ['/socket.io/'] }), {}).app).toEqual({ kind: 'source', health: '/up', websocket: ['/socket.io/'] });
    expect(optionsFromFlags('wss://chat.example.com/', flags({ health: '/up' }), {}).app?.websocket).toEqual(['/ws', '/socket.io/']);
    expect(() => optionsFromFlags('wss://chat.example.com/', flags({ websocket: ['/ws'] }), {})).toThrow(/^--health: is required with --websocket/);
  });

  it('a bundled stack sets no app', () => {
    const opts = optionsFromFlags(undefined, flags({ stack: file('plain.yaml', 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\n') }), { MESSENGER_JWT_SECRET: 'E'.repeat(40) });
    expect(opts.app).toBeUndefined();
    expect(opts.url).toBe('wss://chat.example.com/ws');
  });
});
