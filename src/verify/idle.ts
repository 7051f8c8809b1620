// Idle: a silent connection must outlive the idle window (default 75 s, beyond nginx's default 60 s
// proxy_read_timeout), then still carry a message both ways. The server's own pings are what keep a
// well-configured path open; the client sends nothing but pongs, like a browser tab in the background.
import { chatFailure, withClient } from './chat.js';
import { CheckFailure } from './errors.js';
import { pass, type CheckDef } from './runner.js';
import { ms } from './timing.js';
import { verifyText } from './messaging.js';

export const wsIdle: CheckDef = {
  id: 'ws.idle',
  title: 'an idle connection survives the idle window',
  needs: ['ws.upgrade'],
  background: true,
  skipIf: ({ opts }) => (opts.quick ? '--quick: idle window skipped' : opts.idleSeconds <= 0 ? '--idle 0: idle window skipped' : undefined),
  async run(ctx) {
    const windowMs = ctx.opts.idleSeconds * 1000;
    return withClient(ctx, async (c) => {
      const started = performance.now();
      let pings = 0;
      c.ws.on('ping', () => (pings += 1));
      const closed = c.waitForClose().then((info) => ({ info, after: performance.now() - started }));
      let timer: NodeJS.Timeout | undefined;
      const windowEnd = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), windowMs)));
      const outcome = await Promise.race([closed, windowEnd]).finally(() => clearTimeout(timer));
      if (outcome) {
        const after = (outcome.after / 1000).toFixed(1);
        throw new CheckFailure(
          'MI_ERR_VERIFY_IDLE',
          `the idle connection was closed after ${after} s (code ${outcome.info.code}), before the ${ctx.opts.idleSeconds} s window: ` +
            `the proxy times out idle WebSockets; raise nginx proxy_read_timeout/proxy_send_timeout above the idle window (and the app's ping interval)`,
          { closedAfterMs: Math.round(outcome.after), closeCode: outcome.info.code, serverPings: pings },
        );
      }
      const sentAt = performance.now();
      await c.send(ctx.opts.room, verifyText('idle')).catch((err: unknown) => {
        throw chatFailure(ctx, err, `send after ${ctx.opts.idleSeconds} s idle`);
      });
      const ackMs = ms(performance.now() - sentAt);
      return pass(`alive after ${ctx.opts.idleSeconds} s idle (${pings} server pings), then acked in ${ackMs} ms`, {
        idleSeconds: ctx.opts.idleSeconds,
        serverPings: pings,
        ackMs,
      });
    });
  },
};
