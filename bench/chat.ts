/**
 * `npm run bench:chat [-- --clients N]`: a bounded load run on loopback against the real chat server
 * (with a throwaway MariaDB) and, in the same run, a naive `ws` broadcast server; prints connect time,
 * RSS per connection, broadcast deliveries/s and fan-out latency p50/p95/p99, and the ratios.
 *
 * Roles (same file, chosen by --role): main (default), `naive` (the naive server), `clients` (a load
 * worker holding a share of the connections; several run so 10k sockets are not all in one process).
 * Flags: --clients N (2000), --fanout N (members of the fan-out room, min(1000, N)), --messages N (paced
 * latency messages, 100), --rate N (paced messages/s, 20), --burst N (burst messages, 200),
 * --workers N (max(2, ceil(N/2500))), --timeout-s N (600, hard bound of the whole run).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { mintToken } from '../app/src/token.js';
import { freePort, startMariaDb } from '../tests/helpers/mariadb.js';

const argv = process.argv.slice(2);
function flag(name: string, def: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
}
function sflag(name: string, def: string): string {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : (argv[i + 1] ?? def);
}
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOM_SIZE = 100;

// ---------------- naive server: rooms + broadcast, no auth, no storage ----------------
function runNaive(): void {
  const port = flag('port', 0);
  const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  let id = 0;
  wss.on('connection', (ws) => {
    const mine = new Set<string>();
    ws.on('message', (data) => {
      let f: { type?: string; room?: string; text?: string; ref?: unknown };
      try { f = JSON.parse(data.toString()); } catch { return; }
      if (f.type === 'join' && f.room) {
        let s = rooms.get(f.room);
        if (!s) rooms.set(f.room, (s = new Set()));
        s.add(ws);
        mine.add(f.room);
        ws.send(JSON.stringify({ type: 'joined', room: f.room, lastId: id, ref: f.ref }));
      } else if (f.type === 'send' && f.room) {
        id += 1;
        const ts = new Date().toISOString();
        ws.send(JSON.stringify({ type: 'ack', ref: f.ref, id, ts }));
        const msg = JSON.stringify({ type: 'message', room: f.room, id, user: 'naive', text: f.text, ts });
        for (const m of rooms.get(f.room) ?? []) m.send(msg);
      }
    });
    ws.on('close', () => { for (const r of mine) rooms.get(r)?.delete(ws); });
    ws.on('error', () => {});
  });
  wss.on('listening', () => process.send?.({ listening: (wss.address() as { port: number }).port }));
}

// ---------------- load worker ----------------
// Fan-out members are every `stride`-th client, so they spread over all workers.
interface WorkerJob { url: string; token: string; from: number; to: number; fanout: number; stride: number }
function runClients(): void {
  const sockets: WebSocket[] = [];
  const latencies: number[] = [];
  let received = 0;
  process.on('message', async (msg: { job?: WorkerJob; report?: boolean; reset?: boolean; close?: boolean }) => {
    if (msg.job) {
      const j = msg.job;
      const connectMs: number[] = [];
      const t0 = now();
      let next = j.from;
      let failures = 0;
      const one = async (i: number) => {
        const t = now();
        const ws = new WebSocket(j.url, { headers: { authorization: `Bearer ${j.token}` }, perMessageDeflate: false });
        await new Promise<void>((resolve) => {
          ws.once('open', () => resolve());
          ws.once('error', () => { failures += 1; resolve(); });
        });
        if (ws.readyState !== WebSocket.OPEN) return;
        connectMs.push(now() - t);
        sockets.push(ws);
        ws.on('error', () => {});
        ws.on('message', (data) => {
          const s = data.toString();
          if (!s.startsWith('{"type":"message"')) return;
          received += 1;
          const f = JSON.parse(s) as { text: string };
          const sent = Number(f.text.slice(0, f.text.indexOf(' ')));
          if (sent > 0) latencies.push(now() - sent);
        });
        const rooms = [`g${Math.floor(i / ROOM_SIZE)}`];
        if (i % j.stride === 0 && i / j.stride < j.fanout) rooms.push('fanout');
        let joined = 0;
        await new Promise<void>((resolve) => {
          const on = (data: WebSocket.RawData) => {
            if (data.toString().startsWith('{"type":"joined"') && ++joined === rooms.length) { ws.off('message', on); resolve(); }
          };
          ws.on('message', on);
          for (const r of rooms) ws.send(JSON.stringify({ type: 'join', room: r }));
        });
      };
      const lanes = Array.from({ length: 100 }, async () => { while (next < j.to) await one(next++); });
      await Promise.all(lanes);
      process.send?.({ connected: sockets.length, failures, wallMs: now() - t0, connectMs });
    }
    if (msg.reset) { latencies.length = 0; received = 0; process.send?.({ resetDone: true }); }
    if (msg.report) process.send?.({ received, latencies });
    if (msg.close) {
      for (const ws of sockets) ws.terminate();
      setTimeout(() => process.exit(0), 100);
    }
  });
}

// ---------------- orchestration ----------------
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
function ask<T>(w: ChildProcess, msg: object, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => { if (key in m) { w.off('message', on); resolve(m as T); } };
    w.on('message', on);
    w.send(msg);
  });
}

interface Figures {
  clients: number; connected: number; connectWallMs: number; connectP50: number; connectP99: number;
  rssBeforeMb: number; rssAfterMb: number; rssPerConnKb: number;
  latP50: number; latP95: number; latP99: number; latDelivered: number; latExpected: number;
  burstDeliveriesPerSec: number; burstDelivered: number; burstExpected: number;
}

async function scenario(name: string, url: string, token: string, serverPid: number, o: { clients: number; fanout: number; messages: number; rate: number; burst: number; workers: number }): Promise<Figures> {
  const me = new URL(import.meta.url).pathname;
  const workers = Array.from({ length: o.workers }, () => fork(me, ['--role', 'clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await sleep(300);
    const rssBefore = rssOf(serverPid);
    const per = Math.ceil(o.clients / o.workers);
    const t0 = now();
    const results = await Promise.all(workers.map((w, k) => ask<{ connected: number; failures: number; connectMs: number[] }>(w, { job: { url, token, from: k * per, to: Math.min(o.clients, (k + 1) * per), fanout: o.fanout, stride: Math.max(1, Math.floor(o.clients / Math.max(1, o.fanout))) } }, 'connected')));
    const connectWallMs = now() - t0;
    const connectMs = results.flatMap((r) => r.connectMs).sort((a, b) => a - b);
    const connected = results.reduce((s, r) => s + r.connected, 0);
    await sleep(500);
    const rssAfter = rssOf(serverPid);
    const fanoutMembers = Math.min(o.fanout, connected);

    // Sender: one extra connection in this process, member of the fan-out room.
    const sender = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => { sender.once('open', () => resolve()); sender.once('error', reject); });
    sender.send(JSON.stringify({ type: 'join', room: 'fanout', ref: 'j' }));
    await new Promise<void>((resolve) => sender.on('message', (d) => { if (d.toString().startsWith('{"type":"joined"')) resolve(); }));
    let ref = 0;
    const sendOne = () => sender.send(JSON.stringify({ type: 'send', room: 'fanout', text: `${now()} ${'x'.repeat(64)}`, ref: ++ref }));
    const collect = async (expected: number, boundMs: number) => {
      const deadline = now() + boundMs;
      for (;;) {
        const reps = await Promise.all(workers.map((w) => ask<{ received: number; latencies: number[] }>(w, { report: true }, 'received')));
        const got = reps.reduce((s, r) => s + r.received, 0);
        if (got >= expected || now() > deadline) return { got, latencies: reps.flatMap((r) => r.latencies), at: now() };
        await sleep(50);
      }
    };

    // Warm-up (JIT, pool connections, page cache), not measured.
    for (let i = 0; i < 20; i++) { sendOne(); await sleep(10); }
    await collect(20 * fanoutMembers, 10_000);
    await Promise.all(workers.map((w) => ask(w, { reset: true }, 'resetDone')));

    // Phase 1: paced messages → fan-out latency.
    for (let i = 0; i < o.messages; i++) { sendOne(); await sleep(1000 / o.rate); }
    const lat = await collect(o.messages * fanoutMembers, 30_000);
    const sorted = lat.latencies.sort((a, b) => a - b);

    // Phase 2: a burst sent as fast as the socket takes it → deliveries per second.
    await Promise.all(workers.map((w) => ask(w, { reset: true }, 'resetDone')));
    const b0 = now();
    for (let i = 0; i < o.burst; i++) sendOne();
    const burst = await collect(o.burst * fanoutMembers, 60_000);
    const burstSecs = (burst.at - b0) / 1000;
    sender.terminate();

    const f: Figures = {
      clients: o.clients, connected, connectWallMs, connectP50: pct(connectMs, 50), connectP99: pct(connectMs, 99),
      rssBeforeMb: rssBefore / 2 ** 20, rssAfterMb: rssAfter / 2 ** 20, rssPerConnKb: (rssAfter - rssBefore) / Math.max(1, connected) / 1024,
      latP50: pct(sorted, 50), latP95: pct(sorted, 95), latP99: pct(sorted, 99), latDelivered: lat.got, latExpected: o.messages * fanoutMembers,
      burstDeliveriesPerSec: burst.got / burstSecs, burstDelivered: burst.got, burstExpected: o.burst * fanoutMembers,
    };
    console.log(`\n[${name}]`);
    console.log(`  connections        ${connected}/${o.clients} in ${(connectWallMs / 1000).toFixed(2)} s (per connection p50 ${f.connectP50.toFixed(1)} ms, p99 ${f.connectP99.toFixed(1)} ms)`);
    console.log(`  server RSS         ${f.rssBeforeMb.toFixed(0)} MB idle → ${f.rssAfterMb.toFixed(0)} MB held (${f.rssPerConnKb.toFixed(1)} KB per connection)`);
    console.log(`  fan-out latency    p50 ${f.latP50.toFixed(1)} ms, p95 ${f.latP95.toFixed(1)} ms, p99 ${f.latP99.toFixed(1)} ms (${o.messages} msgs at ${o.rate}/s to ${fanoutMembers} members; ${lat.got}/${f.latExpected} delivered)`);
    console.log(`  burst throughput   ${f.burstDeliveriesPerSec.toFixed(0)} deliveries/s (${o.burst} msgs × ${fanoutMembers} members; ${burst.got}/${f.burstExpected} delivered in ${burstSecs.toFixed(2)} s)`);
    return f;
  } finally {
    for (const w of workers) { try { w.send({ close: true }); } catch { /* gone */ } }
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  }
}

async function main(): Promise<void> {
  const clients = flag('clients', 2000);
  const o = {
    clients,
    fanout: flag('fanout', Math.min(1000, clients)),
    messages: flag('messages', 100),
    rate: Math.max(1, flag('rate', 20)),
    burst: flag('burst', 200),
    workers: Math.max(1, flag('workers', Math.max(2, Math.ceil(clients / 2500)))),
  };
  const bound = setTimeout(() => { console.error('bench:chat exceeded its time bound; stopping'); process.exit(2); }, flag('timeout-s', 600) * 1000);
  bound.unref();
  console.log(`bench:chat — ${o.clients} clients in rooms of ${ROOM_SIZE}, fan-out room of ${o.fanout}, ${o.workers} load worker(s), loopback only`);
  const db = await startMariaDb();
  const children: ChildProcess[] = [];
  try {
    const secret = 'bench-secret-0123456789-abcdefghijklmn';
    const token = await mintToken(secret, 'bench', 3600);
    const port = await freePort();
    const root = join(new URL('.', import.meta.url).pathname, '..');
    const app = spawn(process.execPath, ['--import', 'tsx', join(root, 'app/src/main.ts')], {
      cwd: root,
      env: { ...process.env, ...db.env(true), MESSENGER_PORT: String(port), MESSENGER_JWT_SECRET: secret, MESSENGER_LOG_LEVEL: 'warn',
        MESSENGER_RATE_PER_SEC: '100000', MESSENGER_RATE_BURST: '100000', MESSENGER_DB_POOL: '10' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(app);
    let appOut = '';
    app.stdout?.on('data', (d: Buffer) => { appOut += d.toString(); if (appOut.length > 1e6) appOut = appOut.slice(-1e5); });
    // Warn level hides "listening"; poll /readyz instead.
    for (let i = 0; ; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break; } catch { /* not yet */ }
      if (i > 300) throw new Error('chat server not ready');
      await sleep(100);
    }
    const chat = await scenario('messenger-chat (auth + MariaDB + rate limit + backpressure)', `ws://127.0.0.1:${port}/ws`, token, app.pid as number, o);
    const slow = appOut.split('\n').filter((l) => l.includes('slow consumer')).length;
    if (slow) console.log(`  (server dropped ${slow} slow consumers)`);
    process.kill(app.pid as number, 'SIGTERM');
    await new Promise((r) => app.once('exit', r));

    const naivePort = await freePort();
    const naive = fork(new URL(import.meta.url).pathname, ['--role', 'naive', '--port', String(naivePort)], { execArgv: ['--import', 'tsx'] });
    children.push(naive);
    await new Promise((r) => naive.once('message', r));
    const base = await scenario('naive ws broadcast (no auth, no storage)', `ws://127.0.0.1:${naivePort}/ws`, token, naive.pid as number, o);
    process.kill(naive.pid as number, 'SIGTERM');

    const r = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
    console.log('\n[ratio messenger-chat / naive]');
    console.log(`  connect wall time  ${r(chat.connectWallMs, base.connectWallMs)}×`);
    console.log(`  RSS per connection ${r(chat.rssPerConnKb, base.rssPerConnKb)}×`);
    console.log(`  latency p50/p95/p99 ${r(chat.latP50, base.latP50)}× / ${r(chat.latP95, base.latP95)}× / ${r(chat.latP99, base.latP99)}×`);
    console.log(`  deliveries/s       ${r(chat.burstDeliveriesPerSec, base.burstDeliveriesPerSec)}×`);
    console.log('\n[targets]');
    console.log(`  server RSS with ${chat.connected} connections: ${chat.rssAfterMb.toFixed(0)} MB (target < 1024 MB at 10,000) ${chat.rssAfterMb < 1024 ? 'OK' : 'MISSED'}`);
    console.log(`  fan-out p99 at ${o.fanout} members: ${chat.latP99.toFixed(1)} ms (target < 100 ms at 1,000) ${chat.latP99 < 100 ? 'OK' : 'MISSED'}`);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) { try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ } }
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
    await db.stop();
  }
}

const role = sflag('role', 'main');
if (role === 'naive') runNaive();
else if (role === 'clients') runClients();
else main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
