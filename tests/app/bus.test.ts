/**
 * The Redis bus on its own (no database), against Debian's redis-server with the users a host gets:
 * siblings hear each other's messages and not their own; the app's Redis user can do nothing but
 * its pub/sub; a Redis restart is named in the log, the failed publishes come back as marks, and
 * each bus says when it has subscribed again.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUS_CHANNEL, RedisBus } from '../../app/src/bus.js';
import { createLogger } from '../../app/src/log.js';
import type { ChatMessage } from '../../app/src/protocol.js';
import { startRedis, type ThrowawayRedis } from '../helpers/redis.js';

let redis: ThrowawayRedis;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const s of stops.splice(0)) await s();
  await redis?.stop();
});

interface Node { bus: RedisBus; got: ChatMessage[]; marks: Array<[string, number]>; subscribed: number; logs: string[] }

/** A bus; `onLog` sees each log line as it is written (synchronously, inside the bus's own handler). */
function startBus(instance: string, onLog: (line: string) => void = () => {}): Node {
  const node: Node = { got: [], marks: [], subscribed: 0, logs: [] } as unknown as Node;
  node.bus = new RedisBus({
    address: redis.address,
    instance,
    log: createLogger({}, { level: 'debug', write: (l) => {
      node.logs.push(l);
      onLog(l);
    } }),
    onMessage: (m) => node.got.push(m),
    onMark: (room, seq) => node.marks.push([room, seq]),
    onSubscribed: () => (node.subscribed += 1),
  });
  node.bus.start();
  stops.push(() => node.bus.stop());
  return node;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const msg = (room: string, seq: number): ChatMessage => ({ room, id: seq, seq, user: 'u', text: `m${seq}`, ts: new Date(0).toISOString() });

describe('Redis bus', () => {
  it('carries each message to the siblings, never back to its sender', async () => {
    const [a, b] = [startBus('a'), startBus('b')];
    await until(() => a.bus.state === 'up' && b.bus.state === 'up', 5000, 'both up');
    expect([a.subscribed, b.subscribed]).toEqual([1, 1]);
    a.bus.publish(msg('r', 1));
    b.bus.publish(msg('r', 2));
    await until(() => a.got.length === 1 && b.got.length === 1, 2000, 'both heard');
    await new Promise((r) => setTimeout(r, 100));
    expect(b.got).toEqual([msg('r', 1)]);
    expect(a.got).toEqual([msg('r', 2)]);
    expect([a.bus.published, b.bus.received]).toEqual([1, 1]);
  });

  it("allows the app's Redis user its pub/sub only, and nobody in without a password", async () => {
    const app = new Redis({ ...redis.address, lazyConnect: true, maxRetriesPerRequest: 0, disableClientInfo: true });
    const anonymous = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => {});
    try {
      await app.connect();
      expect(await app.publish(BUS_CHANNEL, '{}')).toBeGreaterThanOrEqual(0);
      await expect(app.set('k', 'v')).rejects.toThrow(/NOPERM/);
      await expect(app.publish('other-channel', 'x')).rejects.toThrow(/NOPERM/);
      await expect(app.config('GET', 'requirepass')).rejects.toThrow(/NOPERM/);
      await anonymous.connect().catch(() => {});
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH|closed|Connection/);
    } finally {
      app.disconnect();
      anonymous.disconnect();
    }
  });

  it('names an outage, fails publishes at once instead of queueing them, and subscribes again when Redis is back', async () => {
    const [a, b] = [startBus('a2'), startBus('b2')];
    await until(() => a.bus.state === 'up' && b.bus.state === 'up', 5000, 'both up');
    await redis.kill();
    await until(() => a.bus.state === 'down' && b.bus.state === 'down', 5000, 'both down');
    expect(a.logs.join('\n')).toMatch(/"level":"warn".*redis unreachable.*"code":"MI_WARN_BUS_DOWN"/);
    a.bus.publish(msg('quiet', 7));
    expect(a.bus.publishFailures).toBe(1);
    await redis.start();
    await until(() => a.bus.state === 'up' && b.bus.state === 'up', 10_000, 'both up again');
    // Each side is told it subscribed again: the server then reads where its rooms stand.
    expect([a.subscribed, b.subscribed]).toEqual([2, 2]);
    expect(b.logs.join('\n')).toMatch(/redis reachable again/);
    expect([a.bus.outages, b.bus.outages]).toEqual([1, 1]);
    expect(a.logs.filter((l) => l.includes('MI_WARN_BUS_DOWN'))).toHaveLength(1);
  });

  it('a Redis that hangs with its connections open: found within seconds, publishes fail instead of piling up, stop() does not wait on it', async () => {
    const [a, b] = [startBus('a4'), startBus('b4')];
    await until(() => a.bus.state === 'up' && b.bus.state === 'up', 5000, 'both up');
    redis.freeze();
    try {
      for (let i = 1; i <= 500; i++) a.bus.publish(msg('frozen', i));
      // Each publish waits at most the command timeout, then counts as failed (and becomes a mark).
      await until(() => a.bus.publishFailures === 500, 5000, 'the publishes failing');
      // The health ping finds the hung connections and drops them.
      await until(() => a.bus.state === 'down' && b.bus.state === 'down', 10_000, 'both down');
      expect(a.logs.join('\n')).toMatch(/MI_WARN_BUS_DOWN/);
      const t0 = performance.now();
      await a.bus.stop();
      expect(performance.now() - t0).toBeLessThan(2500);
    } finally {
      redis.thaw();
    }
    await until(() => b.bus.state === 'up', 10_000, 'b back once Redis answers');
  }, 30_000);

  it('announces what a publisher cut off alone could not publish to the siblings that stayed subscribed', async () => {
    let a: Node | undefined;
    // Stored while the publisher is away (published from inside its own warning, so always then).
    const whileAway = (line: string) => {
      if (!line.includes('MI_WARN_BUS_DOWN')) return;
      for (const m of [msg('quiet', 7), msg('quiet', 8), msg('busy', 3)]) a!.bus.publish(m);
    };
    a = startBus('a3', whileAway);
    const b = startBus('b3');
    await until(() => a.bus.state === 'up' && b.bus.state === 'up', 5000, 'both up');
    const admin = new Redis({ ...redis.admin, maxRetriesPerRequest: 0 });
    try {
      const list = String(await admin.client('LIST'));
      const id = /id=(\d+) [^\n]*name=messenger-chat-a3-pub/.exec(list)?.[1];
      expect(id).toBeDefined();
      await admin.client('KILL', 'ID', id!);
    } finally {
      admin.disconnect();
    }
    await until(() => b.marks.length === 2, 5000, 'the marks');
    expect(new Map(b.marks)).toEqual(new Map([['quiet', 8], ['busy', 3]]));
    expect(a.bus.publishFailures).toBe(3);
    // b never lost its subscription: the marks are all it hears of those messages.
    expect(b.subscribed).toBe(1);
    expect(b.got).toEqual([]);
  });
});
