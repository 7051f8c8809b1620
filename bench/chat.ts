/**
 * `npm run bench:chat [-- --clients N]`: a bounded load run on loopback against the real chat server
 * (with a throwaway MariaDB) and, in the same run, a naive `ws` broadcast server; prints connect time,
 * RSS per connection, broadcast deliveries/s and fan-out latency p50/p95/p99, and the ratios.
 *
 * Roles (same file, chosen by --role): main (default), `naive` (the naive server). The load workers
 * (several, so 10k sockets are not all in one process) and the scenario are in chat-load.ts.
 * Flags: --clients N (2000), --fanout N (members of the fan-out room, min(1000, N)), --messages N (paced
 * latency messages, 100), --rate N (paced messages/s, 20), --burst N (burst messages, 200),
 * --workers N (max(2, ceil(N/2500))), --timeout-s N (600, hard bound of the whole run).
 */
import { fork, type ChildProcess } from 'node:child_process';
import WebSocket, { WebSocketServer } from 'ws';
import { mintToken } from '../app/src/token.js';
import { freePort, startMariaDb } from '../tests/helpers/mariadb.js';
import { ROOM_SIZE, scenario, sleep, startChat, stopAll } from './chat-load.js';

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
    const { child: app, output } = await startChat({ ...db.env(true), MESSENGER_JWT_SECRET: secret }, port);
    children.push(app);
    const chat = await scenario('messenger-chat (auth + MariaDB + rate limit + backpressure)', [`ws://127.0.0.1:${port}/ws`], token, [app.pid as number], o);
    const slow = output().split('\n').filter((l) => l.includes('slow consumer')).length;
    if (slow) console.log(`  (server dropped ${slow} slow consumers)`);
    process.kill(app.pid as number, 'SIGTERM');
    await new Promise((r) => app.once('exit', r));

    const naivePort = await freePort();
    const naive = fork(new URL(import.meta.url).pathname, ['--role', 'naive', '--port', String(naivePort)], { execArgv: ['--import', 'tsx'] });
    children.push(naive);
    await new Promise((r) => naive.once('message', r));
    const base = await scenario('naive ws broadcast (no auth, no storage)', [`ws://127.0.0.1:${naivePort}/ws`], token, [naive.pid as number], o);
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
    await stopAll(children);
    await db.stop();
  }
}

const role = sflag('role', 'main');
if (role === 'naive') runNaive();
else main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
