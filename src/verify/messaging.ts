// Messaging: client A sends, client B in the same room receives it (matched by id), and the message is
// in history over the REST fallback. Only the verify room is ever written to.
import { randomUUID } from 'node:crypto';
import type { ChatMessage } from '../../app/src/protocol.js';
import { chatFailure, withClient } from './chat.js';
import { CheckFailure, errorCode, errorMessage } from './errors.js';
import { httpAsk, jsonBody, statusCause } from './http-client.js';
import { pass, type CheckDef } from './runner.js';
import { ms } from './timing.js';

/** Text of a verify message: says what wrote it, unique per run. */
export const verifyText = (what: string): string => `messenger-infra verify ${what} ${randomUUID()}`;

export const msgBroadcast: CheckDef = {
  id: 'msg.broadcast',
  title: 'A sends, B in the same room receives it',
  needs: ['ws.upgrade'],
  async run(ctx) {
    const room = ctx.opts.room;
    return withClient(ctx, (a) =>
      withClient(ctx, async (b, lastId) => {
        const text = verifyText('broadcast');
        const started = performance.now();
        const ack = await a.send(room, text).catch((err: unknown) => {
          throw chatFailure(ctx, err, 'send from A');
        });
        const acked = performance.now();
        const got = await b.waitForMessage({ room, id: ack.id }).catch((err: unknown) => {
          throw err instanceof Error && /no matching message/.test(err.message)
            ? new CheckFailure(
                'MI_ERR_VERIFY_BROADCAST',
                `B did not receive message ${ack.id} within ${ctx.opts.timeoutMs} ms although A's send was acked: broadcast does not reach other connections (several instances off the Redis bus? status on the host says)`,
              )
            : chatFailure(ctx, err, 'wait for the message on B');
        });
        const delivered = performance.now();
        if (got.text !== text) {
          throw new CheckFailure('MI_ERR_VERIFY_BROADCAST', `B received message ${ack.id} with other text than A sent: the server alters or mixes up messages`);
        }
        ctx.sent = { id: ack.id, after: lastId, text };
        const data = { id: ack.id, ackMs: ms(acked - started), deliverMs: ms(delivered - started) };
        return pass(`message ${ack.id}: acked in ${data.ackMs} ms, delivered to B in ${data.deliverMs} ms`, data);
      }),
    );
  },
};

export const msgHistory: CheckDef = {
  id: 'msg.history',
  title: 'the message is in history over REST',
  needs: ['msg.broadcast'],
  async run(ctx) {
    const { target, opts } = ctx;
    const sent = ctx.sent!;
    const path = `/api/rooms/${encodeURIComponent(opts.room)}/messages?after=${sent.after}&limit=500`;
    const answer = await httpAsk(
      target,
      { secure: target.secure, port: target.port, path, headers: { authorization: `Bearer ${ctx.token}`, accept: 'application/json' } },
      opts.timeoutMs,
    ).catch((err: unknown) => {
      throw new CheckFailure('MI_ERR_VERIFY_HISTORY', `GET ${path} failed (${errorCode(err) ?? 'error'}): ${errorMessage(err)}`);
    });
    if (answer.status !== 200) throw new CheckFailure('MI_ERR_VERIFY_HISTORY', statusCause(answer.status, answer.headers, path.split('?')[0]!));
    const body = jsonBody<{ messages?: ChatMessage[] }>(answer, path);
    const found = body.messages?.find((m) => m.id === sent.id);
    if (!found) {
      throw new CheckFailure('MI_ERR_VERIFY_HISTORY', `message ${sent.id} was broadcast but is not in the REST history: it was not stored, or the API reads another database`);
    }
    if (found.text !== sent.text) throw new CheckFailure('MI_ERR_VERIFY_HISTORY', `message ${sent.id} is stored with other text than was sent`);
    return pass(`message ${sent.id} found via GET /api/rooms/${opts.room}/messages in ${ms(answer.ms)} ms`, { ms: ms(answer.ms) });
  },
};
