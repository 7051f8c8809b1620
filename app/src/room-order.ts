/**
 * Per-room order across instances. Every stored message has a per-room sequence number assigned in
 * the transaction that stores it (db.ts): seq N+1 of a room can only commit after seq N has. Each
 * instance hears a room's messages from two places, its own writes and its siblings (the relay),
 * which may arrive out of order. This hands them to local delivery strictly in seq order, each once:
 * a message past a gap waits while the gap is read from the database (it is committed already), so a
 * client never sees N+1 before N and a reconnect that catches up "after the last id it saw" never
 * skips one. Messages without a seq (written by a release from before seqs, during its drain) pass
 * through as they come.
 */
import type { ChatMessage } from './protocol.js';

/** Reads a room's messages with from < seq < to, ascending. */
export type SeqRange = (room: string, from: number, to: number) => Promise<ChatMessage[]>;

interface RoomState {
  /** The next seq to deliver. */
  next: number;
  /** Arrived past a gap, by seq. */
  held: Map<number, ChatMessage>;
  filling: boolean;
}

/** Rooms whose order is tracked at once; the least recently used one is forgotten past this. */
const MAX_ROOMS = 20_000;

export class RoomOrder {
  private readonly rooms = new Map<string, RoomState>();
  /** Gaps filled from the database, messages delivered from those reads, duplicates dropped. */
  gapsFilled = 0;
  filledMessages = 0;
  duplicates = 0;

  constructor(
    private readonly deliver: (m: ChatMessage) => void,
    private readonly range: SeqRange,
    private readonly onError: (err: unknown, room: string) => void = () => {},
    private readonly maxRooms = MAX_ROOMS,
  ) {}

  /**
   * A member joined `room`, whose newest stored seq is `seq` (read after the join): live delivery
   * starts after it, unless the room is tracked already. Without this, the first message heard would
   * start the order, and an earlier one relayed late would be taken for a duplicate.
   */
  track(room: string, seq: number): void {
    if (this.rooms.has(room)) return;
    this.rooms.set(room, { next: seq + 1, held: new Map(), filling: false });
    if (this.rooms.size > this.maxRooms) this.forgetOne();
  }

  accept(m: ChatMessage): void {
    if (m.seq === undefined) {
      this.deliver(m);
      return;
    }
    let s = this.rooms.get(m.room);
    if (s) {
      // Most recently used last: the first key is the one to forget.
      this.rooms.delete(m.room);
      this.rooms.set(m.room, s);
    } else {
      // The first message of a room seen here is where its order starts: members that joined
      // before it caught up through history up to their join.
      s = { next: m.seq, held: new Map(), filling: false };
      this.rooms.set(m.room, s);
      if (this.rooms.size > this.maxRooms) this.forgetOne();
    }
    if (m.seq < s.next || s.held.has(m.seq)) {
      this.duplicates += 1;
      return;
    }
    s.held.set(m.seq, m);
    this.release(s);
    if (s.held.size > 0 && !s.filling) void this.fill(m.room, s);
  }

  /** The least recently used room that holds nothing: forgetting it loses no message. */
  private forgetOne(): void {
    for (const [room, s] of this.rooms) {
      if (s.held.size === 0 && !s.filling) {
        this.rooms.delete(room);
        return;
      }
    }
  }

  /** Delivers every held message that continues the sequence. */
  private release(s: RoomState): void {
    for (let m = s.held.get(s.next); m; m = s.held.get(s.next)) {
      s.held.delete(s.next);
      s.next += 1;
      this.deliver(m);
    }
  }

  /** Delivers everything held, in seq order, across the gaps that cannot be filled. */
  private releaseAll(s: RoomState): void {
    while (s.held.size > 0) {
      s.next = Math.min(...s.held.keys());
      this.release(s);
    }
  }

  /** Reads the gap before the lowest held message; on a failed read, delivers what is held, in order. */
  private async fill(room: string, s: RoomState): Promise<void> {
    s.filling = true;
    try {
      while (s.held.size > 0) {
        const lowest = Math.min(...s.held.keys());
        const missing = await this.range(room, s.next - 1, lowest);
        this.gapsFilled += 1;
        for (const m of missing) {
          if (m.seq === undefined || m.seq < s.next || s.held.has(m.seq)) continue;
          s.held.set(m.seq, m);
          this.filledMessages += 1;
        }
        // Rows the read did not return (deleted, or written without a seq) can never come: skip them.
        if (s.held.size > 0 && !s.held.has(s.next)) s.next = Math.min(...s.held.keys());
        this.release(s);
      }
    } catch (err) {
      // The database is down: what is held goes out in order anyway; clients catch up on reconnect.
      this.onError(err, room);
      this.releaseAll(s);
    } finally {
      s.filling = false;
    }
  }
}
