/**
 * `npm run bench:chat [-- --clients N]`: a bounded load run on loopback against the real chat server
 * (with a throwaway MariaDB) and, in the same run, a naive `ws` broadcast server; prints connect time,
 * RSS per connection, broadcast deliveries/s and fan-out latency p50/p95/p99, and the ratios.
 *
 * The naive server is bench/peers.ts; the load workers (several, so 10k sockets are not all in one
 * process) and the scenario are in chat-load.ts.
 * `--via sandbox` instead measures through a sandbox deployment's nginx + TLS with the peers swapped
 * onto the same upstream, rounds interleaved (bench/chat-sandbox.ts).
 * Flags: --clients N (2000), --fanout N (members of the fan-out room, min(1000, N)), --messages N (paced
 * latency messages, 100), --rate N (paced messages/s, 20), --burst N (burst messages, 200),
 * --workers N (max(2, ceil(N/2500))), --timeout-s N (600, hard bound of the whole run).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../app/src/token.js';
import { freePort, startMariaDb } from '../tests/helpers/mariadb.js';
import { localRss, ROOM_SIZE, scenario, sleep, startChat, stopAll } from './chat-load.js';
import { benchViaSandbox } from './chat-sandbox.js';

const argv = process.argv.slice(2);
function flag(name: string, def: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
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
  console.log(`bench:chat — ${o.clients} clients in rooms of ${ROOM_SIZE}, fan-out room of ${o.fanout}, ${o.workers} load worker(s), loopback only`);
  const db = await startMariaDb();
  const children: ChildProcess[] = [];
  try {
    const secret = 'bench-secret-0123456789-abcdefghijklmn';
    const token = await mintToken(secret, 'bench', 3600);
    const port = await freePort();
    const { child: app, output } = await startChat({ ...db.env(true), MESSENGER_JWT_SECRET: secret }, port);
    children.push(app);
    const chat = await scenario('messenger-chat (auth + MariaDB + rate limit + backpressure)', [`ws://127.0.0.1:${port}/ws`], token, localRss([app.pid as number]), o);
    const slow = output().split('\n').filter((l) => l.includes('slow consumer')).length;
    if (slow) console.log(`  (server dropped ${slow} slow consumers)`);
    process.kill(app.pid as number, 'SIGTERM');
    await new Promise((r) => app.once('exit', r));

    const naivePort = await freePort();
    const naive = fork(fileURLToPath(new URL('peers.ts', import.meta.url)), ['naive', String(naivePort)], { execArgv: ['--import', 'tsx'] });
    children.push(naive);
    await new Promise((r) => naive.once('message', r));
    const base = await scenario('naive ws broadcast (no auth, no storage)', [`ws://127.0.0.1:${naivePort}/ws`], token, localRss([naive.pid as number]), o);
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

// The whole run is bounded: through the sandbox it also boots a guest and runs `up`.
const bound = setTimeout(() => { console.error('bench:chat exceeded its time bound; stopping'); process.exit(2); }, flag('timeout-s', argv.includes('--via') ? 1200 + flag('soak-minutes', 0) * 60 : 600) * 1000);
bound.unref();
if (argv.includes('--via')) {
  if (argv[argv.indexOf('--via') + 1] !== 'sandbox') throw new Error('--via takes one value: sandbox');
  benchViaSandbox({
    clients: flag('clients', 1000), rounds: flag('rounds', 3), messages: flag('messages', 20), rate: Math.max(1, flag('rate', 10)),
    soakMinutes: flag('soak-minutes', 0), soakClients: flag('soak-clients', 10_000),
  })
    .then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
} else main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
