/**
 * `rideThrough(sandbox, during)`: holds N reconnecting chat clients on a sandbox deployment of the
 * bundled server, through nginx + TLS, while `during` runs (a restart, a deploy): a few of them send
 * in a bounded loop, /healthz is polled every 50 ms, and afterwards it says what every member of
 * every room saw. Used by the e2e tests and by `npm run bench:deploy`; no test framework inside.
 */
import { readFileSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { ReconnectingChatClient } from '../../app/src/reconnecting-client.js';
import { mintToken } from '../../app/src/token.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import type { RunResult } from '../../src/sandbox/exec.js';
import type { SandboxInfo } from '../../src/sandbox/index.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';

export interface SandboxAccess {
  readonly info: SandboxInfo;
  ssh(remote: readonly string[], timeoutMs?: number): Promise<RunResult>;
}

export const CLIENTS = 300;
const ROOMS = 10;
const SENDERS = 20;
const SEND_EVERY_MS = 250;

export interface RideResult {
  acked: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  gapsMs: number[];
  polls: number;
  failedPolls: number;
}

/** Holds `clients` reconnecting clients on the sandbox's chat while `during` runs; what they saw. */
export async function rideThrough(sb: SandboxAccess, during: () => Promise<void>, { clients: count = CLIENTS } = {}): Promise<RideResult> {
  const { domain, verifyCaPath } = sb.info;
  const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
  const target = parseTarget({ url: `wss://${domain}/ws`, resolve: { host: domain, port: 443, address: '127.0.0.1' } });
  const ca = readFileSync(verifyCaPath, 'utf8');
  const clients: ReconnectingChatClient[] = [];
  const rooms = Array.from({ length: ROOMS }, (_, i) => `ride-${Date.now() % 100_000}-${i}`);
  try {
    for (let i = 0; i < count; i += 50) {
      clients.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, count - i) }, async (_, j) =>
            ReconnectingChatClient.connect({
              url: `wss://${domain}/ws`,
              token: await mintToken(secret, `rider${i + j}`, 900),
              lookup: targetLookup(target),
              servername: domain,
              ca,
              timeoutMs: 15_000,
              maxOutageMs: 30_000,
            }),
          ),
        )),
      );
    }
    await Promise.all(clients.map((c, i) => c.join(rooms[i % ROOMS]!)));

    // /healthz through nginx every 50 ms, a fresh connection each time: what a load balancer sees.
    const agent = new Agent({ lookup: targetLookup(target), ca, keepAlive: false });
    const polls: number[] = [];
    let running = true;
    const poll = () =>
      new Promise<number>((resolve) => {
        const req = get({ host: domain, path: '/healthz', agent, timeout: 5_000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.on('timeout', () => req.destroy());
      });
    const poller = (async () => {
      for (let i = 0; running && i < 6_000; i++) {
        polls.push(await poll());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // SENDERS clients send in a loop, bounded in count and time.
    const acked = new Map<number, string>();
    let sending = true;
    const senders = clients.slice(0, SENDERS).map(async (c, i) => {
      const room = rooms[i % ROOMS]!;
      for (let n = 0; sending && n < 2_000; n++) {
        const ack = await c.send(room, `ride ${i}.${n}`);
        acked.set(ack.id, room);
        await new Promise((r) => setTimeout(r, SEND_EVERY_MS));
      }
    });
    await new Promise((r) => setTimeout(r, 2_000));
    try {
      await during();
      await new Promise((r) => setTimeout(r, 4_000));
    } finally {
      sending = false;
      await Promise.all(senders);
      running = false;
      await poller;
    }

    // Every acked message reaches every member of its room: wait (bounded) for the last deliveries.
    const members = (room: string) => clients.filter((_, i) => rooms[i % ROOMS] === room);
    const expected = (c: ReconnectingChatClient, room: string) => [...acked].filter(([, r]) => r === room).map(([id]) => id);
    for (let i = 0; i < 100; i++) {
      if (rooms.every((room) => members(room).every((c) => expected(c, room).every((id) => c.received.some((m) => m.id === id))))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let lost = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    for (const room of rooms) {
      for (const c of members(room)) {
        const ids = c.received.filter((m) => m.room === room).map((m) => m.id);
        const seen = new Set(ids);
        duplicates += ids.length - seen.size;
        outOfOrder += ids.filter((id, k) => k > 0 && id <= ids[k - 1]!).length;
        lost += expected(c, room).filter((id) => !seen.has(id)).length;
      }
    }
    const gapsMs = clients.map((c) => c.stats().longestGapMs);
    return { acked: acked.size, lost, duplicates, outOfOrder, gapsMs, polls: polls.length, failedPolls: polls.filter((s) => s !== 200).length };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}

export function gapSummary(gapsMs: number[]): string {
  const sorted = [...gapsMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `longest reconnect gap per client: p50 ${at(0.5).toFixed(0)} ms, p99 ${at(0.99).toFixed(0)} ms, max ${at(1).toFixed(0)} ms; ${sorted.filter((g) => g >= 500).length} of ${sorted.length} clients ≥ 0.5 s`;
}

