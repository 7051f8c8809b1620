/**
 * Per-room order across instances. Every stored message has a per-room sequence number assigned in
 * the transaction that stores it (db.ts): seq N+1 of a room can only commit after seq N has. Each
 * instance hears a room's messages from two places, its own writes and its siblings (the bus),
 * which may arrive out of order. This hands them to local delivery strictly in seq order, each once:
 * a message past a gap waits while the gap is read from the database (it is committed already), so a
 * client never sees N+1 before N and a reconnect that catches up "after the last id it saw" never
 * skips one. When the bus may have lost messages (Redis restarted, a sibling's publish failed), the
 * bus says how far a room is stored (`catchUp`) and the rest is read the same way. Messages without
 * a seq (written by a release from before seqs, during its drain) pass through as they come.
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
  /** The highest seq known to be stored: everything up to it is delivered, read if it is not heard. */
  stored: number;
  filling: boolean;
}

function roomState(next: number): RoomState {
  return { next, held: new Map(), stored: next - 1, filling: false };
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
   * start the order, and an earlier one published late would be taken for a duplicate.
   */
  track(room: string, seq: number): void {
    if (this.rooms.has(room)) return;
    this.rooms.set(room, roomState(seq + 1));
  }

  /**
   * `room` is stored up to `seq` (the bus lost messages, or a sibling's publish failed): whatever of
   * it has not been delivered is read from the database. Rooms not tracked here need nothing.
   */
  catchUp(room: string, seq: number): void {
    const s = this.rooms.get(room);
    if (!s || seq <= s.stored) return;
    s.stored = seq;
    if (seq >= s.next && !s.filling) void this.fill(room, s);
  }

  /**
   * The rooms read here (with local members). A room whose members all left is forgotten here
   * (unless a read for it is still running), so catch-ups never read rooms nobody here reads.
   */
  roomNames(): string[] {
    for (const [room, s] of this.rooms) if (!this.hasMembers(room) && !s.filling && s.held.size === 0) this.rooms.delete(room);
    return [...this.rooms.keys()];
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
      s = roomState(m.seq);
      this.rooms.set(m.room, s);
    }
    if (m.seq < s.next || s.held.has(m.seq)) {
      this.duplicates += 1;
      return;
    }
    s.held.set(m.seq, m);
    this.release(s);
    if (readUpTo(s) !== undefined && !s.filling) void this.fill(m.room, s);
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
      if (s.stored < m.seq!) s.stored = m.seq!;
      this.deliver(m);
    }
  }

  /** Delivers everything held, in seq order, across the gaps that cannot be filled. */
  private releaseAll(s: RoomState): void {
    while (s.held.size > 0) {
      s.next = lowestOf(s.held);
      this.release(s);
    }
    if (s.next <= s.stored) s.next = s.stored + 1;
  }

  /**
   * Reads the gap before the lowest held message, or up to the newest seq known to be stored; on a
   * failed read, delivers what is held, in order.
   */
  private async fill(room: string, s: RoomState): Promise<void> {
    s.filling = true;
    try {
      for (let upTo = readUpTo(s); upTo !== undefined; upTo = readUpTo(s)) {
        const missing = await this.range(room, s.next - 1, upTo);
        this.gapsFilled += 1;
        for (const m of missing) {
          if (m.seq === undefined || m.seq < s.next || s.held.has(m.seq)) continue;
          s.held.set(m.seq, m);
          this.filledMessages += 1;
        }
        this.release(s);
        // Below `upTo`, what the read did not return (a row deleted, or stored without a seq) can
        // never come: skip it. A full page means the gap goes on: read its next page. Above `upTo`,
        // a gap opened by messages that arrived during the read is read in the next round.
        if (missing.length < SEQ_RANGE_PAGE && s.next < upTo) {
          s.next = upTo;
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

/** The seq the next read must reach (exclusive): the lowest held one, or one past the newest stored; undefined when nothing is missing. */
function readUpTo(s: RoomState): number | undefined {
  if (s.held.size > 0) return lowestOf(s.held);
  return s.stored >= s.next ? s.stored + 1 : undefined;
}

/** The lowest key (without spreading a large map into arguments). */
function lowestOf(held: Map<number, ChatMessage>): number {
  let low = Infinity;
  for (const k of held.keys()) if (k < low) low = k;
  return low;
}
