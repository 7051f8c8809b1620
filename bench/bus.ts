/**
 * `npm run bench:bus [-- --clients 1000,10000]`: fan-out to every client in one room across 1, 2 and 3
 * instances of the chat server on this host sharing one Redis (Debian's redis-server, with the users
 * a host gets), and one instance without Redis, in the same run: p50/p95/p99, deliveries/s and RSS,
 * so the cost of the bus is a number. Client i connects to instance i mod n; the sender to the first,
 * so with n instances (n-1)/n of the deliveries cross Redis. Loopback only, every phase bounded.
 * Flags: --clients LIST (1000,10000), --messages N (50), --rate N (paced messages/s; default 20, and at
 * most 50,000 deliveries/s asked of the room, so latency is not queueing on this machine: 5/s at
 * 10,000 clients), --burst N (100), --timeout-s N (900).
 */
import type { ChildProcess } from 'node:child_process';
import { mintToken } from '../app/src/token.js';
import { freePort, startMariaDb } from '../tests/helpers/mariadb.js';
import { startRedis } from '../tests/helpers/redis.js';
import { localRss, scenario, startChat, stopAll, type Figures } from './chat-load.js';

const argv = process.argv.slice(2);
function flag(name: string, def: string): string {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : (argv[i + 1] ?? def);
}
function int(name: string, def: number): number {
  const v = Number(flag(name, String(def)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const SECRET = 'bench-secret-0123456789-abcdefghijklmn';

interface Row { setup: string; clients: number; f: Figures }

async function main(): Promise<void> {
  const sizes = flag('clients', '1000,10000').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--clients must be a list of positive integers, e.g. 1000,10000');
  const bound = setTimeout(() => { console.error('bench:bus exceeded its time bound; stopping'); process.exit(2); }, int('timeout-s', 900) * 1000);
  bound.unref();
  console.log(`bench:bus — every client in one room, 1-3 instances on one Redis and 1 without, loopback only`);
  const [db, redis] = await Promise.all([startMariaDb(), startRedis()]);
  const token = await mintToken(SECRET, 'bench', 3600);
  const rows: Row[] = [];
  try {
    for (const clients of sizes) {
      const rate = int('rate', Math.max(1, Math.min(20, Math.floor(50_000 / clients))));
      const o = { clients, fanout: clients, messages: int('messages', 50), rate, burst: int('burst', 100), workers: Math.max(2, Math.ceil(clients / 2500)) };
      for (const [setup, n, bus] of [['1 instance, no Redis', 1, false], ['1 instance + Redis', 1, true], ['2 instances + Redis', 2, true], ['3 instances + Redis', 3, true]] as const) {
        const name = `bus${clients}_${n}${bus ? 'r' : ''}`;
        await db.createDatabase(name);
        const children: ChildProcess[] = [];
        try {
          const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
          const started = await Promise.all(ports.map((port, i) => startChat({
            ...db.env(true), MESSENGER_DB_NAME: name, MESSENGER_JWT_SECRET: SECRET, MESSENGER_INSTANCE: String(i), ...(bus ? redis.env() : {}),
          }, port)));
          children.push(...started.map((s) => s.child));
          const f = await scenario(`${setup}, ${clients} clients`, ports.map((p) => `ws://127.0.0.1:${p}/ws`), token, localRss(children.map((c) => c.pid as number)), o);
          rows.push({ setup, clients, f });
        } finally {
          await stopAll(children);
        }
      }
    }
  } finally {
    await db.stop();
    await redis.stop();
  }

  console.log('\n[fan-out to one room: instances on one host]');
  const head = ['clients', 'setup', 'connected', 'p50 ms', 'p95 ms', 'p99 ms', 'deliveries/s', 'RSS MB (all)', 'p99 vs no Redis'];
  const table = rows.map((r) => {
    const base = rows.find((b) => b.clients === r.clients && b.setup === '1 instance, no Redis')!.f;
    return [String(r.clients), r.setup, `${r.f.connected}`, r.f.latP50.toFixed(1), r.f.latP95.toFixed(1), r.f.latP99.toFixed(1), r.f.burstDeliveriesPerSec.toFixed(0), r.f.rssAfterMb.toFixed(0), `${(r.f.latP99 / base.latP99).toFixed(2)}x`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  for (const line of [head, ...table]) console.log(`  ${line.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`);
  const lost = rows.filter((r) => r.f.latDelivered < r.f.latExpected || r.f.burstDelivered < r.f.burstExpected);
  console.log(lost.length === 0 ? '  every message reached every member in every setup' : `  short deliveries: ${lost.map((r) => `${r.clients}/${r.setup}`).join('; ')}`);
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
