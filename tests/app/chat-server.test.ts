/**
 * The chat server in-process against a real throwaway MariaDB: broadcast, persistence, history, polling
 * fallback, auth and Origin, oversize and malformed input, rate limit, heartbeat, backpressure.
 */
import net from 'node:net';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatClientError } from '../../app/src/chat-client.js';
import { ErrorCode, MAX_PAYLOAD_BYTES, type ChatMessage } from '../../app/src/protocol.js';
import { mintToken } from '../../app/src/token.js';
import { startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { MessageStore, MIGRATIONS } from '../../app/src/db.js';
import { ALLOWED_ORIGIN, SECRET, startServer, testConfig } from './fixture.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
const clients: ChatClient[] = [];

async function connect(sub = 'alice', extra: Partial<Parameters<typeof ChatClient.connect>[0]> = {}): Promise<ChatClient> {
  const c = await ChatClient.connect({ url: srv.url, token: await mintToken(SECRET, sub, 300), timeoutMs: 5000, ...extra });
  clients.push(c);
  return c;
}

async function upgradeStatus(opts: Parameters<typeof ChatClient.connect>[0]): Promise<number | undefined> {
  try {
    const c = await ChatClient.connect(opts);
    await c.close();
    return 101;
  } catch (err) {
    expect(err).toBeInstanceOf(ChatClientError);
    return (err as ChatClientError).status;
  }
}

beforeAll(async () => {
  db = await startMariaDb();
  srv = await startServer(testConfig(db, db.database, { MESSENGER_PING_INTERVAL_MS: '200' }), { maxBufferedBytes: 256 * 1024 });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await srv?.server.shutdown('test end');
  await db?.stop();
});

describe('chat over /ws', () => {
  it('creates the schema idempotently (utf8mb4, index on room,id)', async () => {
    const applied = await srv.server.store.migrate();
    expect(applied).toEqual([]);
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: db.database });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW CREATE TABLE messages');
    await conn.end();
    const ddl = String(rows[0]?.['Create Table']);
    expect(ddl).toMatch(/bigint\(20\) unsigned NOT NULL AUTO_INCREMENT/i);
    expect(ddl).toMatch(/KEY `room_id` \(`room`,`id`\)/);
    expect(ddl).toMatch(/CHARSET=utf8mb4/);
  });

  it('numbers the rows of a database from before per-room seqs by id, room by room, and goes on from there', async () => {
    await db.createDatabase('before_seq');
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: 'before_seq' });
    try {
      // The schema and rows as the previous release left them: migration 1 only.
      await conn.query(MIGRATIONS[0]!.sql as string);
      await conn.query('CREATE TABLE schema_migrations (id INT UNSIGNED NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL)');
      await conn.query('INSERT INTO schema_migrations VALUES (1, NOW())');
      for (const [room, text] of [['a', 'a1'], ['b', 'b1'], ['a', 'a2'], ['a', 'a3'], ['b', 'b2']]) {
        await conn.query('INSERT INTO messages (room, `user`, text, created_at) VALUES (?, ?, ?, NOW())', [room, 'old', text]);
      }
      const store = MessageStore.create({ ...testConfig(db, 'before_seq').db });
      try {
        expect(await store.migrate()).toEqual([2]);
        const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT room, seq, text FROM messages ORDER BY id');
        expect(rows.map((r) => `${r.room}${r.seq}:${r.text}`)).toEqual(['a1:a1', 'b1:b1', 'a2:a2', 'a3:a3', 'b2:b2']);
        expect((await store.insert('a', 'new', 'a4')).message.seq).toBe(4);
        expect((await store.insert('c', 'new', 'c1')).message.seq).toBe(1);
        expect(await store.newest('a')).toEqual({ id: 6, seq: 4 });
        // A row the previous release wrote while it drained has no seq; a migration run again (an
        // interrupted one) numbers it after its room's newest and changes nothing else.
        await conn.query("INSERT INTO messages (room, `user`, text, created_at) VALUES ('b', 'old', 'b3', NOW())");
        await conn.query('DELETE FROM schema_migrations WHERE id = 2');
        expect(await store.migrate()).toEqual([2]);
        const [again] = await conn.query<mysql.RowDataPacket[]>('SELECT room, seq, text FROM messages ORDER BY id');
        expect(again.map((r) => `${r.room}${r.seq}:${r.text}`)).toEqual(['a1:a1', 'b1:b1', 'a2:a2', 'a3:a3', 'b2:b2', 'a4:a4', 'c1:c1', 'b3:b3']);
        expect((await store.insert('a', 'new', 'a5')).message.seq).toBe(5);
        expect((await store.insert('b', 'new', 'b4')).message.seq).toBe(4);
      } finally {
        await store.close();
      }
    } finally {
      await conn.end();
    }
  });

  it('stores a room\'s concurrent messages as one group-committed batch with the ids and seqs the rows have; a failed batch takes no seq', async () => {
    await db.createDatabase('batches');
    const store = MessageStore.create({ ...testConfig(db, 'batches').db });
    // UTC as the store reads and writes DATETIME, so created_at compares with the messages' ts anywhere.
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: 'batches', timezone: 'Z' });
    try {
      await store.migrate();
      expect((await store.insert('r', 'u', 'first')).message).toMatchObject({ id: 1, seq: 1 });
      // 60 at once: the first goes alone, the rest queue behind it and commit as one batch.
      const stored = await Promise.all(Array.from({ length: 60 }, (_, i) => store.insert('r', `u${i}`, `m${i}`)));
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT id, seq, `user`, text, created_at FROM messages WHERE room = ? AND id > 1 ORDER BY id', ['r']);
      expect(stored.map((s) => [s.message.id, s.message.seq, s.message.user, s.message.text, s.message.ts])).toEqual(
        rows.map((r) => [Number(r.id), Number(r.seq), r.user, r.text, (r.created_at as Date).toISOString()]),
      );
      expect(stored.map((s) => s.message.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 2));
      expect(new Set(stored.map((s) => s.committedAt)).size).toBeLessThan(60);
      // A batch whose second row cannot be stored (a user name over its column): nothing of it stays,
      // neither rows nor seqs; the room goes on from its last stored seq.
      const failing = await Promise.allSettled([store.insert('r', 'u', 'alone'), store.insert('r', 'ok', 'x'), store.insert('r', 'x'.repeat(300), 'y')]);
      expect(failing.map((f) => f.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
      const after = await store.insert('r', 'u', 'after');
      expect(after.message.seq).toBe(63);
      const [[seqRow]] = await conn.query<mysql.RowDataPacket[]>('SELECT seq FROM room_seq WHERE room = ?', ['r']);
      expect(Number(seqRow!.seq)).toBe(63);
      const [[count]] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n, MAX(seq) AS top FROM messages WHERE room = ?', ['r']);
      expect([Number(count!.n), Number(count!.top)]).toEqual([63, 63]);
    } finally {
      await conn.end();
      await store.close();
    }
  });

  it('broadcasts to every member (sender included), acks the sender, and persists', async () => {
    const a = await connect('alice');
    const b = await connect('bob');
    const outsider = await connect('carol');
    expect(await a.join('bcast')).toMatchObject({ type: 'joined', room: 'bcast', lastId: 0 });
    await b.join('bcast');
    await outsider.join('other');
    const ack = await a.send('bcast', 'héllo 👋', 'ref-1');
    expect(ack).toMatchObject({ type: 'ack', ref: 'ref-1', id: expect.any(Number), ts: expect.any(String) });
    // seq: the room's first message (per-room sequence, the same on every instance).
    const expected = { type: 'message', room: 'bcast', id: ack.id, seq: 1, user: 'alice', text: 'héllo 👋', ts: ack.ts };
    expect(await a.waitForMessage({ id: ack.id })).toEqual(expected);
    expect(await b.waitForMessage({ id: ack.id })).toEqual(expected);
    const ack2 = await b.send('bcast', 'second');
    expect(ack2.id).toBeGreaterThan(ack.id);
    await a.waitForMessage({ id: ack2.id });
    expect(outsider.received.filter((m) => m.room === 'bcast')).toEqual([]);
    // Stored before it was acked: a fresh join sees it as lastId, history returns both in order.
    const c = await connect('dave');
    expect((await c.join('bcast')).lastId).toBe(ack2.id);
    const h = await c.history('bcast', { after: 0 });
    expect(h.messages.map((m) => [m.id, m.user, m.text])).toEqual([[ack.id, 'alice', 'héllo 👋'], [ack2.id, 'bob', 'second']]);
  });

  it('serves history after an id and the newest page, in ascending order', async () => {
    const a = await connect('alice');
    await a.join('hist');
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push((await a.send('hist', `m${i}`)).id);
    expect((await a.history('hist', { after: ids[4], limit: 3 })).messages.map((m) => m.text)).toEqual(['m5', 'm6', 'm7']);
    expect((await a.history('hist', { limit: 3 })).messages.map((m) => m.text)).toEqual(['m9', 'm10', 'm11']);
    expect((await a.history('hist', { after: ids[11] })).messages).toEqual([]);
    await a.leave('hist');
    const err = await a.send('hist', 'after leave').catch((e: unknown) => e);
    expect((err as ChatClientError).frame?.code).toBe(ErrorCode.NOT_JOINED);
  });

  it('keeps ids monotonic under concurrent senders in one room', async () => {
    const senders = await Promise.all(['s1', 's2', 's3'].map((u) => connect(u)));
    const watcher = await connect('watcher');
    await watcher.join('mono');
    for (const s of senders) await s.join('mono');
    await Promise.all(senders.map(async (s, i) => { for (let k = 0; k < 10; k++) await s.send('mono', `${i}-${k}`); }));
    const h = await watcher.history('mono', { after: 0, limit: 100 });
    expect(h.messages).toHaveLength(30);
    const live = await (async () => {
      const deadline = Date.now() + 5000;
      while (watcher.received.filter((m) => m.room === 'mono').length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return watcher.received.filter((m) => m.room === 'mono').map((m) => m.id);
    })();
    expect(live).toEqual(h.messages.map((m) => m.id));
    expect([...live].sort((x, y) => x - y)).toEqual(live);
  });

  it('answers malformed, unknown, bad-room, binary and non-JSON frames with error frames and stays up', async () => {
    const a = await connect('mallory');
    const frames: Array<[string | Buffer | Record<string, unknown>, string]> = [
      ['{not json', ErrorCode.BAD_JSON],
      [Buffer.from([0, 1, 2, 255]), ErrorCode.BINARY_FRAME],
      [{ type: 'dance' }, ErrorCode.UNKNOWN_TYPE],
      [{ type: 'join', room: '../etc' }, ErrorCode.BAD_ROOM],
      [{ type: 'send', room: 'x', text: 'no ref' }, ErrorCode.BAD_REF],
      [{ type: 'history', room: 'x', limit: 1e9 }, ErrorCode.BAD_FRAME],
      ['[]', ErrorCode.BAD_FRAME],
      ['{"type":"join","room":"x","__proto__":{"polluted":1}}', ''],
    ];
    for (const [f] of frames) a.sendRaw(f as string);
    const deadline = Date.now() + 5000;
    while (a.errors.length < frames.length - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(a.errors.map((e) => e.code)).toEqual(frames.map(([, c]) => c).filter(Boolean));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Same connection still works.
    await a.join('after-junk');
    expect((await a.send('after-junk', 'still fine')).id).toBeGreaterThan(0);
  });

  it('closes an oversize payload with 1009 without affecting others', async () => {
    const big = await connect('big');
    const bystander = await connect('bystander');
    await bystander.join('calm');
    big.sendRaw(JSON.stringify({ type: 'send', room: 'calm', text: 'x'.repeat(MAX_PAYLOAD_BYTES), ref: 1 }));
    expect((await big.waitForClose()).code).toBe(1009);
    expect((await bystander.send('calm', 'unaffected')).id).toBeGreaterThan(0);
  });

  it('rate-limits a flooding connection with RATE_LIMITED errors carrying the ref', async () => {
    const f = await connect('flood');
    await f.join('flood');
    for (let i = 0; i < 80; i++) f.sendRaw({ type: 'send', room: 'flood', text: `x${i}`, ref: `f${i}` });
    const deadline = Date.now() + 5000;
    while (f.errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const limited = f.errors.filter((e) => e.code === ErrorCode.RATE_LIMITED);
    expect(limited.length).toBeGreaterThan(20);
    expect(limited[0]?.ref).toMatch(/^f\d+$/);
  });

  it('rejects upgrades: 401 for missing/bad/expired token, 403 for a foreign Origin', async () => {
    const good = await mintToken(SECRET, 'alice', 60);
    expect(await upgradeStatus({ url: srv.url })).toBe(401);
    expect(await upgradeStatus({ url: srv.url, token: 'garbage' })).toBe(401);
    expect(await upgradeStatus({ url: srv.url, token: await mintToken('another-secret-another-secret-12345', 'alice', 60) })).toBe(401);
    expect(await upgradeStatus({ url: srv.url, token: await mintToken(SECRET, 'alice', -10) })).toBe(401);
    expect(await upgradeStatus({ url: srv.url, token: good, origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus({ url: srv.url, token: good, origin: ALLOWED_ORIGIN })).toBe(101);
    expect(await upgradeStatus({ url: srv.url, token: good, tokenInQuery: true, origin: ALLOWED_ORIGIN })).toBe(101);
    expect(await upgradeStatus({ url: srv.url.replace('/ws', '/nope'), token: good })).toBe(404);
    expect(await upgradeStatus({ url: srv.url, token: 'garbage', tokenInProtocol: true, origin: ALLOWED_ORIGIN })).toBe(401);
  });

  it("takes the token as the browser's `bearer.<JWT>` subprotocol and answers with `messenger`, never echoing the token", async () => {
    const good = await mintToken(SECRET, 'carol', 60);
    const client = await ChatClient.connect({ url: srv.url, token: good, tokenInProtocol: true, origin: ALLOWED_ORIGIN });
    try {
      // What the server selected in its 101.
      expect(client.ws.protocol).toBe('messenger');
      await client.join('protocol-token');
    } finally {
      await client.close();
    }
  });

  it('logs the X-Forwarded-For address when the peer is loopback', async () => {
    await connect('proxied', { headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' } });
    const line = srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'ws connected' && l.user === 'proxied');
    expect(line).toMatchObject({ addr: '203.0.113.9', connections: expect.any(Number) });
  });

  it('terminates a peer that does not answer pings, keeps one that does', async () => {
    const silent = await connect('silent', { wsOptions: { autoPong: false } });
    const lively = await connect('lively');
    const t0 = Date.now();
    const closed = await silent.waitForClose();
    expect(closed.code).toBe(1006);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(lively.closed).toBeUndefined();
    await lively.join('alive');
  });

  it('drops a client that does not read instead of buffering for it', async () => {
    const token = await mintToken(SECRET, 'slow', 60);
    const port = srv.port;
    // A raw client that completes the handshake, joins, then never reads again.
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await new Promise((r) => sock.once('data', r));
    const payload = Buffer.from(JSON.stringify({ type: 'join', room: 'firehose' }));
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    // Joined within a few ms; stay well inside the 200 ms heartbeat, which would also end this mute client.
    await new Promise((r) => setTimeout(r, 30));
    sock.pause();
    const closedP = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => {});
    const sender = await connect('firehose', {});
    const before = srv.server.hub.slowDrops;
    const text = 'y'.repeat(3900);
    for (let i = 0; i < 5000 && srv.server.hub.slowDrops === before; i++) {
      srv.server.hub.broadcast({ room: 'firehose', id: 1e9 + i, user: 'load', text, ts: new Date().toISOString() } as ChatMessage);
    }
    expect(srv.server.hub.slowDrops).toBe(before + 1);
    // Reading again drains what the kernel held and then sees the server's close.
    sock.resume();
    await closedP;
    expect(sender.closed).toBeUndefined();
  });
});

describe('HTTP API', () => {
  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${srv.http}/healthz`)).status).toBe(200);
    const r = await fetch(`${srv.http}/readyz`);
    expect(r.status).toBe(200);
    // On this host: the instance and its bus (the release program waits for it; none here).
    expect(await r.json()).toEqual({ status: 'ready', instance: expect.any(String), bus: 'none' });
    // Through nginx (it sets X-Forwarded-For): the verdict only, nothing about the instance (issue 14, finding 7).
    const proxied = await fetch(`${srv.http}/readyz`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(await proxied.json()).toEqual({ status: 'ready' });
  });

  it('serves the web client at /', async () => {
    const r = await fetch(`${srv.http}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/html');
    expect(await r.text()).toContain('/app.js');
    expect((await fetch(`${srv.http}/app.js`)).status).toBe(200);
  });

  it('POSTs reach WebSocket members, WebSocket messages reach pollers, long polling wakes up', async () => {
    const token = await mintToken(SECRET, 'poller', 60);
    const auth = { authorization: `Bearer ${token}` };
    const ws = await connect('wsuser');
    await ws.join('mixed');
    const post = await fetch(`${srv.http}/api/rooms/mixed/messages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'from http' }) });
    expect(post.status).toBe(201);
    const stored = (await post.json()) as ChatMessage;
    expect(stored).toMatchObject({ room: 'mixed', user: 'poller', text: 'from http', id: expect.any(Number), ts: expect.any(String) });
    expect(await ws.waitForMessage({ id: stored.id })).toMatchObject({ text: 'from http', user: 'poller' });

    const ack = await ws.send('mixed', 'from ws');
    const get = await fetch(`${srv.http}/api/rooms/mixed/messages?after=${stored.id}&token=${token}`);
    expect(get.status).toBe(200);
    expect(((await get.json()) as { messages: ChatMessage[] }).messages).toEqual([{ room: 'mixed', id: ack.id, seq: 2, user: 'wsuser', text: 'from ws', ts: ack.ts }]);

    // Long poll: held until the next message arrives.
    const t0 = Date.now();
    const polling = fetch(`${srv.http}/api/rooms/mixed/messages?after=${ack.id}&wait=10`, { headers: auth });
    await new Promise((r) => setTimeout(r, 300));
    const ack2 = await ws.send('mixed', 'wake up');
    const polled = (await (await polling).json()) as { messages: ChatMessage[] };
    expect(polled.messages.map((m) => m.id)).toEqual([ack2.id]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('applies the same auth and validation to the API', async () => {
    const token = await mintToken(SECRET, 'poller', 60);
    const auth = { authorization: `Bearer ${token}` };
    const api = `${srv.http}/api/rooms/api/messages`;
    expect((await fetch(api)).status).toBe(401);
    expect((await fetch(api, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(api, { headers: { ...auth, origin: 'https://evil.example' } })).status).toBe(403);
    expect((await fetch(`${srv.http}/api/rooms/BAD!/messages`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${api}?limit=100000`, { headers: auth })).status).toBe(400);
    const bad = await fetch(api, { method: 'POST', headers: auth, body: 'nope' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: ErrorCode.BAD_JSON, message: expect.any(String) } });
    expect((await fetch(api, { method: 'POST', headers: auth, body: JSON.stringify({ text: '' }) })).status).toBe(400);
    expect((await fetch(api, { method: 'POST', headers: auth, body: 'x'.repeat(MAX_PAYLOAD_BYTES + 10) })).status).toBe(413);
    const pre = await fetch(api, { method: 'OPTIONS', headers: { origin: ALLOWED_ORIGIN } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
  });
});

describe('abuse limits (issue 14, finding 4)', () => {
  it('refuses control characters and half surrogate pairs, on /ws and over HTTP; tab and line breaks pass', async () => {
    const c = await connect('mallory');
    await c.join('abuse');
    const cases: Array<[string, string]> = [['4,000 NULs', '\u0000'.repeat(4000)], ['BEL', 'bell\u0007'], ['DEL', 'del\u007f'], ['C1', 'c1\u0085'], ['half pair', 'half \ud83d pair']];
    for (const [name, text] of cases) {
      const err = await c.send('abuse', text).then(() => null, (e: unknown) => e as ChatClientError);
      expect(err?.frame?.code, name).toBe(ErrorCode.BAD_TEXT);
    }
    expect((await c.send('abuse', 'two\nlines\tand a tab 😀')).id).toBeGreaterThan(0);
    const token = await mintToken(SECRET, 'mallory', 60);
    const post = await fetch(`${srv.http}/api/rooms/abuse/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ text: 'x\u0001y' }) });
    expect(post.status).toBe(400);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe(ErrorCode.BAD_TEXT);
  });

  it('cuts a history page of huge messages at 1 MB and says more; a catch-up pages on through it', async () => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: db.database });
    // 400 messages of 4,000 quotes: each ~24 KB once JSON-escaped, ~9.6 MB for the room.
    const big = '"\\'.repeat(1333);
    await conn.query('INSERT INTO messages (room, `user`, text, created_at) VALUES ?', [Array.from({ length: 400 }, () => ['huge', 'mallory', big, new Date()])]);
    await conn.end();
    const c = await connect('reader');
    await c.join('huge');
    const newest = await c.history('huge', { limit: 500 });
    expect(newest.more).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(newest.messages))).toBeLessThanOrEqual(1024 * 1024 + 1000);
    expect(newest.messages.length).toBeGreaterThan(10);
    // The newest page keeps the newest messages.
    const ids = newest.messages.map((m) => m.id);
    const all = [...ids].sort((a, b) => a - b);
    expect(ids).toEqual(all);
    let after = 0;
    let seen = 0;
    for (let i = 0; i < 100; i++) {
      const page = await c.history('huge', { after, limit: 500 });
      seen += page.messages.length;
      if (!page.more && page.messages.length < 500) break;
      after = page.messages.at(-1)!.id;
    }
    expect(seen).toBe(400);
    const token = await mintToken(SECRET, 'reader', 60);
    const rest = (await (await fetch(`${srv.http}/api/rooms/huge/messages?after=0&limit=500`, { headers: { authorization: `Bearer ${token}` } })).json()) as { messages: ChatMessage[]; more?: boolean };
    expect(rest.more).toBe(true);
    // Catching up from the start keeps the oldest: before everything the newest page kept.
    expect(rest.messages.at(-1)!.id).toBeLessThan(Math.min(...all));
  });

  it('rate-limits history reads over HTTP per user (429 past the burst)', async () => {
    const token = await mintToken(SECRET, 'scraper', 60);
    const statuses = await Promise.all(Array.from({ length: 80 }, () => fetch(`${srv.http}/api/rooms/abuse/messages?limit=1`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(40);
  });
});

describe('heartbeat spread over the interval', () => {
  it('pings each connection once per interval, a slice of them per tick instead of all at once', async () => {
    // 1 s interval: ten ticks of 100 ms, each pinging the connections whose id falls in its slice.
    const spread = await startServer(testConfig(db, db.database, { MESSENGER_PING_INTERVAL_MS: '1000' }));
    const mine: ChatClient[] = [];
    try {
      const pings: number[][] = [];
      for (let i = 0; i < 20; i++) {
        const c = await ChatClient.connect({ url: spread.url, token: await mintToken(SECRET, `beat${i}`, 300), timeoutMs: 5000 });
        mine.push(c);
        const times: number[] = [];
        pings.push(times);
        c.ws.on('ping', () => times.push(performance.now()));
      }
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 3500));
      // Under a loaded machine the ticks drift late (a timer never fires early), so bounds, not counts.
      const seen = pings.map((ts) => ts.filter((t) => t >= t0));
      for (const ts of seen) {
        // Once per interval: two to four pings in 3.5 s, never two within half an interval (the
        // clients share the server's event loop here, so a stall may shift one ping's arrival).
        expect(ts.length).toBeGreaterThanOrEqual(2);
        expect(ts.length).toBeLessThanOrEqual(4);
        for (let k = 1; k < ts.length; k++) expect(ts[k]! - ts[k - 1]!).toBeGreaterThan(500);
      }
      for (const c of mine) expect(c.closed).toBeUndefined();
      // Spread: 20 connections in ten slices are two per tick; all at once would be 20 in one burst.
      const all = seen.flat().sort((a, b) => a - b);
      const busiest = Math.max(...all.map((t) => all.filter((u) => u >= t && u < t + 50).length));
      expect(busiest).toBeLessThanOrEqual(4);
      const firstRound = all.filter((t) => t < all[0]! + 1000);
      expect(firstRound.at(-1)! - firstRound[0]!).toBeGreaterThan(500);
    } finally {
      for (const c of mine) await c.close().catch(() => {});
      await spread.server.shutdown('test end');
    }
  });
});
