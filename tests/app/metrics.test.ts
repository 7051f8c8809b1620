/**
 * The chat server's Prometheus metrics scraped for real over HTTP, against a throwaway MariaDB: the
 * counters and histograms move with a join, a message, a history read and a long poll, the text
 * passes a strict exposition parser, and a request that came through nginx gets a 404.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../app/src/chat-client.js';
import { LastMinute } from '../../app/src/last-minute.js';
import { isDirectLocal } from '../../app/src/net-util.js';
import { mintToken } from '../../app/src/token.js';
import { APP_VERSION } from '../../app/src/version.js';
import { startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { SECRET, startServer, testConfig } from './fixture.js';
import { parseExposition, sampleValue, type Family } from './prom-text.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
const clients: ChatClient[] = [];

beforeAll(async () => {
  db = await startMariaDb();
  srv = await startServer(testConfig(db, db.database));
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await srv?.server.shutdown('test end');
  await db?.stop();
});

async function connect(sub: string): Promise<ChatClient> {
  const c = await ChatClient.connect({ url: srv.url, token: await mintToken(SECRET, sub, 300), timeoutMs: 5000 });
  clients.push(c);
  return c;
}

async function scrape(headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${srv.http}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function metrics(): Promise<Map<string, Family>> {
  const res = await scrape();
  expect(res.status, res.text).toBe(200);
  return parseExposition(res.text);
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GET /metrics', () => {
  it('counts a join, a message and its deliveries, and times the fan-out and the queries', async () => {
    const before = await metrics();
    const a = await connect('alice');
    const b = await connect('bob');
    await a.join('metrics');
    await b.join('metrics');
    const ack = await a.send('metrics', 'hello', 'm1');
    await a.waitForMessage({ id: ack.id });
    await b.waitForMessage({ id: ack.id });
    await b.history('metrics', { after: 0 });

    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseExposition(res.text);
    const value = (name: string, labels?: Record<string, string>) => sampleValue(after, name, labels);
    const delta = (name: string, labels?: Record<string, string>) => (value(name, labels) ?? NaN) - (sampleValue(before, name, labels) ?? 0);

    expect(after.get('messenger_connections')?.type).toBe('gauge');
    expect(value('messenger_connections')).toBe(2);
    expect(after.get('messenger_joins_total')?.type).toBe('counter');
    expect(delta('messenger_joins_total')).toBe(2);
    expect(delta('messenger_messages_in_total')).toBe(1);
    expect(delta('messenger_messages_last_minute')).toBe(1);
    // One message, two members: two frames handed to sockets.
    expect(delta('messenger_deliveries_total')).toBe(2);
    expect(value('messenger_slow_consumer_drops_total')).toBe(0);
    expect(value('messenger_long_poll_waiters')).toBe(0);

    expect(after.get('messenger_fanout_seconds')?.type).toBe('histogram');
    expect(delta('messenger_fanout_seconds_count')).toBe(1);
    expect(value('messenger_fanout_seconds_sum')).toBeGreaterThan(0);
    expect(value('messenger_fanout_seconds_sum')).toBeLessThan(1);
    expect(after.get('messenger_db_query_seconds')?.type).toBe('histogram');
    expect(delta('messenger_db_query_seconds_count', { op: 'insert' })).toBe(1);
    expect(delta('messenger_db_query_seconds_count', { op: 'last_id' })).toBe(2);
    expect(delta('messenger_db_query_seconds_count', { op: 'history' })).toBe(1);
    expect(value('messenger_db_query_seconds_sum', { op: 'insert' })).toBeGreaterThan(0);

    expect(value('messenger_build_info', { version: APP_VERSION })).toBe(1);
    // Node's default metrics, event-loop lag (monitorEventLoopDelay) among them.
    expect(after.get('messenger_nodejs_eventloop_lag_p99_seconds')?.type).toBe('gauge');
    expect(after.get('messenger_nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(after.get('messenger_process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(value('messenger_process_resident_memory_bytes')).toBeGreaterThan(0);

    // Bounded cardinality: one prefix, and no label that could name a room, user or connection.
    const labelNames = new Set<string>();
    for (const [name, family] of after) {
      expect(name).toMatch(/^messenger_/);
      for (const s of family.samples) for (const l of Object.keys(s.labels)) labelNames.add(l);
    }
    for (const l of labelNames) expect(['version', 'op', 'le', 'space', 'kind', 'type', 'major', 'minor', 'patch']).toContain(l);
  });

  it('shows a held long poll as a waiter until a message wakes it', async () => {
    const c = await connect('carol');
    await c.join('polls');
    const first = await c.send('polls', 'first', 'p1');
    const token = await mintToken(SECRET, 'poller', 300);
    const poll = fetch(`${srv.http}/api/rooms/polls/messages?after=${first.id}&wait=10`, { headers: { authorization: `Bearer ${token}` } });
    poll.catch(() => {}); // awaited below; if the test fails first, shutdown cuts it off
    await until(async () => sampleValue(await metrics(), 'messenger_long_poll_waiters') === 1);
    const woke = await c.send('polls', 'wake up', 'p2');
    const res = await poll;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { messages: Array<{ id: number }> }).messages.map((m) => m.id)).toEqual([woke.id]);
    expect(sampleValue(await metrics(), 'messenger_long_poll_waiters')).toBe(0);
  });

  it('answers only requests made straight on this host: through nginx it is an unknown route', async () => {
    // nginx sets both headers on every proxied request (templates/nginx/partials/proxy-forwarded.hbs).
    const proxied: Array<Record<string, string>> = [{ 'x-forwarded-for': '203.0.113.7' }, { 'x-real-ip': '203.0.113.7' }, { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' }];
    for (const headers of proxied) {
      const res = await scrape(headers);
      expect(res.status, JSON.stringify(headers)).toBe(404);
      expect(JSON.parse(res.text)).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /metrics' } });
    }
    expect((await fetch(`${srv.http}/metrics`, { method: 'POST' })).status).toBe(404);
    const head = await fetch(`${srv.http}/metrics`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('refuses a peer that is not loopback, even without forwarding headers', () => {
    const req = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;
    expect(isDirectLocal(req('127.0.0.1'))).toBe(true);
    expect(isDirectLocal(req('::ffff:127.0.0.1'))).toBe(true);
    expect(isDirectLocal(req('::1'))).toBe(true);
    expect(isDirectLocal(req('10.0.0.5'))).toBe(false);
    expect(isDirectLocal(req('127.0.0.1', { 'x-forwarded-for': '10.0.0.5' }))).toBe(false);
  });
});

describe('LastMinute', () => {
  it('counts the events of the last 60 seconds and forgets older ones', () => {
    const w = new LastMinute();
    const t = 1_700_000_000_000;
    w.add(t);
    w.add(t + 500);
    w.add(t + 30_000);
    expect(w.total(t + 30_000)).toBe(3);
    expect(w.total(t + 59_999)).toBe(3);
    expect(w.total(t + 60_000)).toBe(1);
    w.add(t + 60_000); // reuses the first slot, a minute later
    expect(w.total(t + 60_000)).toBe(2);
    expect(w.total(t + 200_000)).toBe(0);
  });
});
