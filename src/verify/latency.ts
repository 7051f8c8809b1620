// Latency: K sequential round trips, each from a send to the message's arrival on receiver B, as
// p50/p95/p99. Sends rotate over a few sender connections so no connection exceeds the server's
// per-connection rate limit (20 frames/s, burst 40) and the figure measures the path, not the limiter.
import { chatFailure, connectChat, withClient, type ChatClient } from './chat.js';
import { pass, type CheckDef } from './runner.js';
import { ms, percentile } from './timing.js';
import { verifyText } from './messaging.js';

/** Sends per sender connection: under the burst of 40 with room for the join frame. */
const SENDS_PER_CONNECTION = 25;

export const wsLatency: CheckDef = {
  id: 'ws.latency',
  title: 'message latency over K round trips',
  needs: ['ws.upgrade'],
  skipIf: ({ opts }) => (opts.messages <= 0 ? '--messages 0' : undefined),
  async run(ctx) {
    const room = ctx.opts.room;
    const k = ctx.opts.messages;
    const senders: ChatClient[] = [];
    try {
      for (let i = 0; i < Math.ceil(k / SENDS_PER_CONNECTION); i += 1) {
        const s = await connectChat(ctx);
        senders.push(s);
        await s.join(room).catch((err: unknown) => {
          throw chatFailure(ctx, err, `join ${room}`);
        });
      }
      const samples = await withClient(ctx, async (b) => {
        const out: number[] = [];
        for (let i = 0; i < k; i += 1) {
          const a = senders[Math.floor(i / SENDS_PER_CONNECTION)]!;
          const started = performance.now();
          const ack = await a.send(room, verifyText(`latency-${i + 1}/${k}`)).catch((err: unknown) => {
            throw chatFailure(ctx, err, `round trip ${i + 1}/${k}`);
          });
          await b.waitForMessage({ room, id: ack.id }).catch((err: unknown) => {
            throw chatFailure(ctx, err, `round trip ${i + 1}/${k} (delivery to B)`);
          });
          out.push(performance.now() - started);
          // Clients keep received frames; drop them so a long run stays small.
          b.received.length = 0;
          for (const s of senders) s.received.length = 0;
        }
        return out;
      });
      samples.sort((x, y) => x - y);
      const data = { count: k, p50: ms(percentile(samples, 50)), p95: ms(percentile(samples, 95)), p99: ms(percentile(samples, 99)), max: ms(samples[samples.length - 1]!) };
      return pass(`p50 ${data.p50} ms, p95 ${data.p95} ms, p99 ${data.p99} ms over ${k} round trips`, data);
    } finally {
      await Promise.all(senders.map((s) => s.close().catch(() => undefined)));
    }
  },
};
