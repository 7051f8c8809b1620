import { describe, expect, it } from 'vitest';
import { ErrorCode, MAX_TEXT_LENGTH, parseClientFrame, textProblem, capHistory, type ChatMessage } from '../../app/src/protocol.js';
import { ConfigError, loadConfig } from '../../app/src/config.js';

// Fixtures as data: raw frame → parsed frame or error code.
const ok: Array<[string, unknown]> = [
  ['{"type":"join","room":"lobby"}', { type: 'join', room: 'lobby' }],
  ['{"type":"join","room":"a_b-9","ref":7}', { type: 'join', room: 'a_b-9', ref: 7 }],
  ['{"type":"leave","room":"x","ref":"r"}', { type: 'leave', room: 'x', ref: 'r' }],
  ['{"type":"send","room":"x","text":"hi","ref":"r1"}', { type: 'send', room: 'x', text: 'hi', ref: 'r1' }],
  ['{"type":"history","room":"x","after":10,"limit":5}', { type: 'history', room: 'x', after: 10, limit: 5 }],
  ['{"type":"history","room":"x"}', { type: 'history', room: 'x' }],
  [`{"type":"join","room":"${'a'.repeat(64)}"}`, { type: 'join', room: 'a'.repeat(64) }],
];
const bad: Array<[string, string]> = [
  ['not json', ErrorCode.BAD_JSON],
  ['', ErrorCode.BAD_JSON],
  ['[1,2]', ErrorCode.BAD_FRAME],
  ['null', ErrorCode.BAD_FRAME],
  ['"join"', ErrorCode.BAD_FRAME],
  ['{"room":"x"}', ErrorCode.UNKNOWN_TYPE],
  ['{"type":"shout","room":"x"}', ErrorCode.UNKNOWN_TYPE],
  ['{"type":"__proto__","room":"x"}', ErrorCode.UNKNOWN_TYPE],
  ['{"type":"join","room":"Lobby"}', ErrorCode.BAD_ROOM],
  ['{"type":"join","room":""}', ErrorCode.BAD_ROOM],
  [`{"type":"join","room":"${'a'.repeat(65)}"}`, ErrorCode.BAD_ROOM],
  ['{"type":"join","room":"a b"}', ErrorCode.BAD_ROOM],
  ['{"type":"join","room":7}', ErrorCode.BAD_ROOM],
  ['{"type":"send","room":"x","text":"hi"}', ErrorCode.BAD_REF],
  ['{"type":"send","room":"x","text":"   ","ref":1}', ErrorCode.BAD_TEXT],
  ['{"type":"send","room":"x","text":5,"ref":1}', ErrorCode.BAD_TEXT],
  [`{"type":"send","room":"x","text":"${'a'.repeat(MAX_TEXT_LENGTH + 1)}","ref":1}`, ErrorCode.TEXT_TOO_LONG],
  ['{"type":"send","room":"x","text":"hi","ref":{}}', ErrorCode.BAD_REF],
  ['{"type":"history","room":"x","after":-1}', ErrorCode.BAD_FRAME],
  ['{"type":"history","room":"x","after":1.5}', ErrorCode.BAD_FRAME],
  ['{"type":"history","room":"x","limit":0}', ErrorCode.BAD_FRAME],
  ['{"type":"history","room":"x","limit":501}', ErrorCode.BAD_FRAME],
];

describe('parseClientFrame', () => {
  it.each(ok)('accepts %s', (raw, frame) => {
    expect(parseClientFrame(raw)).toEqual({ ok: true, frame });
  });
  it.each(bad)('rejects %s with the right code', (raw, code) => {
    const r = parseClientFrame(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ type: 'error', code });
  });
  it('echoes a valid ref in errors', () => {
    const r = parseClientFrame('{"type":"send","room":"BAD","text":"x","ref":"abc"}');
    expect(r).toEqual({ ok: false, error: { type: 'error', code: ErrorCode.BAD_ROOM, message: expect.any(String), ref: 'abc' } });
  });
});

describe('loadConfig', () => {
  const base = { MESSENGER_JWT_SECRET: 's'.repeat(32), MESSENGER_DB_USER: 'chat', MESSENGER_DB_NAME: 'messenger' };
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({ host: '127.0.0.1', port: 3000, pingIntervalMs: 30_000, instance: '0', allowedOrigins: [], drainSpreadMs: 2000 });
    expect(c.db).toMatchObject({ host: '127.0.0.1', port: 3306, poolSize: 10 });
    expect(c.db.socketPath).toBeUndefined();
    expect(c.bus).toBeUndefined();
  });
  it('parses origins, the Redis bus and the socket', () => {
    const c = loadConfig({ ...base, MESSENGER_ALLOWED_ORIGINS: 'https://a.example, http://localhost:8080', MESSENGER_REDIS: '[::1]:6379', MESSENGER_REDIS_USER: 'messenger-chat', MESSENGER_REDIS_PASSWORD: 'pw', MESSENGER_DB_SOCKET: '/run/mysqld/mysqld.sock' });
    expect(c.allowedOrigins).toEqual(['https://a.example', 'http://localhost:8080']);
    expect(c.bus).toEqual({ host: '::1', port: 6379, username: 'messenger-chat', password: 'pw' });
    expect(c.db.socketPath).toBe('/run/mysqld/mysqld.sock');
  });
  it('takes the drain spread in ms, 0 meaning all sockets at once', () => {
    expect(loadConfig({ ...base, MESSENGER_DRAIN_SPREAD_MS: '0' }).drainSpreadMs).toBe(0);
    expect(loadConfig({ ...base, MESSENGER_DRAIN_SPREAD_MS: '1500' }).drainSpreadMs).toBe(1500);
    expect(loadConfig({ ...base, MESSENGER_DRAIN_SPREAD_MS: '' }).drainSpreadMs).toBe(2000);
  });
  it.each([
    [{ MESSENGER_JWT_SECRET: undefined }, 'MESSENGER_JWT_SECRET'],
    [{ MESSENGER_DRAIN_SPREAD_MS: '2s' }, 'MESSENGER_DRAIN_SPREAD_MS'],
    [{ MESSENGER_DRAIN_SPREAD_MS: '-1' }, 'MESSENGER_DRAIN_SPREAD_MS'],
    [{ MESSENGER_DRAIN_SPREAD_MS: '60001' }, 'MESSENGER_DRAIN_SPREAD_MS'],
    [{ MESSENGER_JWT_SECRET: 'short' }, 'MESSENGER_JWT_SECRET'],
    [{ MESSENGER_PORT: 'abc' }, 'MESSENGER_PORT'],
    [{ MESSENGER_DB_POOL: '0' }, 'MESSENGER_DB_POOL'],
    [{ MESSENGER_ALLOWED_ORIGINS: 'https://a.example/path' }, 'MESSENGER_ALLOWED_ORIGINS'],
    [{ MESSENGER_REDIS: 'localhost' }, 'MESSENGER_REDIS'],
    [{ MESSENGER_REDIS: '127.0.0.1:6379', MESSENGER_REDIS_USER: 'messenger-chat' }, 'MESSENGER_REDIS_PASSWORD'],
    [{ MESSENGER_DB_USER: '' }, 'MESSENGER_DB_USER'],
  ])('rejects %o naming %s', (over, variable) => {
    try {
      loadConfig({ ...base, ...over });
      expect.unreachable('loadConfig accepted a bad value');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(variable);
      expect((err as Error).message.startsWith(variable)).toBe(true);
    }
  });
});

describe('textProblem / capHistory', () => {
  it('allows text with tab and line breaks and any plane; refuses controls, DEL, C1 and half pairs', () => {
    expect(textProblem('a\tb\nc\r\nd 😀 𠀋')).toBeNull();
    for (const bad of ['\u0000', 'a\u0008b', '\u000b', '\u001f', '\u007f', '\u0080', '\u009f', '\ud800', 'x\udc00', '']) {
      expect(textProblem(bad)?.code, JSON.stringify(bad)).toBe(ErrorCode.BAD_TEXT);
    }
    expect(textProblem('x'.repeat(4001))?.code).toBe(ErrorCode.TEXT_TOO_LONG);
  });

  it('keeps whole pages under the cap, cuts the newest (catch-up) or the oldest (newest page) beyond it', () => {
    const m = (id: number, n: number): ChatMessage => ({ room: 'r', id, user: 'u', text: 'x'.repeat(n), ts: '2026-12-01T00:00:00.000Z' });
    const small = [m(1, 10), m(2, 10)];
    expect(capHistory(small, true)).toEqual({ messages: small, more: false });
    const big = [m(1, 600), m(2, 600), m(3, 600)];
    expect(capHistory(big, true, 1500).messages.map((x) => x.id)).toEqual([1, 2]);
    expect(capHistory(big, false, 1500).messages.map((x) => x.id)).toEqual([2, 3]);
    expect(capHistory(big, true, 1500).more).toBe(true);
    // One message bigger than the cap still goes: a page is never empty while there is something.
    expect(capHistory([m(1, 5000)], true, 100).messages).toHaveLength(1);
  });
});
