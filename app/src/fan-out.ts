/** What follows storing a message, the same on /ws and on the HTTP fallback. */
import type { ServerContext } from './context.js';
import type { StoredMessage } from './db.js';

/**
 * Counts a stored (and acked) message, delivers it to this instance's members, times that from the
 * commit, then relays it to the sibling instances (they deliver on their own event loops).
 */
export function fanOut(ctx: ServerContext, stored: StoredMessage): void {
  ctx.state.messagesStored += 1;
  ctx.hub.broadcast(stored.message);
  ctx.metrics.observeMessage((performance.now() - stored.committedAt) / 1000);
  ctx.relay.publish(stored.message);
}
