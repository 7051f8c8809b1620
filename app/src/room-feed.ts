/**
 * The delivery rule of one room in a reconnecting client: each message id goes out once, in ascending id
 * order, across reconnects. Live messages are held while the room catches up through `history` after the
 * highest delivered id, then released in id order minus what history already delivered. Pure bookkeeping,
 * no I/O: reconnecting-client.ts drives it.
 *
 *   feed.hold();                       // before sending join
 *   feed.live(m)                       // → [] while holding, else [m] or [] (a duplicate)
 *   const after = feed.joined(lastId); // → the id to page history after, or undefined (nothing missed)
 *   feed.page(messages)                // → the new ones, for each history page
 *   feed.release()                     // → the held live messages not yet delivered, in id order
 */
import type { ChatMessage, MessageFrame } from './protocol.js';

/** Delivered ids remembered per room for dedupe; anything older counts as delivered. */
const MAX_REMEMBERED = 10_000;

/** The ids delivered so far: the newest MAX_REMEMBERED exactly, everything at or below `floor` by assumption. */
class DeliveredIds {
  private readonly ids = new Set<number>();
  constructor(private floor: number) {}

  has(id: number): boolean {
    return id <= this.floor || this.ids.has(id);
  }

  add(id: number): void {
    this.ids.add(id);
    if (this.ids.size <= MAX_REMEMBERED) return;
    // A Set iterates in insertion order: drop the first delivered, which is about the lowest.
    const oldest = this.ids.values().next().value as number;
    this.ids.delete(oldest);
    this.floor = Math.max(this.floor, oldest);
  }
}

function asFrame(m: ChatMessage): MessageFrame {
  return { type: 'message', room: m.room, id: m.id, ...(m.seq === undefined ? {} : { seq: m.seq }), user: m.user, text: m.text, ts: m.ts };
}

export class RoomFeed {
  /** Highest id delivered (or the baseline of the first join); undefined until the room was first joined. */
  lastId: number | undefined;
  /** Messages dropped because their id was already delivered. */
  duplicates = 0;
  /**
   * Messages delivered below the highest id already delivered. One instance stores and broadcasts a room's
   * messages in id order, so this stays 0 unless two instances accepted messages for the room at once.
   */
  late = 0;
  private delivered: DeliveredIds | undefined;
  private held: MessageFrame[] | undefined;

  /** True between hold() and release(). */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Holds live messages from now on (call before sending join). */
  hold(): void {
    this.held = [];
  }

  /** Forgets what was held on a connection that closed; the next join catches up from lastId again. */
  drop(): void {
    this.held = undefined;
  }

  /** A live `message` frame: what to deliver now. */
  live(m: MessageFrame): MessageFrame[] {
    if (this.held) {
      this.held.push(m);
      return [];
    }
    return this.accept(m) ? [m] : [];
  }

  /**
   * The room's `joined` (its lastId is the newest stored id). The first join starts from there (or just below
   * the lowest message already held, which arrived after the server added us); a re-join continues from the
   * highest id delivered. Returns the id to read history after, or undefined when nothing can be missing.
   */
  joined(newestId: number): number | undefined {
    if (this.lastId === undefined) {
      const lowestHeld = Math.min(...(this.held ?? []).map((m) => m.id));
      this.lastId = Math.min(newestId, lowestHeld - 1);
      this.delivered = new DeliveredIds(this.lastId);
    }
    return newestId > this.lastId ? this.lastId : undefined;
  }

  /** One page of catch-up history (ascending ids): the messages to deliver. */
  page(messages: ChatMessage[]): MessageFrame[] {
    return messages.map(asFrame).filter((m) => this.accept(m));
  }

  /** Ends the catch-up: the held live messages not delivered yet, in id order. */
  release(): MessageFrame[] {
    const held = this.held ?? [];
    this.held = undefined;
    return held.sort((a, b) => a.id - b.id).filter((m) => this.accept(m));
  }

  private accept(m: MessageFrame): boolean {
    const delivered = (this.delivered ??= new DeliveredIds(this.lastId ?? 0));
    if (delivered.has(m.id)) {
      this.duplicates += 1;
      return false;
    }
    if (this.lastId !== undefined && m.id < this.lastId) this.late += 1;
    delivered.add(m.id);
    this.lastId = Math.max(this.lastId ?? 0, m.id);
    return true;
  }
}
