// Reconnect: the server closes a connection, messages arrive while it is away, and a new connection
// catches up on every one of them through history after the last id it had seen. The server-side close
// is provoked the only way the protocol allows a client to: a frame above the server's maxPayload, which
// the server answers with close code 1009.
import { MAX_PAYLOAD_BYTES } from '../../app/src/protocol.js';
import { chatFailure, connectChat, withClient } from './chat.js';
import { CheckFailure } from './errors.js';
import { pass, type CheckDef } from './runner.js';
import { deadline, ms } from './timing.js';
import { verifyText } from './messaging.js';

/** Messages sent while the client is away. */
const MISSED = 3;

export const wsReconnect: CheckDef = {
  id: 'ws.reconnect',
  title: 'reconnect after a server-side close catches up',
  needs: ['ws.upgrade'],
  async run(ctx) {
    const room = ctx.opts.room;
    const timeout = ctx.opts.timeoutMs;
    // 1. A client that has seen everything up to lastSeen is closed by the server.
    const { lastSeen, closeCode } = await withClient(ctx, async (c, lastId) => {
      c.sendRaw('x'.repeat(MAX_PAYLOAD_BYTES + 1));
      const info = await deadline(
        c.waitForClose(),
        timeout,
        'MI_ERR_VERIFY_RECONNECT',
        `the server did not close a connection that sent ${MAX_PAYLOAD_BYTES + 1} bytes within ${timeout} ms: it accepts oversize frames (maxPayload not set)`,
      );
      return { lastSeen: lastId, closeCode: info.code };
    });
    // 2. Messages arrive while it is away.
    const missed = await withClient(ctx, async (a) => {
      const ids: number[] = [];
      for (let i = 0; i < MISSED; i += 1) {
        const ack = await a.send(room, verifyText(`missed-${i + 1}`)).catch((err: unknown) => {
          throw chatFailure(ctx, err, 'send while the other client is away');
        });
        ids.push(ack.id);
      }
      return ids;
    });
    // 3. It reconnects and asks for everything after the last id it saw.
    const started = performance.now();
    const c = await connectChat(ctx);
    try {
      await c.join(room).catch((err: unknown) => {
        throw chatFailure(ctx, err, 'join after reconnecting');
      });
      const reconnectMs = ms(performance.now() - started);
      const { messages } = await c.history(room, { after: lastSeen, limit: 500 }).catch((err: unknown) => {
        throw chatFailure(ctx, err, 'history after reconnecting');
      });
      const have = new Set(messages.map((m) => m.id));
      const lost = missed.filter((id) => !have.has(id));
      const data = { closeCode, reconnectMs, missed: missed.length, caughtUp: missed.length - lost.length };
      if (lost.length) {
        throw new CheckFailure('MI_ERR_VERIFY_RECONNECT', `after reconnecting, history after ${lastSeen} lacks message(s) ${lost.join(', ')}: messages sent while a client was away are lost`, data);
      }
      return pass(`server closed with ${closeCode}, reconnected in ${reconnectMs} ms, caught up ${missed.length}/${missed.length} missed messages`, data);
    } finally {
      await c.close().catch(() => undefined);
    }
  },
};
