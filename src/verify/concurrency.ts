// Concurrency: N connections opened at once, all upgraded within the timeout.
import { ChatClientError, connectChat, type ChatClient } from './chat.js';
import { CheckFailure, errorMessage } from './errors.js';
import { pass, type CheckDef } from './runner.js';
import { ms, percentile } from './timing.js';

export const wsConcurrency: CheckDef = {
  id: 'ws.concurrency',
  title: 'N concurrent connections all upgrade',
  needs: ['ws.upgrade'],
  skipIf: ({ opts }) => (opts.connections <= 0 ? '--connections 0' : undefined),
  async run(ctx) {
    const n = ctx.opts.connections;
    const started = performance.now();
    const times: number[] = [];
    const settled = await Promise.allSettled(
      Array.from({ length: n }, async () => {
        const c = await connectChat(ctx);
        times.push(performance.now() - started);
        return c;
      }),
    );
    const allMs = ms(performance.now() - started);
    const open = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    await Promise.all(open.map((c: ChatClient) => c.close().catch(() => undefined)));
    const reasons = new Map<string, number>();
    for (const s of settled) {
      if (s.status === 'rejected') {
        const e: unknown = s.reason;
        const key = e instanceof CheckFailure ? e.cause1 : e instanceof ChatClientError ? e.message : errorMessage(e);
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
      }
    }
    times.sort((x, y) => x - y);
    const data = { connections: n, upgraded: open.length, allMs, p95Ms: ms(percentile(times, 95)) };
    if (open.length < n) {
      const top = [...reasons.entries()].sort((x, y) => y[1] - x[1]).map(([why, count]) => `${count}× ${why}`).join('; ');
      throw new CheckFailure(
        'MI_ERR_VERIFY_CONCURRENCY',
        `${n - open.length}/${n} concurrent connections failed (${top}): raise nginx worker_connections / the app's limits, or lower --connections`,
        data,
      );
    }
    return pass(`${n}/${n} upgraded in ${allMs} ms (p95 ${data.p95Ms} ms)`, data);
  },
};
