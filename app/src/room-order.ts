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

/** Reads a room's messages with from < seq < to, ascending, at most SEQ_RANGE_PAGE of them. */
export type SeqRange = (room: string, from: number, to: number) => Promise<ChatMessage[]>;

/** The most rows one gap read returns; a longer gap is read page by page. */
export const SEQ_RANGE_PAGE = 1000;

interface RoomState {
  /** The next seq to deliver. */
  next: number;
  /** Arrived past a gap, by seq. */
  held: Map<number, ChatMessage>;
  filling: boolean;
}


export class RoomOrder {
  private readonly rooms = new Map<string, RoomState>();
  /** Gaps filled from the database, messages delivered from those reads, duplicates dropped. */
  gapsFilled = 0;
  filledMessages = 0;
  duplicates = 0;

  /**
   * `hasMembers` says whether this instance has members in a room: only those rooms are tracked (a
   * room nobody here reads needs no order), so the state is bounded by the rooms joined here and a
   * room's order never restarts while someone reads it.
   */
  constructor(
    private readonly deliver: (m: ChatMessage) => void,
    private readonly range: SeqRange,
    private readonly hasMembers: (room: string) => boolean,
    private readonly onError: (err: unknown, room: string) => void = () => {},
  ) {}

  /**
   * A member joined `room`, whose newest stored seq is `seq` (read after the join): live delivery
   * starts after it, unless the room is tracked already. Without this, the first message heard would
   * start the order, and an earlier one relayed late would be taken for a duplicate.
   */
  track(room: string, seq: number): void {
    if (this.rooms.has(room)) return;
    this.rooms.set(room, { next: seq + 1, held: new Map(), filling: false });
  }

  accept(m: ChatMessage): void {
    let s = this.rooms.get(m.room);
    if (!this.hasMembers(m.room) && !s?.held.size && !s?.filling) {
      // Nobody here reads the room (the last member left): forget its order; long-poll waiters
      // only need the wake-up.
      this.rooms.delete(m.room);
      this.deliver(m);
      return;
    }
    if (m.seq === undefined) {
      this.deliver(m);
      return;
    }
    if (!s) {
      // A member joined before its join's read finished: the first message heard starts the order
      // (the member catches up through history up to its join).
      s = { next: m.seq, held: new Map(), filling: false };
      this.rooms.set(m.room, s);
    }
    if (m.seq < s.next || s.held.has(m.seq)) {
      this.duplicates += 1;
      return;
    }
    s.held.set(m.seq, m);
    this.release(s);
    if (s.held.size > 0 && !s.filling) void this.fill(m.room, s);
  }

  /** Rooms whose order is tracked here. */
  get trackedRooms(): number {
    return this.rooms.size;
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
      s.next = lowestOf(s.held);
      this.release(s);
    }
  }

  /** Reads the gap before the lowest held message; on a failed read, delivers what is held, in order. */
  private async fill(room: string, s: RoomState): Promise<void> {
    s.filling = true;
    try {
      while (s.held.size > 0) {
        const lowest = lowestOf(s.held);
        const missing = await this.range(room, s.next - 1, lowest);
        this.gapsFilled += 1;
        for (const m of missing) {
          if (m.seq === undefined || m.seq < s.next || s.held.has(m.seq)) continue;
          s.held.set(m.seq, m);
          this.filledMessages += 1;
        }
        this.release(s);
        // Below `lowest`, what the read did not return (a row deleted, or stored without a seq) can
        // never come: skip it. A full page means the gap goes on: read its next page. Above `lowest`,
        // a gap opened by messages that arrived during the read is read in the next round.
        if (missing.length < SEQ_RANGE_PAGE && s.next < lowest) {
          s.next = lowest;
          this.release(s);
        }
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

/** The lowest key (without spreading a large map into arguments). */
function lowestOf(held: Map<number, ChatMessage>): number {
  let low = Infinity;
  for (const k of held.keys()) if (k < low) low = k;
  return low;
}
