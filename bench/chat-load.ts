/**
 * The load side of the chat benchmarks (bench/chat.ts, bench/bus.ts): load workers, each holding a
 * share of the connections in its own process (started as `chat-load.ts --role clients`), and one
 * scenario (connect, paced fan-out latency, burst throughput) against one server or several
 * instances of it, clients spread over them round-robin. Loopback only; every phase is bounded.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';

const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const ROOM_SIZE = 100;

// ---------------- load worker ----------------
// Fan-out members are every `stride`-th client, so they spread over all workers.
interface WorkerJob { urls: string[]; token: string; from: number; to: number; fanout: number; stride: number }
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
        const ws = new WebSocket(j.urls[i % j.urls.length]!, { headers: { authorization: `Bearer ${j.token}` }, perMessageDeflate: false });
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
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
export function rssOf(pid: number): number {
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

export interface Figures {
  clients: number; connected: number; connectWallMs: number; connectP50: number; connectP99: number;
  rssBeforeMb: number; rssAfterMb: number; rssPerConnKb: number;
  latP50: number; latP95: number; latP99: number; latDelivered: number; latExpected: number;
  burstDeliveriesPerSec: number; burstDelivered: number; burstExpected: number;
}

export interface LoadOptions { clients: number; fanout: number; messages: number; rate: number; burst: number; workers: number }

/**
 * One measured run against `urls` (one per server instance; client i connects to urls[i % n], the
 * sender to urls[0], so with several instances most deliveries cross the bus). RSS is the sum over
 * `serverPids`.
 */
export async function scenario(name: string, urls: string[], token: string, serverPids: number[], o: LoadOptions): Promise<Figures> {
  const url = urls[0]!;
  const rssAll = () => serverPids.reduce((sum, pid) => sum + rssOf(pid), 0);
  const me = new URL(import.meta.url).pathname;
  const workers = Array.from({ length: o.workers }, () => fork(me, ['--role', 'clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await sleep(300);
    const rssBefore = rssAll();
    const per = Math.ceil(o.clients / o.workers);
    const t0 = now();
    const results = await Promise.all(workers.map((w, k) => ask<{ connected: number; failures: number; connectMs: number[] }>(w, { job: { urls, token, from: k * per, to: Math.min(o.clients, (k + 1) * per), fanout: o.fanout, stride: Math.max(1, Math.floor(o.clients / Math.max(1, o.fanout))) } }, 'connected')));
    const connectWallMs = now() - t0;
    const connectMs = results.flatMap((r) => r.connectMs).sort((a, b) => a - b);
    const connected = results.reduce((s, r) => s + r.connected, 0);
    await sleep(500);
    const rssAfter = rssAll();
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
    console.log(`  server RSS${serverPids.length > 1 ? ` (${serverPids.length} instances)` : '         '} ${f.rssBeforeMb.toFixed(0)} MB idle → ${f.rssAfterMb.toFixed(0)} MB held (${f.rssPerConnKb.toFixed(1)} KB per connection)`);
    console.log(`  fan-out latency    p50 ${f.latP50.toFixed(1)} ms, p95 ${f.latP95.toFixed(1)} ms, p99 ${f.latP99.toFixed(1)} ms (${o.messages} msgs at ${o.rate}/s to ${fanoutMembers} members; ${lat.got}/${f.latExpected} delivered)`);
    console.log(`  burst throughput   ${f.burstDeliveriesPerSec.toFixed(0)} deliveries/s (${o.burst} msgs × ${fanoutMembers} members; ${burst.got}/${f.burstExpected} delivered in ${burstSecs.toFixed(2)} s)`);
    return f;
  } finally {
    for (const w of workers) { try { w.send({ close: true }); } catch { /* gone */ } }
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  }
}


/** Starts the chat server (app/src/main.ts) with `env` on `port` and waits until /readyz says ready (and the bus is up when it has one). */
export async function startChat(env: Record<string, string>, port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const root = join(new URL('.', import.meta.url).pathname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'app/src/main.ts')], {
    cwd: root,
    env: { ...process.env, MESSENGER_PORT: String(port), MESSENGER_LOG_LEVEL: 'warn', MESSENGER_RATE_PER_SEC: '100000', MESSENGER_RATE_BURST: '100000', MESSENGER_DB_POOL: '10', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 1e6) out = out.slice(-1e5); });
  // Warn level hides "listening"; poll /readyz instead.
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200 && ((await res.json()) as { bus?: string }).bus !== 'connecting') break;
    } catch { /* not yet */ }
    if (i > 300) throw new Error(`chat server on ${port} not ready: ${out.slice(-2000)}`);
    await sleep(100);
  }
  return { child, output: () => out };
}

/** SIGTERM to each child still running, and wait for all of them. */
export async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) { try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ } }
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
}

if (process.argv.includes('--role') && process.argv[process.argv.indexOf('--role') + 1] === 'clients') runClients();
