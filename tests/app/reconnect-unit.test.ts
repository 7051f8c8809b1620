/**
 * The reconnecting client's rules without a database: the backoff schedule, the per-room delivery rule
 * (RoomFeed), and ReconnectingChatClient against a scripted fake server whose every connection plays its
 * part of a restart — SHUTTING_DOWN, a send cut off before its ack, catch-up paging with live messages
 * racing it, giving up.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { backoffDelay } from '../../app/src/backoff.js';
import { ChatClientErrorCode, type ChatClientError } from '../../app/src/chat-client.js';
import type { ChatMessage, MessageFrame, ServerFrame } from '../../app/src/protocol.js';
import { ReconnectingChatClient } from '../../app/src/reconnecting-client.js';
import { RoomFeed } from '../../app/src/room-feed.js';

const msg = (id: number, room = 'r'): ChatMessage => ({ room, id, user: 'u', text: `m${id}`, ts: new Date(0).toISOString() });
const live = (id: number, room = 'r'): MessageFrame => ({ type: 'message', ...msg(id, room) });
const ids = (ms: Array<{ id: number }>) => ms.map((m) => m.id);

describe('backoffDelay', () => {
  it('retries first within firstMaxMs, then with full jitter under a capped exponential', () => {
    const b = { firstMaxMs: 100, baseMs: 200, maxMs: 5000 };
    expect(backoffDelay(1, { ...b, random: () => 0.999 })).toBeLessThan(100);
    expect(backoffDelay(2, { ...b, random: () => 0.5 })).toBe(200);
    expect(backoffDelay(3, { ...b, random: () => 0.5 })).toBe(400);
    expect(backoffDelay(50, { ...b, random: () => 0.5 })).toBe(2500);
    expect(backoffDelay(50, { ...b, random: () => 0 })).toBe(0);
    for (let n = 1; n < 40; n++) expect(backoffDelay(n, b)).toBeLessThan(5000);
  });
});

describe('RoomFeed', () => {
  it('starts a first join at joined.lastId, or just below a message held before it', () => {
    const f = new RoomFeed();
    f.hold();
    expect(f.live(live(7))).toEqual([]);
    expect(f.joined(7)).toBe(6);
    expect(f.page([msg(7)])).toEqual([live(7)]);
    expect(f.release()).toEqual([]);
    expect(f.duplicates).toBe(1);
    expect(ids(f.live(live(8)))).toEqual([8]);

    const g = new RoomFeed();
    g.hold();
    expect(g.joined(40)).toBeUndefined();
    expect(g.live(live(3))).toEqual([]);
    expect(ids(g.release())).toEqual([]);
    expect(ids(g.live(live(41)))).toEqual([41]);
  });

  it('catches up after the highest id, releases held messages in order, drops duplicates', () => {
    const f = new RoomFeed();
    f.hold();
    f.joined(0);
    f.release();
    expect(ids([...f.live(live(1)), ...f.live(live(2))])).toEqual([1, 2]);
    f.drop();
    f.hold();
    f.live(live(6));
    f.live(live(5));
    expect(f.joined(6)).toBe(2);
    expect(ids(f.page([msg(3), msg(4), msg(5)]))).toEqual([3, 4, 5]);
    expect(ids(f.release())).toEqual([6]);
    expect(f.live(live(4))).toEqual([]);
    expect(f).toMatchObject({ lastId: 6, duplicates: 2, late: 0 });
  });

  it('delivers a message below the highest id once rather than losing it, and counts it late', () => {
    const f = new RoomFeed();
    f.hold();
    f.joined(0);
    f.release();
    f.live(live(2));
    expect(ids(f.live(live(1)))).toEqual([1]);
    expect(f.live(live(1))).toEqual([]);
    expect(f.late).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------
// A scripted server: `script(n)` plays connection number n (from 1).

type Frame = { type: string; room?: string; ref?: string | number; after?: number; limit?: number; text?: string };
interface FakeConn {
  n: number;
  ws: WebSocket;
  send(f: ServerFrame): void;
  closed: Promise<number>;
}

const servers: WebSocketServer[] = [];
const clients: ReconnectingChatClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  for (const s of servers.splice(0)) {
    for (const ws of s.clients) ws.terminate();
    await new Promise((r) => s.close(r));
  }
});

async function fakeServer(script: (c: FakeConn, f: Frame) => void): Promise<{ url: string; conns: FakeConn[]; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const conns: FakeConn[] = [];
  wss.on('connection', (ws) => {
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const c: FakeConn = { n: conns.length + 1, ws, send: (f) => ws.send(JSON.stringify(f)), closed };
    conns.push(c);
    ws.on('message', (d) => script(c, JSON.parse(d.toString()) as Frame));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`, conns, wss };
}

async function connect(url: string, extra: Partial<Parameters<typeof ReconnectingChatClient.connect>[0]> = {}): Promise<ReconnectingChatClient> {
  const c = await ReconnectingChatClient.connect({ url, timeoutMs: 2000, firstRetryMaxMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, ...extra });
  clients.push(c);
  return c;
}

const joined = (c: FakeConn, f: Frame, lastId: number) => c.send({ type: 'joined', room: f.room as string, lastId, ref: f.ref as string });
const ack = (c: FakeConn, f: Frame, id: number) => c.send({ type: 'ack', ref: f.ref as string, id, ts: new Date(0).toISOString() });

describe('ReconnectingChatClient', () => {
  it('after SHUTTING_DOWN holds sends until the server\'s 1012, then resolves them with the next server\'s ack', async () => {
    let acked = 0;
    const srv = await fakeServer((c, f) => {
      if (f.type === 'join') joined(c, f, 0);
      else if (f.type === 'send' && c.n === 1) {
        c.send({ type: 'error', code: 'SHUTTING_DOWN', message: 'restarting', ref: f.ref as string });
        setTimeout(() => c.ws.close(1012, 'service restart'), 150);
      } else if (f.type === 'send') {
        acked += 1;
        ack(c, f, acked);
        c.send(live(acked));
      }
    });
    const c = await connect(srv.url);
    const closes: number[] = [];
    c.on('disconnected', (info: { code: number }) => closes.push(info.code));
    await c.join('r');
    const t0 = performance.now();
    const first = c.send('r', 'refused');
    await new Promise((r) => setTimeout(r, 50));
    // Held while the server drains: not sent again on the same socket.
    const second = c.send('r', 'held');
    const [a1, a2] = await Promise.all([first, second]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect([a1.id, a2.id]).toEqual([1, 2]);
    expect(closes).toEqual([1012]);
    await expect.poll(() => ids(c.received)).toEqual([1, 2]);
    expect(c.stats()).toMatchObject({ reconnects: 1, resent: 1, duplicates: 0, late: 0 });
  });

  it('leaves a draining server by itself when its 1012 does not come within drainWaitMaxMs', async () => {
    const srv = await fakeServer((c, f) => {
      if (f.type === 'join') joined(c, f, 0);
      else if (f.type === 'send' && c.n === 1) c.send({ type: 'error', code: 'SHUTTING_DOWN', message: 'restarting', ref: f.ref as string });
      else if (f.type === 'send') ack(c, f, 1);
    });
    const c = await connect(srv.url, { drainWaitMaxMs: 100 });
    await c.join('r');
    const t0 = performance.now();
    expect((await c.send('r', 'hello')).id).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(await srv.conns[0]?.closed).toBe(1000);
    expect(c.stats()).toMatchObject({ reconnects: 1, resent: 1 });
  });

  it('sends again what was cut off before its ack, in the original order', async () => {
    const got: string[] = [];
    const srv = await fakeServer((c, f) => {
      if (f.type === 'join') joined(c, f, 0);
      else if (f.type === 'send' && c.n === 1) {
        // Swallow both, then die without a close frame.
        if (f.text === 'two') c.ws.terminate();
      } else if (f.type === 'send') {
        got.push(f.text as string);
        ack(c, f, got.length);
      }
    });
    const c = await connect(srv.url);
    await c.join('r');
    const [a1, a2] = await Promise.all([c.send('r', 'one'), c.send('r', 'two')]);
    expect([a1.id, a2.id]).toEqual([1, 2]);
    expect(got).toEqual(['one', 'two']);
    expect(c.stats()).toMatchObject({ reconnects: 1, resent: 2 });
  });

  it('after a 1012 re-joins, pages history after the highest id and delivers each id once, in order', async () => {
    const historyAsked: Array<number | undefined> = [];
    const srv = await fakeServer((c, f) => {
      if (c.n === 1 && f.type === 'join') {
        joined(c, f, 0);
        c.send(live(1));
        c.send(live(2));
        setTimeout(() => c.ws.close(1012, 'service restart'), 30);
      } else if (f.type === 'join') {
        // Live 9 overtakes the joined frame; the server has stored up to 8.
        c.send(live(9, f.room));
        joined(c, f, 8);
      } else if (f.type === 'history') {
        historyAsked.push(f.after);
        const page = [3, 4, 5, 6, 7, 8].filter((id) => id > (f.after ?? 0)).slice(0, f.limit).map((id) => msg(id));
        // Live traffic racing the catch-up: a new one and a duplicate of a page's message.
        c.send(live(10));
        c.send(live(4));
        c.send({ type: 'history', room: 'r', messages: page, ref: f.ref as string });
      }
    });
    const c = await connect(srv.url, { historyPageSize: 3 });
    const reconnected = new Promise<{ gapMs: number }>((resolve) => c.once('reconnected', resolve));
    await c.join('r');
    const { gapMs } = await reconnected;
    await expect.poll(() => ids(c.received)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(historyAsked).toEqual([2, 5, 8]);
    const s = c.stats();
    expect(s).toMatchObject({ reconnects: 1, late: 0 });
    expect(s.duplicates).toBeGreaterThanOrEqual(3);
    expect(s.longestGapMs).toBe(gapMs);
    expect(gapMs).toBeLessThan(500);
  });

  it('gives up after maxAttempts when nothing answers, rejecting pending sends', async () => {
    const srv = await fakeServer((c, f) => {
      if (f.type === 'join') joined(c, f, 0);
    });
    const c = await connect(srv.url, { maxAttempts: 3 });
    await c.join('r');
    const gaveUp = new Promise<ChatClientError>((resolve) => c.once('give-up', resolve));
    for (const ws of srv.wss.clients) ws.terminate();
    await new Promise((r) => srv.wss.close(r));
    const pending = c.send('r', 'into the void').catch((e: ChatClientError) => e);
    const err = await gaveUp;
    expect(err.code).toBe(ChatClientErrorCode.CLOSED);
    expect(err.message).toMatch(/gave up reconnecting after 3 attempt/);
    expect((await pending as ChatClientError).code).toBe(ChatClientErrorCode.CLOSED);
    await expect(c.send('r', 'after')).rejects.toBe(err);
  });

  it('does not reconnect after 1008', async () => {
    const srv = await fakeServer((c, f) => {
      if (f.type === 'join') {
        joined(c, f, 0);
        c.ws.close(1008, 'rate limit exceeded');
      }
    });
    const c = await connect(srv.url);
    const gaveUp = new Promise<ChatClientError>((resolve) => c.once('give-up', resolve));
    await c.join('r');
    expect((await gaveUp).closeCode).toBe(1008);
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.conns).toHaveLength(1);
  });
});
