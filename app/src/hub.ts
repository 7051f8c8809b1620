/**
 * Room membership and local fan-out. A message is serialised and framed once and the same bytes are
 * written to every member's socket; a member whose send buffer is past the bound is dropped instead of
 * growing server memory.
 */
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { ChatMessage, MessageFrame } from './protocol.js';
import { textFrame } from './ws-frame.js';

/** What the hub needs from a connection. */
export interface Member {
  readonly ws: WebSocket;
  /**
   * The socket the upgrade handed to ws. A broadcast writes its pre-built frame here directly. That
   * keeps order with ws's own writes (replies, pings, close): ws sends without compression and writes
   * each frame at once, and both paths are synchronous writes to this one socket.
   */
  readonly socket: Duplex;
  readonly rooms: Set<string>;
}

export class RoomHub {
  private readonly rooms = new Map<string, Set<Member>>();
  private readonly roomWatchers = new Map<string, Set<() => void>>();
  /** Total frames handed to sockets by broadcast. */
  deliveries = 0;
  /** Members dropped for backpressure. */
  slowDrops = 0;

  constructor(private readonly maxBufferedBytes: number, private readonly onSlowDrop: (m: Member) => void = () => {}) {}

  join(room: string, m: Member): void {
    let set = this.rooms.get(room);
    if (!set) {
      set = new Set();
      this.rooms.set(room, set);
    }
    set.add(m);
    m.rooms.add(room);
  }

  leave(room: string, m: Member): void {
    const set = this.rooms.get(room);
    m.rooms.delete(room);
    if (!set) return;
    set.delete(m);
    if (set.size === 0) this.rooms.delete(room);
  }

  leaveAll(m: Member): void {
    for (const room of [...m.rooms]) this.leave(room, m);
  }

  hasMembers(room: string): boolean {
    return this.rooms.has(room);
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Sends one text frame to one member through ws (replies). Returns false if not sent. */
  deliver(m: Member, data: string): boolean {
    if (!this.writable(m)) return false;
    m.ws.send(data, { binary: false });
    return true;
  }

  /**
   * True if `m` is open and under the buffer bound; a member over it is dropped (terminated) here.
   * socket.writableLength is what ws.bufferedAmount reads, less ws's own queue, which stays empty
   * without compression.
   */
  private writable(m: Member): boolean {
    if (m.ws.readyState !== WebSocket.OPEN) return false;
    if (m.socket.writableLength > this.maxBufferedBytes) {
      this.slowDrops += 1;
      this.onSlowDrop(m);
      m.ws.terminate();
      return false;
    }
    return true;
  }

  /** Sends a stored message to every local member of its room; wakes long-poll waiters. Returns deliveries. */
  broadcast(msg: ChatMessage): number {
    const frame: MessageFrame = { type: 'message', room: msg.room, id: msg.id, ...(msg.seq === undefined ? {} : { seq: msg.seq }), user: msg.user, text: msg.text, ts: msg.ts };
    const payload = Buffer.from(JSON.stringify(frame));
    const bytes = textFrame(payload);
    let n = 0;
    const set = this.rooms.get(msg.room);
    if (set) {
      for (const m of set) {
        if (!this.writable(m)) continue;
        // ws queues frames only while it compresses: a connection that negotiated an extension (the
        // server offers none today) goes through ws, so a broadcast never overtakes its queue.
        if (m.ws.extensions === '') m.socket.write(bytes);
        else m.ws.send(payload, { binary: false });
        n += 1;
      }
    }
    this.deliveries += n;
    const watchers = this.roomWatchers.get(msg.room);
    if (watchers) {
      this.roomWatchers.delete(msg.room);
      for (const w of watchers) w();
    }
    return n;
  }

  /** Calls `fn` once at the next broadcast to `room` (long polling); returns a canceller. */
  watch(room: string, fn: () => void): () => void {
    let set = this.roomWatchers.get(room);
    if (!set) {
      set = new Set();
      this.roomWatchers.set(room, set);
    }
    set.add(fn);
    return () => {
      const s = this.roomWatchers.get(room);
      s?.delete(fn);
      if (s && s.size === 0) this.roomWatchers.delete(room);
    };
  }

  /** Wakes every long-poll waiter (shutdown). */
  wakeAll(): void {
    const all = [...this.roomWatchers.values()];
    this.roomWatchers.clear();
    for (const set of all) for (const w of set) w();
  }
}
