/** What the server does with each valid client frame on /ws: join, leave, send, history. */
import type { Conn, ServerContext } from './context.js';
import type { StoredMessage } from './db.js';
import { fanOut } from './fan-out.js';
import { capHistory, type ClientFrame, ErrorCode, errorFrame, HISTORY_DEFAULT_LIMIT, MAX_ROOMS_PER_CONNECTION, type ServerFrame } from './protocol.js';

/** Sends one frame to one connection through the hub, so backpressure rules apply to replies too. */
export function reply(ctx: ServerContext, c: Conn, frame: ServerFrame): void {
  ctx.hub.deliver(c, JSON.stringify(frame));
}

/** Handles one parsed frame; rejects only on unexpected (database) errors, which the caller reports. */
export async function handleFrame(ctx: ServerContext, c: Conn, frame: ClientFrame): Promise<void> {
  const { hub, store, log, state } = ctx;
  switch (frame.type) {
    case 'join': {
      if (!c.rooms.has(frame.room) && c.rooms.size >= MAX_ROOMS_PER_CONNECTION) {
        reply(ctx, c, errorFrame(ErrorCode.TOO_MANY_ROOMS, `at most ${MAX_ROOMS_PER_CONNECTION} rooms per connection; leave one first`, frame.ref));
        return;
      }
      // Join before reading lastId so no message stored in between is missed.
      hub.join(frame.room, c);
      const subscription = ctx.bus?.subscription;
      const newest = await store.newest(frame.room);
      // Live delivery continues the room's order after what the client reads through history.
      ctx.order.track(frame.room, newest.seq);
      // The bus subscribed again while this read ran: what was published before that may be
      // missing here and is not in the read either; the room catches up like the others did.
      if (ctx.bus && ctx.bus.subscription !== subscription) {
        const seqs = await store.roomSeqs([frame.room]);
        ctx.order.catchUp(frame.room, seqs.get(frame.room) ?? 0);
      }
      state.joins += 1;
      reply(ctx, c, { type: 'joined', room: frame.room, lastId: newest.id, ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
      return;
    }
    case 'leave':
      hub.leave(frame.room, c);
      reply(ctx, c, { type: 'left', room: frame.room, ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
      return;
    case 'send': {
      if (!c.rooms.has(frame.room)) {
        reply(ctx, c, errorFrame(ErrorCode.NOT_JOINED, `join room ${frame.room} before sending to it`, frame.ref));
        return;
      }
      if (state.shuttingDown) {
        reply(ctx, c, errorFrame(ErrorCode.SHUTTING_DOWN, 'server is restarting; reconnect and send again', frame.ref));
        return;
      }
      let stored: StoredMessage;
      try {
        stored = await store.insert(frame.room, c.user, frame.text);
      } catch (err) {
        log.error('store failed', { conn: c.id, room: frame.room, err });
        reply(ctx, c, errorFrame(ErrorCode.STORE_FAILED, 'message not stored; retry', frame.ref));
        return;
      }
      // Ack first: the sender learns its id before its own copy arrives.
      reply(ctx, c, { type: 'ack', ref: frame.ref, id: stored.message.id, ts: stored.message.ts });
      fanOut(ctx, stored);
      return;
    }
    case 'history': {
      const page = capHistory(await store.history(frame.room, frame.after, frame.limit ?? HISTORY_DEFAULT_LIMIT), frame.after !== undefined);
      reply(ctx, c, { type: 'history', room: frame.room, messages: page.messages, ...(page.more ? { more: true as const } : {}), ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
      return;
    }
  }
}
