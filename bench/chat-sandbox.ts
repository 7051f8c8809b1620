/**
 * `npm run bench:chat -- --via sandbox [--clients 1000 --rounds 3 --messages 20 --rate 10]`: what
 * users feel, through a fresh sandbox VPS deployed by `up --tier mvp`: the deployed nginx + TLS in
 * front, and in the same run the peers (naive `ws`, Socket.IO 4; bench/peers.ts, bundled and started
 * inside the guest) swapped onto the same upstream in turn. Rounds interleave (server by server, round
 * by round); the table gives each server's connected clients and fan-out p99 per round and their
 * medians, and messenger-chat's ratio to each peer. Every server gets the same clients in one room
 * and the same paced messages from one sender; nginx's upstream is put back at the end. Each round
 * also says where the guest's CPU went (the server's processes, nginx, MariaDB, Redis, journald; user
 * and kernel), per 1,000 connections while connecting and per message while receiving.
 * `--soak-minutes N [--soak-clients 10000]` then holds that many connections on messenger-chat for N
 * minutes, a message a second in each room of 100, the rooms spread over the second (`--rounds 0`
 * runs the soak alone).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { mintToken } from '../app/src/token.js';
import { HOST_PATHS } from '../src/core/host-model.js';
import { runRaw } from '../src/sandbox/exec.js';
import { sandboxDown, sandboxUp, sshArgv, type SandboxInfo } from '../src/sandbox/index.js';
import { scenario, sleep, soak, type Figures, type PhaseProbe, type ServerRss } from './chat-load.js';
import type { LoadProto } from './load-conn.js';

const CLI = fileURLToPath(new URL('../bin/messenger-infra.js', import.meta.url));
const PEERS_DIR = '/opt/mi-bench';
/** The peers' ports inside the guest, and the bench/peers.ts kind on each. */
const PEERS = [{ kind: 'naive', port: 3201 }, { kind: 'socketio', port: 3202 }] as const;

/** A server under test: its systemd units (messenger-chat: every live instance) and nginx's upstream to it. */
interface Server { name: string; proto: LoadProto; units: string[]; upstream: string }
/** The main PIDs of a server's units, as guest shell text. */
const mainPids = (s: Server) => `$(systemctl show -p MainPID --value ${s.units.join(' ')})`;
/** One guest process's CPU ticks, by the name it is reported under. */
interface ProcCpu { name: string; user: number; kernel: number }

export interface SandboxBenchOptions {
  clients: number; rounds: number; messages: number; rate: number;
  /** Then hold soakClients connections on messenger-chat for this many minutes (0: no soak). */
  soakMinutes: number; soakClients: number;
}

function ssh(info: SandboxInfo, remote: string, input?: string): Promise<string> {
  return runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, [remote]), { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) }).then((r) => {
    if (r.code !== 0) throw new Error(`on the guest: ${remote}: exit ${r.code}: ${r.stderr.slice(-500)}`);
    return r.stdout;
  });
}

function up(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'up', '--sandbox', '--tier', 'mvp', '--no-verify'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`up failed (exit ${code}): ${out.slice(-1500)}`));
    });
  });
}

/** bench/peers.ts and its dependencies (ws, socket.io) as one file the guest's Node runs. */
async function peersBundle(): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'mi-bench-peers-')), 'peers.cjs');
  await build({ entryPoints: [fileURLToPath(new URL('peers.ts', import.meta.url))], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: out, logLevel: 'error' });
  return readFileSync(out, 'utf8');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchViaSandbox(o: SandboxBenchOptions): Promise<void> {
  console.log(`bench:chat via the sandbox (nginx + TLS) — ${o.rounds > 0 ? `${o.clients} clients in one room, ${o.messages} messages at ${o.rate}/s, ${o.rounds} interleaved rounds` : 'no rounds'}${o.soakMinutes > 0 ? `; a ${o.soakMinutes}-minute soak of ${o.soakClients} connections` : ''}`);
  await sandboxDown();
  const info = await sandboxUp({ os: 'debian13' });
  try {
    await up();
    const live = (await ssh(info, `cat ${HOST_PATHS.liveUpstream}`));
    const livePorts = [...live.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    const peer = (port: number) => `server 127.0.0.1:${port} max_fails=3 fail_timeout=10s;\n`;
    const servers: Server[] = [
      { name: 'messenger-chat (stores every message first)', proto: 'json', units: livePorts.map((p) => `messenger-chat@${p}`), upstream: live },
      { name: 'naive ws broadcast (no storage)', proto: 'json', units: ['mi-bench-naive'], upstream: peer(PEERS[0].port) },
      { name: 'Socket.IO 4.8 (no storage)', proto: 'socketio', units: ['mi-bench-socketio'], upstream: peer(PEERS[1].port) },
    ];
    await ssh(info, `mkdir -p ${PEERS_DIR} && cat > ${PEERS_DIR}/peers.cjs`, await peersBundle());
    for (const [k, { kind, port }] of PEERS.entries()) {
      await ssh(info, `systemd-run --quiet --unit=${servers[k + 1]!.units[0]} --property=LimitNOFILE=65536 --property=DynamicUser=yes /usr/local/bin/node ${PEERS_DIR}/peers.cjs ${kind} ${port}`);
    }
    for (const { port } of PEERS) {
      for (let i = 0; !(await ssh(info, `ss -Hltn 'sport = :${port}'`)).includes('LISTEN'); i++) {
        if (i > 50) throw new Error(`the peer on ${port} did not listen`);
        await sleep(100);
      }
    }
    const secret = (await ssh(info, `sed -n 's/^MESSENGER_JWT_SECRET=//p' ${HOST_PATHS.secretsEnvFile}`)).trim();
    const token = await mintToken(secret, 'bench', 3600);
    const ca = readFileSync(info.verifyCaPath, 'utf8');
    const setUpstream = (content: string) => ssh(info, `cat > ${HOST_PATHS.liveUpstream} && nginx -t -q && systemctl reload nginx`, content);
    const point = async (s: Server) => {
      await setUpstream(s.upstream);
      // Old workers finish; new connections already go to the new upstream.
      await sleep(500);
    };
    // CPU ticks (1/100 s, user and system) per process of the server's units, nginx, MariaDB, Redis
    // and journald. A phase counts each process's growth (all of a new one's), so an nginx worker
    // that exits after a reload costs the figure its last moments, never makes it negative. (The
    // guest's cgroups keep no CPU account per service.)
    const cpuTicks = async (s: Server): Promise<Map<string, ProcCpu>> => {
      const out = await ssh(info, `for p in ${mainPids(s)}; do [ "$p" != 0 ] && echo server $p $(cut -d' ' -f14,15 /proc/$p/stat); done; for n in nginx mariadbd redis-server systemd-journal; do for p in $(pgrep -x $n); do echo $n $p $(cut -d' ' -f14,15 /proc/$p/stat); done; done; true`);
      const procs = new Map<string, ProcCpu>();
      for (const [name, pid, u, k] of out.trim().split('\n').map((l) => l.split(' '))) {
        if (name && pid && u !== undefined && k !== undefined) procs.set(pid, { name, user: Number(u), kernel: Number(k) });
      }
      return procs;
    };
    /** The guest's CPU over a phase, in ms per `per` (1 message, 1,000 connections) of `count`. */
    const cpuProbe = (s: Server, per: string, count: number): PhaseProbe => {
      let before = new Map<string, ProcCpu>();
      return {
        begin: async () => { before = await cpuTicks(s); },
        end: async (phaseMs) => {
          const grown = new Map<string, [number, number]>();
          for (const [pid, p] of await cpuTicks(s)) {
            const b = before.get(pid);
            const [u, k] = grown.get(p.name) ?? [0, 0];
            grown.set(p.name, [u + p.user - (b?.user ?? 0), k + p.kernel - (b?.kernel ?? 0)]);
          }
          const ms = (ticks: number) => ((ticks * 10) / count).toFixed(1);
          const parts = [...grown].map(([name, [u, k]]) => `${name} ${ms(u + k)} (kernel ${ms(k)})`);
          return `guest CPU          ms per ${per}: ${parts.join(', ')} (over ${(phaseMs / 1000).toFixed(1)} s)`;
        },
      };
    };
    // messenger-chat's own account of a phase, from every instance's /metrics (local requests only):
    // garbage collections by kind, the store's insert transactions, and the fan-out from commit to
    // the last local write.
    const METRICS = /^messenger_(nodejs_gc_duration_seconds|db_query_seconds|fanout_seconds)_(sum|count)(?:\{(?:kind|op)="(\w+)"\})? (\S+)$/;
    const chatMetrics = async (): Promise<Map<string, number>> => {
      const out = await ssh(info, livePorts.map((p) => `curl -sf http://127.0.0.1:${p}/metrics`).join('; '));
      const sums = new Map<string, number>();
      for (const line of out.split('\n')) {
        const m = METRICS.exec(line);
        const key = m && `${m[1]}.${m[3] ?? ''}.${m[2]}`;
        if (m && key) sums.set(key, (sums.get(key) ?? 0) + Number(m[4]));
      }
      return sums;
    };
    const chatProbe: PhaseProbe = (() => {
      let before = new Map<string, number>();
      const delta = (after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
      return {
        begin: async () => { before = await chatMetrics(); },
        end: async () => {
          const after = await chatMetrics();
          const part = (what: string, metric: string, label: string) => {
            const n = delta(after, `${metric}.${label}.count`);
            const mean = n > 0 ? (delta(after, `${metric}.${label}.sum`) * 1000) / n : 0;
            return `${n} ${what}${n > 0 ? ` (mean ${mean.toFixed(1)} ms)` : ''}`;
          };
          const gc = ['minor', 'major', 'incremental'].map((kind) => part(`${kind} GC`, 'nodejs_gc_duration_seconds', kind));
          return `the server says  ${part('fan-outs', 'fanout_seconds', '')}, ${part('insert transactions', 'db_query_seconds', 'insert')}; ${gc.join(', ')}`;
        },
      };
    })();
    /** Both probes over one phase, their lines one below the other. */
    const both = (a: PhaseProbe, b: PhaseProbe): PhaseProbe => ({
      begin: async () => { await a.begin(); await b.begin(); },
      end: async (ms) => `${await a.end(ms)}\n  ${await b.end(ms)}`,
    });
    const rssOf = (s: Server): ServerRss => ({
      read: async () => {
        const out = await ssh(info, `for p in ${mainPids(s)}; do ps -o rss= -p $p; done`);
        return out.trim().split(/\s+/).reduce((sum, kb) => sum + Number(kb) * 1024, 0);
      },
      processes: s.units.length,
    });

    const results = new Map<string, Figures[]>(servers.map((s) => [s.name, []]));
    try {
      for (let round = 1; round <= o.rounds; round++) {
        for (const s of servers) {
          await point(s);
          const f = await scenario(`round ${round}: ${s.name}`, [`wss://${info.domain}/ws`], token, rssOf(s), {
            clients: o.clients, fanout: o.clients, messages: o.messages, rate: o.rate, burst: 0, warmup: 5,
            workers: Math.max(2, Math.ceil(o.clients / 2500)),
            target: { proto: s.proto, tls: { ca, address: '127.0.0.1' } }, probes: {
              connect: cpuProbe(s, '1,000 connections', o.clients / 1000),
              latency: s === servers[0] ? both(cpuProbe(s, 'message', o.messages), chatProbe) : cpuProbe(s, 'message', o.messages),
            },
          });
          results.get(s.name)!.push(f);
        }
      }
    } finally {
      await setUpstream(live);
    }

    if (o.soakMinutes > 0) {
      await soak(`${servers[0]!.name}, ${o.soakClients} clients`, `wss://${info.domain}/ws`, token, rssOf(servers[0]!), {
        clients: o.soakClients, minutes: o.soakMinutes, workers: Math.max(2, Math.ceil(o.soakClients / 2500)), target: { proto: 'json', tls: { ca, address: '127.0.0.1' } },
        probe: chatProbe,
      });
    }
    const emfile = (await ssh(info, "grep -c 'Too many open files' /var/log/nginx/error.log || true")).trim();
    if (o.rounds === 0) {
      console.log(`  nginx "Too many open files": ${emfile || '0'}`);
      return;
    }
    console.log(`\n[through nginx + TLS, same run, ${o.rounds} rounds interleaved: ${o.clients} clients in one room, ${o.messages} messages at ${o.rate}/s]`);
    const rows = servers.map((s) => {
      const fs = results.get(s.name)!;
      return { s, connected: fs.map((f) => f.connected), p99: fs.map((f) => f.latP99), cpu: Math.max(...fs.map((f) => f.loadWorkerCpu)), short: fs.some((f) => f.latDelivered < f.latExpected) };
    });
    const w = Math.max(...servers.map((s) => s.name.length));
    console.log(`  ${'server'.padEnd(w)}  connected per round      p99 median  p99 per round`);
    for (const r of rows) {
      console.log(`  ${r.s.name.padEnd(w)}  ${r.connected.join(' / ').padEnd(23)}  ${median(r.p99).toFixed(1).padStart(7)} ms  ${r.p99.map((x) => x.toFixed(1)).join(' / ')}${r.short ? '  (not every message delivered)' : ''}`);
    }
    const chat = median(rows[0]!.p99);
    console.log(`  p99 ratio messenger-chat / naive ws: ${(chat / median(rows[1]!.p99)).toFixed(2)}x (target ≤ 0.8x); / Socket.IO: ${(chat / median(rows[2]!.p99)).toFixed(2)}x (target ≤ 0.8x)`);
    console.log(`  load generator: busiest worker at ${(Math.max(...rows.map((r) => r.cpu)) * 100).toFixed(0)}% of a core at most; nginx "Too many open files": ${emfile || '0'}`);
  } finally {
    await sandboxDown();
  }
}
