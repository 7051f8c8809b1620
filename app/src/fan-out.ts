/** What follows storing a message, the same on /ws and on the HTTP fallback. */
import type { ServerContext } from './context.js';
import type { StoredMessage } from './db.js';

/**
 * Counts a stored (and acked) message, delivers it to this instance's members (in the room's seq
 * order, after any sibling's earlier one), times that from the commit, then publishes it to the
 * sibling instances over the bus (they deliver on their own event loops, in the same order).
 */
export function fanOut(ctx: ServerContext, stored: StoredMessage): void {
  ctx.state.messagesStored += 1;
  ctx.order.accept(stored.message);
  ctx.metrics.observeMessage((performance.now() - stored.committedAt) / 1000);
  ctx.bus?.publish(stored.message);
}
