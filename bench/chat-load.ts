/**
 * The load side of the chat benchmarks (bench/chat.ts, bench/bus.ts): load workers, each holding a
 * share of the connections in its own process (started as `chat-load.ts --role clients`), and one
 * scenario (connect, paced fan-out latency, burst throughput) against one server or several
 * instances of it, clients spread over them round-robin. Loopback only; every phase is bounded.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openConn, type LoadConn, type LoadTarget } from './load-conn.js';

const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const ROOM_SIZE = 100;

// ---------------- load worker ----------------
// Fan-out members are every `stride`-th client, so they spread over all workers.
interface WorkerJob { urls: string[]; token: string; target: LoadTarget; from: number; to: number; fanout: number; stride: number }
function runClients(): void {
  const conns: LoadConn[] = [];
  const latencies: number[] = [];
  let received = 0;
  let drops = 0;
  process.on('message', async (msg: { job?: WorkerJob; report?: boolean; reset?: boolean; take?: boolean; close?: boolean }) => {
    if (msg.job) {
      const j = msg.job;
      const connectMs: number[] = [];
      const t0 = now();
      const cpu0 = process.cpuUsage();
      let next = j.from;
      let failures = 0;
      const one = async (i: number) => {
        const t = now();
        const c = await openConn(j.urls[i % j.urls.length]!, j.token, j.target);
        if (!c) {
          failures += 1;
          return;
        }
        connectMs.push(now() - t);
        conns.push(c);
        c.onDrop(() => (drops += 1));
        c.onMessage((text) => {
          received += 1;
          const sent = Number(text.slice(0, text.indexOf(' ')));
          if (sent > 0) latencies.push(now() - sent);
        });
        try {
          await c.join(`g${Math.floor(i / ROOM_SIZE)}`);
          if (j.fanout > 0 && i % j.stride === 0 && i / j.stride < j.fanout) await c.join('fanout');
        } catch {
          failures += 1;
        }
      };
      const lanes = Array.from({ length: 100 }, async () => { while (next < j.to) await one(next++); });
      await Promise.all(lanes);
      process.send?.({ connected: conns.length, failures, wallMs: now() - t0, connectMs, cpuMs: cpuMs(cpu0) });
    }
    if (msg.reset) { latencies.length = 0; received = 0; process.send?.({ resetDone: true, cpu: process.cpuUsage() }); }
    if (msg.report) process.send?.({ received, latencies, drops, cpu: process.cpuUsage() });
    // Report and reset in one step: nothing received between the two goes uncounted.
    if (msg.take) {
      process.send?.({ taken: true, received, latencies: latencies.splice(0), drops });
      received = 0;
    }
    if (msg.close) {
      for (const c of conns) c.close();
      setTimeout(() => process.exit(0), 100);
    }
  });
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
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
  /** The busiest load worker's CPU during the latency phase, as a share of one core. */
  loadWorkerCpu: number;
}

export interface LoadOptions {
  clients: number; fanout: number; messages: number; rate: number; burst: number; workers: number;
  /** Unmeasured messages first (JIT, pools, caches); default 20. */
  warmup?: number;
  /** The protocol and TLS of the clients; default the chat's JSON frames, plain ws. */
  target?: LoadTarget;
  /** Read just before and after the connect phase and the latency phase (the server side's CPU); their lines are printed. */
  probes?: { connect?: PhaseProbe; latency?: PhaseProbe };
}

/** Something read before and after a measured phase; `end` says in one line what changed. */
export interface PhaseProbe { begin(): Promise<void>; end(phaseMs: number): Promise<string> }

/** What the server side measures: its RSS in bytes now, and how many processes that sums. */
export interface ServerRss { read(): number | Promise<number>; processes: number }

/** RSS summed over local PIDs. */
export function localRss(pids: number[]): ServerRss {
  return { read: () => pids.reduce((sum, pid) => sum + rssOf(pid), 0), processes: pids.length };
}

/**
 * One measured run against `urls` (one per server instance; client i connects to urls[i % n], the
 * sender to urls[0], so with several instances most deliveries cross the bus): connect, paced
 * fan-out latency, then (unless burst is 0) a burst for deliveries/s. The load workers' own CPU is
 * reported, so a saturated generator shows.
 */
export async function scenario(name: string, urls: string[], token: string, rss: ServerRss, o: LoadOptions): Promise<Figures> {
  const target: LoadTarget = o.target ?? { proto: 'json' };
  const me = new URL(import.meta.url).pathname;
  const workers = Array.from({ length: o.workers }, () => fork(me, ['--role', 'clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    await sleep(300);
    const rssBefore = await rss.read();
    const per = Math.ceil(o.clients / o.workers);
    await o.probes?.connect?.begin();
    const t0 = now();
    const stride = Math.max(1, Math.floor(o.clients / Math.max(1, o.fanout)));
    const results = await Promise.all(workers.map((w, k) => ask<{ connected: number; failures: number; connectMs: number[] }>(w, { job: { urls, token, target, from: k * per, to: Math.min(o.clients, (k + 1) * per), fanout: o.fanout, stride } }, 'connected')));
    const connectWallMs = now() - t0;
    const connectProbed = await o.probes?.connect?.end(connectWallMs);
    const connectMs = results.flatMap((r) => r.connectMs).sort((a, b) => a - b);
    const connected = results.reduce((s, r) => s + r.connected, 0);
    await sleep(500);
    const rssAfter = await rss.read();
    const fanoutMembers = Math.min(o.fanout, connected);

    // Sender: one extra connection in this process, member of the fan-out room.
    const sender = await openConn(urls[0]!, token, target);
    if (!sender) throw new Error(`${name}: the sender could not connect`);
    await sender.join('fanout');
    const sendOne = () => sender.send('fanout', `${now()} ${'x'.repeat(64)}`);
    type Report = { received: number; latencies: number[]; cpu: NodeJS.CpuUsage };
    const collect = async (expected: number, boundMs: number) => {
      const deadline = now() + boundMs;
      for (;;) {
        const reps = await Promise.all(workers.map((w) => ask<Report>(w, { report: true }, 'received')));
        const got = reps.reduce((s, r) => s + r.received, 0);
        if (got >= expected || now() > deadline) return { got, latencies: reps.flatMap((r) => r.latencies), at: now(), cpu: reps.map((r) => r.cpu) };
        await sleep(50);
      }
    };

    const warmup = o.warmup ?? 20;
    for (let i = 0; i < warmup; i++) { sendOne(); await sleep(10); }
    await collect(warmup * fanoutMembers, 10_000);
    const cpuStart = (await Promise.all(workers.map((w) => ask<{ cpu: NodeJS.CpuUsage }>(w, { reset: true }, 'resetDone')))).map((r) => r.cpu);

    // Phase 1: paced messages → fan-out latency.
    await o.probes?.latency?.begin();
    const l0 = now();
    for (let i = 0; i < o.messages; i++) { sendOne(); await sleep(1000 / o.rate); }
    const lat = await collect(o.messages * fanoutMembers, 30_000);
    const latencyProbed = await o.probes?.latency?.end(lat.at - l0);
    const sorted = lat.latencies.sort((a, b) => a - b);
    // The busiest load worker's CPU over the latency phase, as a share of one core.
    const busiest = Math.max(...lat.cpu.map((c, k) => (c.user + c.system - cpuStart[k]!.user - cpuStart[k]!.system) / 1000)) / (lat.at - l0);

    // Phase 2: a burst sent as fast as the socket takes it → deliveries per second.
    let burst = { got: 0, at: now() };
    let burstSecs = 0;
    if (o.burst > 0) {
      await Promise.all(workers.map((w) => ask(w, { reset: true }, 'resetDone')));
      const b0 = now();
      for (let i = 0; i < o.burst; i++) sendOne();
      burst = await collect(o.burst * fanoutMembers, 60_000);
      burstSecs = (burst.at - b0) / 1000;
    }
    sender.close();

    const f: Figures = {
      clients: o.clients, connected, connectWallMs, connectP50: pct(connectMs, 50), connectP99: pct(connectMs, 99),
      rssBeforeMb: rssBefore / 2 ** 20, rssAfterMb: rssAfter / 2 ** 20, rssPerConnKb: (rssAfter - rssBefore) / Math.max(1, connected) / 1024,
      latP50: pct(sorted, 50), latP95: pct(sorted, 95), latP99: pct(sorted, 99), latDelivered: lat.got, latExpected: o.messages * fanoutMembers,
      burstDeliveriesPerSec: burstSecs > 0 ? burst.got / burstSecs : NaN, burstDelivered: burst.got, burstExpected: o.burst * fanoutMembers,
      loadWorkerCpu: busiest,
    };
    console.log(`\n[${name}]`);
    console.log(`  connections        ${connected}/${o.clients} in ${(connectWallMs / 1000).toFixed(2)} s (per connection p50 ${f.connectP50.toFixed(1)} ms, p99 ${f.connectP99.toFixed(1)} ms)`);
    if (connectProbed) console.log(`  ${connectProbed}`);
    console.log(`  server RSS${rss.processes > 1 ? ` (${rss.processes} instances)` : '         '} ${f.rssBeforeMb.toFixed(0)} MB idle → ${f.rssAfterMb.toFixed(0)} MB held (${f.rssPerConnKb.toFixed(1)} KB per connection)`);
    console.log(`  fan-out latency    p50 ${f.latP50.toFixed(1)} ms, p95 ${f.latP95.toFixed(1)} ms, p99 ${f.latP99.toFixed(1)} ms (${o.messages} msgs at ${o.rate}/s to ${fanoutMembers} members; ${lat.got}/${f.latExpected} delivered)`);
    if (o.burst > 0) console.log(`  burst throughput   ${f.burstDeliveriesPerSec.toFixed(0)} deliveries/s (${o.burst} msgs × ${fanoutMembers} members; ${burst.got}/${f.burstExpected} delivered in ${burstSecs.toFixed(2)} s)`);
    if (latencyProbed) console.log(`  ${latencyProbed}`);
    console.log(`  load generator     busiest of ${o.workers} workers at ${(busiest * 100).toFixed(0)}% of a core during the latency phase${busiest > 0.8 ? ' (near saturation: the figures include its queueing)' : ''}`);
    return f;
  } finally {
    for (const w of workers) { try { w.send({ close: true }); } catch { /* gone */ } }
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  }
}

export interface SoakOptions {
  clients: number; minutes: number; workers: number; target: LoadTarget;
  /** Read when the messages start and when they stop; its line is printed last. */
  probe?: PhaseProbe;
}

/**
 * Holds `clients` connections in rooms of ROOM_SIZE for `minutes`, one message a second into each
 * room (from ten senders in this process, each within a connection's rate limit), and prints per
 * minute the fan-out p99, deliveries, dropped connections and the server's RSS, then every delivery
 * against those expected. Bounded by `minutes`.
 */
export interface SoakMinute { minute: number; p99: number; delivered: number; drops: number; rssMb: number }

export async function soak(name: string, url: string, token: string, rss: ServerRss, o: SoakOptions): Promise<{ rows: SoakMinute[]; delivered: number; expected: number }> {
  const me = new URL(import.meta.url).pathname;
  const workers = Array.from({ length: o.workers }, () => fork(me, ['--role', 'clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const senders: LoadConn[] = [];
  const rows: SoakMinute[] = [];
  try {
    await sleep(300);
    const per = Math.ceil(o.clients / o.workers);
    const t0 = now();
    const results = await Promise.all(workers.map((w, k) => ask<{ connected: number }>(w, { job: { urls: [url], token, target: o.target, from: k * per, to: Math.min(o.clients, (k + 1) * per), fanout: 0, stride: 1 } }, 'connected')));
    const connected = results.reduce((s, r) => s + r.connected, 0);
    const rooms = Math.ceil(o.clients / ROOM_SIZE);
    const members = (room: number) => Math.min(ROOM_SIZE, o.clients - room * ROOM_SIZE);
    console.log(`\n[${name}: soak]\n  ${connected}/${o.clients} connected in ${((now() - t0) / 1000).toFixed(1)} s; ${rooms} rooms, a message a second in each, ${o.minutes} min`);
    for (let k = 0; k < 10; k++) {
      const c = await openConn(url, token, o.target);
      if (!c) throw new Error(`${name}: a soak sender could not connect`);
      for (let r = k; r < rooms; r += 10) await c.join(`g${r}`);
      senders.push(c);
    }
    await Promise.all(workers.map((w) => ask(w, { reset: true }, 'resetDone')));
    await o.probe?.begin();
    const s0 = now();
    let expected = 0;
    let delivered = 0;
    // Each sender's turn comes once a second, a tenth of a second apart: the 100 rooms' messages
    // are spread over the second as users' are, not sent all at the same instant.
    let turn = 0;
    const tick = setInterval(() => {
      const k = turn++ % senders.length;
      for (let r = k; r < rooms; r += 10) {
        senders[k]!.send(`g${r}`, `${now()} soak`);
        expected += members(r);
      }
    }, 1000 / senders.length);
    type Report = { received: number; latencies: number[]; drops: number };
    const report = () => Promise.all(workers.map((w) => ask<Report>(w, { take: true }, 'taken')));
    try {
      let dropsBefore = 0;
      for (let minute = 1; minute <= o.minutes; minute++) {
        await sleep(60_000);
        const reps = await report();
        const lat = reps.flatMap((r) => r.latencies).sort((a, b) => a - b);
        const drops = reps.reduce((s, r) => s + r.drops, 0);
        const row = { minute, p99: pct(lat, 99), delivered: reps.reduce((s, r) => s + r.received, 0), drops: drops - dropsBefore, rssMb: (await rss.read()) / 2 ** 20 };
        delivered += row.delivered;
        dropsBefore = drops;
        rows.push(row);
        console.log(`  minute ${String(minute).padStart(2)}: p99 ${row.p99.toFixed(1)} ms, ${row.delivered} deliveries, ${row.drops} connections dropped, server RSS ${row.rssMb.toFixed(0)} MB`);
      }
    } finally {
      clearInterval(tick);
    }
    const probed = await o.probe?.end(now() - s0);
    // What was still in flight when the last minute ended.
    await sleep(3000);
    delivered += (await report()).reduce((s, r) => s + r.received, 0);
    const total = rows.reduce((s, r) => s + r.drops, 0);
    console.log(`  ${delivered} of ${expected} deliveries (${expected - delivered} missing); ${total} connections dropped in ${o.minutes} min; server RSS ${rows[0]!.rssMb.toFixed(0)} → ${rows.at(-1)!.rssMb.toFixed(0)} MB`);
    if (probed) console.log(`  ${probed}`);
    return { rows, delivered, expected };
  } finally {
    for (const c of senders) c.close();
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
