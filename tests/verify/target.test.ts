// Input parsing of verify: --resolve, the URL, the pinned lookup, option validation. Pure, no network.
import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { VerifyInputError } from '../../src/verify/errors.js';
import { validateOptions, type VerifyOptions } from '../../src/verify/index.js';
import { parseResolve, parseTarget, targetLookup } from '../../src/verify/target.js';
import { percentile } from '../../src/verify/timing.js';

describe('parseResolve', () => {
  const good: [string, { host: string; port: number; address: string }][] = [
    ['chat.example.com:443:203.0.113.7', { host: 'chat.example.com', port: 443, address: '203.0.113.7' }],
    ['Chat.Example.com:8443:127.0.0.1', { host: 'chat.example.com', port: 8443, address: '127.0.0.1' }],
    ['chat.example.com:443:[2001:db8::1]', { host: 'chat.example.com', port: 443, address: '2001:db8::1' }],
    ['chat.example.com:443:::1', { host: 'chat.example.com', port: 443, address: '::1' }],
  ];
  it.each(good)('parses %s', (spec, want) => expect(parseResolve(spec)).toEqual(want));

  const bad = ['chat.example.com:443', 'chat.example.com:443:not-an-ip', 'chat.example.com:0:127.0.0.1', 'chat.example.com:70000:127.0.0.1', ':443:127.0.0.1'];
  it.each(bad)('refuses %s naming --resolve', (spec) => {
    expect(() => parseResolve(spec)).toThrow(VerifyInputError);
    expect(() => parseResolve(spec)).toThrow(/^--resolve: /);
  });
});

describe('parseTarget', () => {
  it('takes host, port and the https base from a wss URL', () => {
    const t = parseTarget({ url: 'wss://chat.example.com/ws' });
    expect(t).toMatchObject({ secure: true, host: 'chat.example.com', port: 443, httpBase: 'https://chat.example.com', httpPort: 80 });
    expect(t.address).toBeUndefined();
  });
  it('keeps an explicit port and pins the --resolve address', () => {
    const t = parseTarget({ url: 'wss://chat.example.com:8443/ws', resolve: parseResolve('chat.example.com:8443:127.0.0.1') });
    expect(t).toMatchObject({ port: 8443, address: '127.0.0.1', httpBase: 'https://chat.example.com:8443' });
  });
  it('refuses a --resolve for another host or port', () => {
    expect(() => parseTarget({ url: 'wss://chat.example.com/ws', resolve: parseResolve('other.example.com:443:127.0.0.1') })).toThrow(/^--resolve: .*use --resolve chat\.example\.com:443:127\.0\.0\.1/);
    expect(() => parseTarget({ url: 'wss://chat.example.com/ws', resolve: parseResolve('chat.example.com:8443:127.0.0.1') })).toThrow(/^--resolve: /);
  });
  it("takes one --resolve per port, like curl: the URL's for TLS and WebSocket, the --http-port's for the redirect", () => {
    const resolve = ['chat.example.com:443:203.0.113.7', 'chat.example.com:80:203.0.113.8'].map(parseResolve);
    expect(parseTarget({ url: 'wss://chat.example.com/ws', resolve })).toMatchObject({ address: '203.0.113.7', httpAddress: '203.0.113.8' });
    expect(parseTarget({ url: 'wss://chat.example.com/ws', resolve: [...resolve].reverse() })).toMatchObject({ address: '203.0.113.7', httpAddress: '203.0.113.8' });
    const custom = parseTarget({ url: 'wss://chat.example.com:8443/ws', httpPort: 8080, resolve: ['chat.example.com:8443:127.0.0.1', 'chat.example.com:8080:127.0.0.2'].map(parseResolve) });
    expect(custom).toMatchObject({ address: '127.0.0.1', httpAddress: '127.0.0.2' });
  });
  it("pins the redirect check to the URL port's address when the http port has no entry of its own", () => {
    expect(parseTarget({ url: 'wss://chat.example.com/ws', resolve: parseResolve('chat.example.com:443:203.0.113.7') })).toMatchObject({ address: '203.0.113.7', httpAddress: '203.0.113.7' });
    const only80 = parseTarget({ url: 'wss://chat.example.com/ws', resolve: [parseResolve('chat.example.com:80:203.0.113.8')] });
    expect(only80.address).toBeUndefined();
    expect(only80.httpAddress).toBe('203.0.113.8');
  });
  it('refuses two entries for one port, and a port that is neither the URL\'s nor the --http-port', () => {
    const twice = ['chat.example.com:443:203.0.113.7', 'chat.example.com:443:203.0.113.8'].map(parseResolve);
    expect(() => parseTarget({ url: 'wss://chat.example.com/ws', resolve: twice })).toThrow(/^--resolve: chat\.example\.com:443 is given twice/);
    const port80 = [parseResolve('chat.example.com:80:203.0.113.8')];
    expect(() => parseTarget({ url: 'wss://chat.example.com/ws', httpPort: 8080, resolve: port80 })).toThrow(/^--resolve: chat\.example\.com:80 does not match/);
  });
  it('refuses non-WebSocket URLs and unreadable CA files', () => {
    expect(() => parseTarget({ url: 'https://chat.example.com/ws' })).toThrow(/^url: .*wss:\/\//);
    expect(() => parseTarget({ url: 'not a url' })).toThrow(/^url: /);
    expect(() => parseTarget({ url: 'wss://chat.example.com/ws', caPaths: ['/nonexistent/ca.pem'] })).toThrow(/^--ca: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/);
  });
});

describe('targetLookup', () => {
  const lookupAll = (host: string, url: string, resolve?: string) =>
    new Promise<{ err: NodeJS.ErrnoException | null; addrs: LookupAddress[] | string }>((done) => {
      const t = parseTarget({ url, ...(resolve ? { resolve: parseResolve(resolve) } : {}) });
      targetLookup(t)(host, { all: true }, (err, addrs) => done({ err, addrs: addrs as LookupAddress[] }));
    });
  it('maps the named host to the --resolve address without asking DNS', async () => {
    const r = await lookupAll('chat.example.com', 'wss://chat.example.com/ws', 'chat.example.com:443:203.0.113.7');
    expect(r.err).toBeNull();
    expect(r.addrs).toEqual([{ address: '203.0.113.7', family: 4 }]);
  });
  it('maps each port to its own --resolve address', async () => {
    const t = parseTarget({ url: 'wss://chat.example.com/ws', resolve: ['chat.example.com:443:203.0.113.7', 'chat.example.com:80:203.0.113.8'].map(parseResolve) });
    const at = (port: number) => new Promise((done) => targetLookup(t, port)('chat.example.com', {}, (_err, address) => done(address)));
    expect(await at(443)).toBe('203.0.113.7');
    expect(await at(80)).toBe('203.0.113.8');
  });
  it('never resolves a name the user did not give', async () => {
    const r = await lookupAll('elsewhere.example.net', 'wss://chat.example.com/ws', 'chat.example.com:443:203.0.113.7');
    expect(r.err?.code).toBe('MI_ERR_VERIFY_FOREIGN_HOST');
  });
});

describe('validateOptions', () => {
  const base: VerifyOptions = { url: 'wss://chat.example.com/ws', room: 'verify', idleSeconds: 75, connections: 50, messages: 50, timeoutMs: 10_000, quick: false, token: 't' };
  const cases: [string, Partial<VerifyOptions>, RegExp][] = [
    ['a room outside the protocol rule', { room: 'Lobby!' }, /^--room: /],
    ['a negative idle window', { idleSeconds: -1 }, /^--idle: /],
    ['too many connections', { connections: 100_000 }, /^--connections: /],
    ['a path in the origin', { origin: 'https://chat.example.com/app' }, /^--origin: /],
    ['an expected address that is no IP', { expectAddress: 'chat' }, /^--expect-address: /],
    ['no credentials', { token: undefined }, /^--token: no credentials/],
    ['a short secret', { token: undefined, jwtSecret: 'short' }, /^--jwt-secret-file: .*at least 32/],
  ];
  it.each(cases)('refuses %s', (_what, patch, msg) => expect(() => validateOptions({ ...base, ...patch })).toThrow(msg));
  it('accepts the defaults', () => expect(() => validateOptions(base)).not.toThrow());
});

describe('percentile (nearest rank)', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([[50, 50], [95, 95], [99, 99], [100, 100], [1, 1]])('p%i of 1..100 is %i', (p, want) => expect(percentile(xs, p)).toBe(want));
  it('is the only sample for one sample', () => expect(percentile([7], 99)).toBe(7));
});
