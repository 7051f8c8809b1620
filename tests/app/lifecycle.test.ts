/**
 * The bundle as deployed: plain `node messenger-chat.mjs` from a directory without node_modules, against a
 * real MariaDB and Redis. Config errors, graceful SIGTERM with reconnect-and-catch-up losing nothing, and the
 * Redis bus between instances, through an instance SIGKILLed and Redis restarted.
 */
import { readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type ChatClientError } from '../../app/src/chat-client.js';
import { ErrorCode, type ChatMessage } from '../../app/src/protocol.js';
import { mintToken } from '../../app/src/token.js';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { startRedis, type ThrowawayRedis } from '../helpers/redis.js';
import { buildBundle, runBundle, SECRET, stopProcess, waitForHttp, type AppProcess } from './fixture.js';
import { parseExposition, sampleValue } from './prom-text.js';

let db: ThrowawayMariaDb;
let redis: ThrowawayRedis;
let bundle: string;
const bundleDirs: string[] = [];
const procs: AppProcess[] = [];

beforeAll(async () => {
  [db, redis, bundle] = await Promise.all([startMariaDb(), startRedis(), buildBundle()]);
  bundleDirs.push(dirname(bundle));
});

afterAll(async () => {
  for (const p of procs) await stopProcess(p);
  await db?.stop();
  await redis?.stop();
  for (const d of bundleDirs) await rm(d, { recursive: true, force: true });
});

async function startApp(env: Record<string, string>, port?: number): Promise<AppProcess> {
  const p = runBundle(bundle, { ...db.env(), ...env }, port ?? (await freePort()));
  procs.push(p);
  await waitForHttp(`http://127.0.0.1:${p.port}/readyz`);
  return p;
}

describe('bundle', () => {
  it('is deterministic and described by its manifest', async () => {
    const again = await buildBundle();
    bundleDirs.push(dirname(again));
    const [a, b] = await Promise.all([readFile(bundle), readFile(again)]);
    expect(a.equals(b)).toBe(true);
    expect(a.toString()).not.toMatch(/\/work\/main/);
    const manifest = JSON.parse(await readFile(join(bundle, '..', 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toEqual({
      name: 'messenger-chat',
      version: expect.any(String),
      node: '>=20',
      entry: 'messenger-chat.mjs',
      files: { 'messenger-chat.mjs': createHash('sha256').update(a).digest('hex') },
    });
  });

  it('serves Prometheus text on /metrics with prom-client inlined', async () => {
    await db.createDatabase('metrics');
    const app = await startApp({ MESSENGER_DB_NAME: 'metrics' });
    const res = await fetch(`http://127.0.0.1:${app.port}/metrics`);
    expect(res.status).toBe(200);
    const families = parseExposition(await res.text());
    const { version } = JSON.parse(await readFile(join(bundle, '..', 'manifest.json'), 'utf8')) as { version: string };
    expect(sampleValue(families, 'messenger_build_info', { version })).toBe(1);
    expect(families.get('messenger_nodejs_eventloop_lag_p99_seconds')?.type).toBe('gauge');
    expect(await stopProcess(app)).toBe(0);
  });

  it('exits 1 with one log line naming a missing or bad variable', async () => {
    for (const [env, variable] of [
      [{ MESSENGER_JWT_SECRET: '' }, 'MESSENGER_JWT_SECRET'],
      [{ MESSENGER_JWT_SECRET: 'too-short' }, 'MESSENGER_JWT_SECRET'],
      [{ MESSENGER_DB_POOL: 'many' }, 'MESSENGER_DB_POOL'],
    ] as const) {
      const p = runBundle(bundle, { ...db.env(), ...env }, await freePort());
      expect(await p.exited).toBe(1);
      const lines = p.stdout.filter((l) => l.trim());
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 'error', variable, code: 'MI_ERR_APP_CONFIG' });
    }
  });
});

describe('graceful shutdown', () => {
  it('closes with 1012 over the drain spread on SIGTERM; a reconnecting client catches up and loses no acked message', async () => {
    await db.createDatabase('shutdown');
    const env = {
      MESSENGER_DB_NAME: 'shutdown', MESSENGER_DB_SOCKET: db.socketPath, MESSENGER_RATE_PER_SEC: '1000', MESSENGER_RATE_BURST: '1000',
      MESSENGER_DRAIN_SPREAD_MS: '500',
    };
    const app = await startApp(env);
    const url = `ws://127.0.0.1:${app.port}/ws`;
    const reader = await ChatClient.connect({ url, token: await mintToken(SECRET, 'reader', 300) });
    const writer = await ChatClient.connect({ url, token: await mintToken(SECRET, 'writer', 300) });
    await reader.join('drain');
    await writer.join('drain');

    // Pipelined sends (no waiting for acks) so some are in flight when SIGTERM lands.
    const acked: number[] = [];
    const refused: string[] = [];
    const pending: Array<Promise<void>> = [];
    let i = 0;
    const writing = (async () => {
      while (!writer.closed && i < 5000) {
        for (let k = 0; k < 20 && !writer.closed; k++, i++) {
          pending.push(writer.send('drain', `n${i}`).then((a) => void acked.push(a.id), (e: ChatClientError) => void refused.push(e.frame?.code ?? e.code)));
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    process.kill(app.child.pid as number, 'SIGTERM');
    const [rc, rClose, wClose] = await Promise.all([app.exited, reader.waitForClose(), writer.waitForClose()]);
    await writing;
    await Promise.all(pending);
    expect(rc).toBe(0);
    expect(rClose).toEqual({ code: 1012, reason: 'service restart' });
    expect(wClose.code).toBe(1012);
    expect(acked.length).toBeGreaterThan(20);
    // Anything unacked was refused explicitly or cut off by the close, never silently "sent".
    expect(refused.filter((c) => c !== ErrorCode.SHUTTING_DOWN && c !== 'MI_ERR_CHAT_CLOSED')).toEqual([]);
    expect(app.stdout.some((l) => l.includes('"msg":"stopped"'))).toBe(true);

    // Restart on the same port; the reader catches up from its last live id.
    await startApp(env, app.port);
    const lastSeen = reader.received.at(-1)?.id ?? 0;
    const again = await ChatClient.connect({ url, token: await mintToken(SECRET, 'reader', 300) });
    await again.join('drain');
    const caught: ChatMessage[] = [];
    for (let after = lastSeen; ;) {
      const page = (await again.history('drain', { after, limit: 500 })).messages;
      caught.push(...page);
      if (page.length < 500) break;
      after = page.at(-1)?.id ?? after;
    }
    const seen = new Set([...reader.received.map((m) => m.id), ...caught.map((m) => m.id)]);
    expect(acked.filter((id) => !seen.has(id))).toEqual([]);
    // Live ids were in order and the catch-up continues after them.
    const live = reader.received.map((m) => m.id);
    expect([...live].sort((x, y) => x - y)).toEqual(live);
    await again.close();
  });
});

describe('the Redis bus between instances', () => {
  it('delivers a message accepted by one instance to members on the other (ws and HTTP), each once', async () => {
    await db.createDatabase('bus');
    const common = { MESSENGER_DB_NAME: 'bus', ...redis.env() };
    const [a, b] = await Promise.all([startApp({ ...common, MESSENGER_INSTANCE: 'a' }), startApp({ ...common, MESSENGER_INSTANCE: 'b' })]);
    for (const p of [a, b]) await waitForHttp(`http://127.0.0.1:${p.port}/readyz`, (r) => r.bus === 'up');
    const onA = await ChatClient.connect({ url: `ws://127.0.0.1:${a.port}/ws`, token: await mintToken(SECRET, 'ann', 60) });
    const onB = await ChatClient.connect({ url: `ws://127.0.0.1:${b.port}/ws`, token: await mintToken(SECRET, 'ben', 60) });
    await onA.join('across');
    await onB.join('across');
    const ackA = await onA.send('across', 'from a');
    expect(await onB.waitForMessage({ id: ackA.id })).toMatchObject({ user: 'ann', text: 'from a' });
    const ackB = await onB.send('across', 'from b');
    expect(await onA.waitForMessage({ id: ackB.id })).toMatchObject({ user: 'ben', text: 'from b' });
    const post = await fetch(`http://127.0.0.1:${b.port}/api/rooms/across/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await mintToken(SECRET, 'poller', 60)}` },
      body: JSON.stringify({ text: 'via http on b' }),
    });
    const stored = (await post.json()) as ChatMessage;
    expect(await onA.waitForMessage({ id: stored.id })).toMatchObject({ text: 'via http on b' });
    // Each message arrives exactly once on each side.
    await new Promise((r) => setTimeout(r, 200));
    expect(onA.received.map((m) => m.id)).toEqual([ackA.id, ackB.id, stored.id]);
    expect(onB.received.map((m) => m.id)).toEqual([ackA.id, ackB.id, stored.id]);

    // The bus's state is for this host: through a proxy (nginx) /readyz gives the verdict only.
    const proxied = await fetch(`http://127.0.0.1:${a.port}/readyz`, { headers: { 'x-forwarded-for': '203.0.113.1' } });
    expect(await proxied.json()).toEqual({ status: 'ready' });
    await onA.close();
    await onB.close();
  });
});

describe('per-room order across instances (issue 15, part 2)', () => {
  it('a reader on a third instance gets every acked message of two sending instances once and in seq order, one sender SIGKILLed and Redis restarted mid-loop', async () => {
    await db.createDatabase('order');
    const ports = [await freePort(), await freePort(), await freePort()];
    const apps = await Promise.all(ports.map((p, i) => startApp({ MESSENGER_DB_NAME: 'order', MESSENGER_INSTANCE: `i${i}`, ...redis.env() }, p)));
    for (const p of ports) await waitForHttp(`http://127.0.0.1:${p}/readyz`, (r) => r.bus === 'up');
    const connect = async (port: number, user: string) => ChatClient.connect({ url: `ws://127.0.0.1:${port}/ws`, token: await mintToken(SECRET, user, 300) });
    const reader = await connect(ports[2]!, 'reader');
    await reader.join('order');
    // Five senders on each of the first two instances, 30 messages each (within a connection's burst).
    const PER_CLIENT = 30;
    const senders = await Promise.all([0, 1].flatMap((i) => Array.from({ length: 5 }, (_, k) => connect(ports[i]!, `s${i}-${k}`))));
    for (const s of senders) await s.join('order');

    const acked: number[] = [];
    const ackedBy: number[][] = [[], []];
    let killed = false;
    let redisRestart: Promise<void> | undefined;
    // Both instances write the room at once; Redis restarts once 40 messages are acked (everything
    // published while it is down is lost to pub/sub), and the second instance dies once 60 of its
    // messages are acked, with writes in flight.
    const loop = async (c: ChatClient, i: number, k: number): Promise<void> => {
      for (let n = 0; n < PER_CLIENT; n++) {
        let ack;
        try {
          ack = await c.send('order', `s${i}-${k}-${n}`);
        } catch {
          expect(i === 1 && killed).toBe(true);
          return;
        }
        acked.push(ack.id);
        ackedBy[i]!.push(ack.id);
        if (acked.length >= 40 && !redisRestart) redisRestart = redis.restart(300);
        if (i === 1 && !killed && ackedBy[1]!.length >= 60) {
          killed = true;
          apps[1]!.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(senders.map((c, j) => loop(c, j < 5 ? 0 : 1, j % 5)));
    await apps[1]!.exited;
    await redisRestart;
    // The survivor's last message reaches the reader over the bus, or as a mark once Redis is back
    // (bounded wait); what was published while Redis was away, and the killed one's last messages,
    // are read from the database.
    await reader.waitForMessage({ id: Math.max(...ackedBy[0]!) }).catch((e: Error) => {
      throw new Error(`${e.message}: the reader has ${reader.received.length} of ${acked.length} acked (last seq ${reader.received.at(-1)?.seq})`);
    });

    // Live: each seq once, strictly one after the other; ids rise with them.
    const live = reader.received.filter((m) => m.room === 'order');
    const seqs = live.map((m) => m.seq!);
    expect(seqs.every((s) => Number.isInteger(s))).toBe(true);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const ids = live.map((m) => m.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    // After catch-up from the last id seen, every acked message is there exactly once.
    const caught = (await reader.history('order', { after: ids.at(-1)!, limit: 500 })).messages;
    const all = [...live, ...caught].map((m) => m.id);
    expect(new Set(all).size).toBe(all.length);
    expect(acked.filter((id) => !all.includes(id))).toEqual([]);
    expect(ackedBy[0]!.length).toBe(5 * PER_CLIENT);
    expect(ackedBy[1]!.length).toBeGreaterThanOrEqual(60);
    // Redis' outage was seen and named: the bus came back on the survivors and they caught up.
    for (const p of [ports[0]!, ports[2]!]) await waitForHttp(`http://127.0.0.1:${p}/readyz`, (r) => r.bus === 'up');
    expect(apps[2]!.stdout.join('\n')).toMatch(/"code":"MI_WARN_BUS_DOWN"/);
    for (const s of senders) s.close();
    reader.close();
  }, 60_000);
});
