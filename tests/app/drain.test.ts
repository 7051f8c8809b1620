/**
 * Zero-downtime deploys, the app's side, against a real throwaway MariaDB and Redis: two in-process instances
 * sharing the Redis bus as the old and the new release, a switchable TCP proxy standing in for nginx's upstream,
 * and shutdown() as the SIGTERM path. A draining instance refuses sends, keeps delivering and answering,
 * and closes each socket with 1012 at its own moment in the spread; reconnecting clients move over without
 * losing, repeating or reordering a message, and without a gap of half a second.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatClientErrorCode, type ChatClientError, type CloseInfo } from '../../app/src/chat-client.js';
import { CloseCode, ErrorCode } from '../../app/src/protocol.js';
import { ReconnectingChatClient } from '../../app/src/reconnecting-client.js';
import { mintToken } from '../../app/src/token.js';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { startRedis, type ThrowawayRedis } from '../helpers/redis.js';
import { SECRET, startServer, testConfig } from './fixture.js';
import { startProxy, type TestProxy } from './proxy.js';

type Release = Awaited<ReturnType<typeof startServer>>;

let db: ThrowawayMariaDb;
let redis: ThrowawayRedis;
const releases: Release[] = [];
const proxies: TestProxy[] = [];
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  [db, redis] = await Promise.all([startMariaDb(), startRedis()]);
});

afterAll(async () => {
  for (const c of closers.splice(0)) await c().catch(() => {});
  for (const p of proxies) await p.close();
  for (const r of releases) await r.server.shutdown('test end');
  await db?.stop();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An instance on `port` of database `dbName`, on the Redis bus. */
async function startRelease(name: string, dbName: string, port: number, drainSpreadMs: number): Promise<Release> {
  const r = await startServer(testConfig(db, dbName, {
    MESSENGER_PORT: String(port),
    MESSENGER_INSTANCE: name,
    ...redis.env(),
    MESSENGER_DRAIN_SPREAD_MS: String(drainSpreadMs),
    MESSENGER_RATE_PER_SEC: '1000',
    MESSENGER_RATE_BURST: '1000',
  }));
  releases.push(r);
  return r;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** The old and the new release of database `dbName`, both on the bus. */
async function startPair(dbName: string, spreadOld: number): Promise<{ old: Release; fresh: Release }> {
  await db.createDatabase(dbName);
  const ports = [await freePort(), await freePort()] as const;
  const old = await startRelease('old', dbName, ports[0], spreadOld);
  const fresh = await startRelease('new', dbName, ports[1], 0);
  await until(() => old.server.bus?.state === 'up' && fresh.server.bus?.state === 'up', 2000, 'both on the bus');
  return { old, fresh };
}

async function plainClient(url: string, sub: string): Promise<ChatClient> {
  const c = await ChatClient.connect({ url, token: await mintToken(SECRET, sub, 300), timeoutMs: 5000 });
  closers.push(() => c.close());
  return c;
}

async function reconnectingClient(url: string, sub: string): Promise<ReconnectingChatClient> {
  const c = await ReconnectingChatClient.connect({ url, token: await mintToken(SECRET, sub, 300), timeoutMs: 5000, maxAttempts: 50, maxOutageMs: 10_000 });
  closers.push(() => c.close());
  return c;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe('draining on SIGTERM', () => {
  it('refuses sends, keeps delivering and answering, and closes each socket with 1012 at its own moment in the spread', async () => {
    const SPREAD = 800;
    const { old, fresh } = await startPair('spread', SPREAD);
    const onOld = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => plainClient(old.url, `old${i}`)));
    for (const c of onOld) await c.join('spread');
    const onNew = await plainClient(fresh.url, 'fresh');
    await onNew.join('spread');
    const before = await onNew.send('spread', 'before');
    await Promise.all(onOld.map((c) => c.waitForMessage({ id: before.id })));

    const t0 = performance.now();
    const closes = onOld.map((c) => c.waitForClose().then((info: CloseInfo) => ({ ...info, atMs: performance.now() - t0 })));
    const stopping = old.server.shutdown('test');
    // Refused with SHUTTING_DOWN (or cut off by an early close): never acked, never stored.
    const replies = await Promise.all(onOld.map((c) => c.send('spread', 'refused').then(() => 'acked', (e: ChatClientError) => e.frame?.code ?? e.code)));
    expect(replies.filter((r) => r !== ErrorCode.SHUTTING_DOWN && r !== ChatClientErrorCode.CLOSED)).toEqual([]);
    expect(replies.filter((r) => r === ErrorCode.SHUTTING_DOWN).length).toBeGreaterThanOrEqual(6);
    // What the new release stores still reaches the old one's open sockets, and history is answered.
    const during = await onNew.send('spread', 'during');
    const duringAtMs = performance.now() - t0;
    const open = onOld.find((c) => !c.closed);
    expect((await open?.history('spread', { after: 0 }))?.messages.map((m) => m.text)).toEqual(['before', 'during']);

    const infos = await Promise.all(closes);
    await stopping;
    const stoppedMs = performance.now() - t0;
    expect(infos.map((i) => [i.code, i.reason])).toEqual(onOld.map(() => [CloseCode.SERVICE_RESTART, 'service restart']));
    const at = infos.map((i) => i.atMs);
    expect(Math.max(...at)).toBeLessThan(SPREAD + 300);
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThan(SPREAD / 8);
    const openLater = onOld.filter((_, i) => (infos[i]?.atMs ?? 0) > duringAtMs + 100);
    expect(openLater.length).toBeGreaterThanOrEqual(2);
    for (const c of openLater) expect(c.received.map((m) => m.id)).toEqual([before.id, during.id]);
    expect(stoppedMs).toBeLessThan(SPREAD + 2000);
    // The listener is gone: new connections are refused outright.
    await expect(ChatClient.connect({ url: old.url, token: await mintToken(SECRET, 'late', 60) })).rejects.toMatchObject({ code: ChatClientErrorCode.CONNECT });
    expect((await onNew.history('spread', { after: 0 })).messages.map((m) => m.text)).toEqual(['before', 'during']);
  });

  it('closes every socket at once with a spread of 0', async () => {
    await db.createDatabase('nospread');
    const srv = await startRelease('solo', 'nospread', await freePort(), 0);
    const cs = await Promise.all([0, 1, 2, 3, 4].map((i) => plainClient(srv.url, `c${i}`)));
    const t0 = performance.now();
    const closes = cs.map((c) => c.waitForClose().then((info) => ({ code: info.code, atMs: performance.now() - t0 })));
    await srv.server.shutdown('test');
    const infos = await Promise.all(closes);
    expect(infos.every((i) => i.code === CloseCode.SERVICE_RESTART)).toBe(true);
    expect(Math.max(...infos.map((i) => i.atMs))).toBeLessThan(200);
  });
});

describe('reconnecting through a deploy', () => {
  it('sends again what was cut off before its ack or refused while draining; each is stored and delivered once', async () => {
    const { old, fresh } = await startPair('resend', 3000);
    const proxy = await startProxy(old.port);
    proxies.push(proxy);
    const c = await reconnectingClient(`ws://127.0.0.1:${proxy.port}/ws`, 'mover');
    await c.join('resend');
    const watcher = await plainClient(fresh.url, 'watcher');
    await watcher.join('resend');
    const first = await c.send('resend', 'first');

    // Lost in transit, then the connection dies: no ack, nothing stored; sent again after reconnecting.
    proxy.hold = true;
    const cut = c.send('resend', 'cut off');
    await sleep(50);
    proxy.cut();
    proxy.hold = false;
    const second = await cut;

    // The deploy: the upstream switches, the old release drains. The send is refused there and lands on the new one.
    proxy.target = fresh.port;
    const stopping = old.server.shutdown('deploy');
    const third = await c.send('resend', 'while draining');
    await stopping;

    const want = [first.id, second.id, third.id];
    expect([...want].sort((x, y) => x - y)).toEqual(want);
    await expect.poll(() => c.received.map((m) => m.id)).toEqual(want);
    await expect.poll(() => watcher.received.map((m) => m.id)).toEqual(want);
    expect((await watcher.history('resend', { after: 0 })).messages.map((m) => m.text)).toEqual(['first', 'cut off', 'while draining']);
    const s = c.stats();
    expect(s.reconnects).toBe(2);
    expect(s.resent).toBeGreaterThanOrEqual(1);
    expect(s.late).toBe(0);
  });

  it('a deploy is invisible: 50 clients lose, repeat and reorder nothing and are joined again within 500 ms', async () => {
    const N = 50;
    const SPREAD = 1000;
    const SEND_EVERY_MS = 100;
    const MAX_SENDS = 80;
    await db.createDatabase('deploy');
    const ports = [await freePort(), await freePort()];
    const old = await startRelease('old', 'deploy', ports[0] as number, SPREAD);
    const proxy = await startProxy(old.port);
    proxies.push(proxy);
    const url = `ws://127.0.0.1:${proxy.port}/ws`;
    const roomsOf = (i: number) => ['lobby', `r${i % 5}`];
    const clients = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const c = await reconnectingClient(url, `u${i}`);
      for (const room of roomsOf(i)) await c.join(room);
      return c;
    }));

    const acked = new Map<string, number[]>(['lobby', 'r0', 'r1', 'r2', 'r3', 'r4'].map((room) => [room, []]));
    const failures: unknown[] = [];
    let stop = false;
    const loops = clients.map(async (c, i) => {
      const deadline = performance.now() + 8000;
      const sends: Array<Promise<void>> = [];
      // Staggered, so sends are in flight at every moment of the deploy.
      await sleep((i * SEND_EVERY_MS) / N);
      for (let k = 0; k < MAX_SENDS && !stop && performance.now() < deadline; k++) {
        const room = roomsOf(i)[k % 2] as string;
        sends.push(c.send(room, `u${i}-${k}`).then(
          (a) => void acked.get(room)?.push(a.id),
          (err: unknown) => void failures.push(err),
        ));
        await sleep(SEND_EVERY_MS);
      }
      await Promise.all(sends);
    });

    await sleep(700);
    // The deploy: the new release starts beside the old one, the upstream switches, the old one drains.
    const tNew = performance.now();
    const fresh = await startRelease('new', 'deploy', ports[1] as number, 0);
    await until(() => old.server.bus?.state === 'up' && fresh.server.bus?.state === 'up', 2000, 'both on the bus');
    const onBusMs = performance.now() - tNew;
    proxy.target = fresh.port;
    const tDrain = performance.now();
    await old.server.shutdown('deploy');
    const drainMs = performance.now() - tDrain;
    await sleep(700);
    stop = true;
    await Promise.all(loops);

    const expected = new Map([...acked].map(([room, ids]) => [room, [...ids].sort((x, y) => x - y)]));
    const deliveredTo = (c: ReconnectingChatClient, room: string) => c.received.filter((m) => m.room === room).map((m) => m.id);
    const complete = () => clients.every((c, i) => roomsOf(i).every((room) => deliveredTo(c, room).length >= (expected.get(room)?.length ?? 0)));
    await until(complete, 5000, 'every member has every acked message').catch(() => {});

    const gaps = clients.map((c) => c.stats().longestGapMs).sort((x, y) => x - y);
    const stats = clients.map((c) => c.stats());
    const total = [...acked.values()].reduce((n, ids) => n + ids.length, 0);
    console.log(JSON.stringify({
      clients: N,
      ackedMessages: total,
      busUpMsAfterNewStart: Math.round(onBusMs),
      drainMs: Math.round(drainMs),
      reconnects: stats.reduce((n, s) => n + s.reconnects, 0),
      resent: stats.reduce((n, s) => n + s.resent, 0),
      duplicatesDropped: stats.reduce((n, s) => n + s.duplicates, 0),
      longestGapMs: { p50: Math.round(percentile(gaps, 50)), p99: Math.round(percentile(gaps, 99)), max: Math.round(gaps.at(-1) ?? NaN) },
    }));

    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(N * 10);
    // Every acked message reached every member of its room once, in ascending id order, and nothing else did.
    for (const [i, c] of clients.entries()) {
      for (const room of roomsOf(i)) expect(deliveredTo(c, room), `u${i} in ${room}`).toEqual(expected.get(room));
    }
    // Stored once each: the resends were of sends that had not been stored.
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: 'deploy' });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM messages');
    await conn.end();
    expect(Number(rows[0]?.n)).toBe(total);
    for (const s of stats) {
      expect(s.reconnects).toBe(1);
      expect(s.late).toBe(0);
      expect(s.longestGapMs).toBeLessThan(500);
    }
    // The old release ended by itself within its bound, and every client is on the new one.
    expect(drainMs).toBeLessThan(SPREAD + 2000);
    expect(old.server.stats().connections).toBe(0);
    expect(fresh.server.stats().connections).toBe(N);
  });
});
