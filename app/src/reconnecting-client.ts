/**
 * A chat client that rides through restarts and deploys, built on ChatClient (which stays the plain
 * one-connection client). When its socket closes — 1012 from a draining server, 1001, or an abnormal close —
 * it reconnects with backoff (the first retry within firstRetryMaxMs, then capped exponential with full
 * jitter), re-joins every room, catches each up with `history` after the highest id it delivered, and sends
 * again what was not acked. Events and `received` see each message id once per room, in ascending id order.
 *
 *   const c = await ReconnectingChatClient.connect({ url: 'wss://chat.example.com/ws', token, maxOutageMs: 30_000 });
 *   c.on('message', (m) => show(m));           // MessageFrame, once per id, ascending per room
 *   await c.join('lobby');                      // resolves with the first `joined`
 *   const ack = await c.send('lobby', 'hello'); // resolves with the ack, from another server if need be
 *   c.stats();                                  // { reconnects, gapsMs, longestGapMs, resent, duplicates, late }
 *   await c.close();
 *
 * Events: `message` (MessageFrame), `disconnected` (CloseInfo), `reconnected` ({ gapMs }), `give-up`
 * (ChatClientError; the client is closed and pending sends and joins reject with it).
 *
 * Sends: a send whose socket closed before its ack, or that a draining server refused with SHUTTING_DOWN
 * (nothing stored), is sent again after reconnecting and its promise resolves with the eventual ack; other
 * error frames and timeouts reject it. After SHUTTING_DOWN, sends wait for the server's 1012 (so its spread
 * of reconnects holds) but at most drainWaitMaxMs, then the client leaves by itself once nothing is in
 * flight. An abnormal close between the store and the ack cannot be told from a loss, so such a message
 * may be stored twice (the protocol has no idempotency key).
 *
 * Bounded: an outage ends in `give-up` after maxAttempts connection attempts or maxOutageMs, whichever
 * comes first; a 1008 close, or a 4001 "token expired" close or a 401/403 refusal without tokenProvider,
 * gives up at once (with one, it reconnects with a fresh token).
 */
import { EventEmitter } from 'node:events';
import { backoffDelay } from './backoff.js';
import { ChatClient, ChatClientError, ChatClientErrorCode, type ChatClientOptions, type CloseInfo } from './chat-client.js';
import { CloseCode, ErrorCode, HISTORY_MAX_LIMIT, type AckFrame, type JoinedFrame, type MessageFrame } from './protocol.js';
import { RoomFeed } from './room-feed.js';

export interface ReconnectOptions {
  /** The first retry after a close comes within a random delay in [0, this), ms (default 100). */
  firstRetryMaxMs?: number;
  /** Later retries: full jitter up to min(backoffMaxMs, backoffBaseMs · 2^(n-1)), ms (defaults 200 and 5000). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Connection attempts per outage before giving up (default 30). */
  maxAttempts?: number;
  /** Longest outage before giving up, ms (default 60000). */
  maxOutageMs?: number;
  /**
   * After a SHUTTING_DOWN refusal, the longest wait for the draining server's own close (its 1012 comes within
   * its drain spread) before leaving it anyway, ms (default 3000; 0 leaves at once).
   */
  drainWaitMaxMs?: number;
  /** Page size of catch-up history (default HISTORY_MAX_LIMIT). */
  historyPageSize?: number;
  /** A fresh token for each connection (else `token` is reused); with it a 401 is retried, not fatal. */
  tokenProvider?: () => string | Promise<string>;
  /** Random source in [0, 1) for the backoff (tests pin it). */
  random?: () => number;
}

export type ReconnectingChatClientOptions = ChatClientOptions & ReconnectOptions;

export interface ReconnectStats {
  /** Outages ended by joining every room again. */
  reconnects: number;
  /** Per reconnect: ms from the close to joined again in every room. */
  gapsMs: number[];
  longestGapMs: number;
  /** Sends transmitted again after a close or SHUTTING_DOWN. */
  resent: number;
  /** Messages dropped as already delivered, and delivered below a higher id (see RoomFeed.late). */
  duplicates: number;
  late: number;
}

interface PendingSend {
  room: string;
  text: string;
  resolve(ack: AckFrame): void;
  reject(err: Error): void;
  /** Transmitted on the current connection and not answered yet. */
  inFlight: boolean;
  tries: number;
}

interface Room {
  feed: RoomFeed;
  /** The connection this room was last joined on. */
  joinedOn: ChatClient | undefined;
  firstJoin: { promise: Promise<JoinedFrame>; resolve(f: JoinedFrame): void; reject(e: Error): void };
}

/** Close code of our own close after a catch-up or re-join failed on an open socket. */
const CLIENT_RETRY_CLOSE = 4000;

export class ReconnectingChatClient extends EventEmitter {
  /** Every message delivered, in delivery order (unless keepMessages is false). */
  readonly received: MessageFrame[] = [];
  /** Set once closed by close() or by giving up. */
  ended: ChatClientError | undefined;
  private conn: ChatClient | undefined;
  private readonly rooms = new Map<string, Room>();
  /** Unacked sends, in send order (resent in that order). */
  private readonly sends: PendingSend[] = [];
  /** Connected and every room joined: sends go out. */
  private ready = false;
  /**
   * Set when the server refused a send with SHUTTING_DOWN: sends wait for the next server. Its own 1012 comes
   * within its drain spread; `leave` is set once drainWaitMaxMs passed without it, to go anyway.
   */
  private draining: { timer: NodeJS.Timeout; leave: boolean } | undefined;
  private attempt = 0;
  private outageStart: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly counters = { reconnects: 0, resent: 0, gapsMs: [] as number[] };

  private constructor(private readonly opts: ReconnectingChatClientOptions) {
    super();
  }

  /** Opens the first connection; rejects like ChatClient.connect (the first connect is not retried). */
  static async connect(opts: ReconnectingChatClientOptions): Promise<ReconnectingChatClient> {
    const c = new ReconnectingChatClient(opts);
    c.adopt(await ChatClient.connect(await c.connectOptions()));
    c.ready = true;
    return c;
  }

  /** Joins a room (re-joined after every reconnect); resolves with its first `joined`. */
  join(room: string): Promise<JoinedFrame> {
    const known = this.rooms.get(room);
    if (known) return known.firstJoin.promise;
    if (this.ended) return Promise.reject(this.ended);
    let resolve!: (f: JoinedFrame) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<JoinedFrame>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const r: Room = { feed: new RoomFeed(), joinedOn: undefined, firstJoin: { promise, resolve, reject } };
    this.rooms.set(room, r);
    // Without a connection the next re-join covers this room too, as it does when this socket closes first.
    if (this.conn) {
      this.joinRoom(this.conn, room, r).catch((err: unknown) => {
        if ((err as ChatClientError).code === ChatClientErrorCode.CLOSED || this.rooms.get(room) !== r) return;
        // Refused (e.g. TOO_MANY_ROOMS) or timed out: this room is not ours.
        this.rooms.delete(room);
        reject(err as Error);
      });
    }
    return promise;
  }

  /** Leaves a room: no more re-joins or deliveries for it. */
  async leave(room: string): Promise<void> {
    const r = this.rooms.get(room);
    if (!r) return;
    this.rooms.delete(room);
    r.firstJoin.reject(new ChatClientError(ChatClientErrorCode.CLOSED, `left ${room}`));
    await this.conn?.leave(room).catch(() => {});
  }

  /** Sends a message; resolves with its ack, after reconnecting and sending again if need be. */
  send(room: string, text: string): Promise<AckFrame> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<AckFrame>((resolve, reject) => {
      this.sends.push({ room, text, resolve, reject, inFlight: false, tries: 0 });
      this.flushSends();
    });
  }

  /** Reconnect counters and gaps. */
  stats(): ReconnectStats {
    let duplicates = 0;
    let late = 0;
    for (const r of this.rooms.values()) {
      duplicates += r.feed.duplicates;
      late += r.feed.late;
    }
    const gapsMs = [...this.counters.gapsMs];
    return { reconnects: this.counters.reconnects, gapsMs, longestGapMs: Math.max(0, ...gapsMs), resent: this.counters.resent, duplicates, late };
  }

  /** Stops reconnecting, closes the socket, rejects pending sends and joins. */
  async close(): Promise<void> {
    const conn = this.conn;
    this.end(new ChatClientError(ChatClientErrorCode.CLOSED, 'client closed'), false);
    await conn?.close();
  }

  private async connectOptions(): Promise<ChatClientOptions> {
    const token = this.opts.tokenProvider ? await this.opts.tokenProvider() : this.opts.token;
    // Deliveries are kept here, once each; the per-connection client keeps nothing.
    return { ...this.opts, ...(token !== undefined ? { token } : {}), keepMessages: false };
  }

  private adopt(conn: ChatClient): void {
    this.conn = conn;
    conn.on('message', (m: MessageFrame) => {
      if (this.conn !== conn) return;
      const r = this.rooms.get(m.room);
      if (r) this.deliver(r.feed.live(m));
    });
    conn.on('close', (info: CloseInfo) => this.onClose(conn, info));
  }

  private deliver(messages: MessageFrame[]): void {
    for (const m of messages) {
      if (this.opts.keepMessages !== false) this.received.push(m);
      this.emit('message', m);
    }
  }

  private onClose(conn: ChatClient, info: CloseInfo): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ready = false;
    this.stopDraining();
    for (const r of this.rooms.values()) r.feed.drop();
    this.outageStart ??= performance.now();
    this.emit('disconnected', info);
    if (this.ended) return;
    if (info.code === CloseCode.POLICY_VIOLATION) {
      this.end(new ChatClientError(ChatClientErrorCode.CLOSED, `closed with ${info.code} (${info.reason}); not reconnecting`, { closeCode: info.code }));
      return;
    }
    // The token expired: only a fresh one (tokenProvider) can get back in.
    if (info.code === CloseCode.TOKEN_EXPIRED && !this.opts.tokenProvider) {
      this.end(new ChatClientError(ChatClientErrorCode.CLOSED, 'the token expired; give the client a tokenProvider to reconnect with a fresh one', { closeCode: info.code }));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.attempt += 1;
    const { maxAttempts = 30, maxOutageMs = 60_000 } = this.opts;
    const outageMs = performance.now() - (this.outageStart ?? performance.now());
    if (this.attempt > maxAttempts || outageMs > maxOutageMs) {
      this.end(new ChatClientError(ChatClientErrorCode.CLOSED, `gave up reconnecting after ${this.attempt - 1} attempt(s) in ${Math.round(outageMs)} ms`));
      return;
    }
    const delay = backoffDelay(this.attempt, {
      firstMaxMs: this.opts.firstRetryMaxMs ?? 100,
      baseMs: this.opts.backoffBaseMs ?? 200,
      maxMs: this.opts.backoffMaxMs ?? 5_000,
      ...(this.opts.random ? { random: this.opts.random } : {}),
    });
    this.timer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    this.timer = undefined;
    let conn: ChatClient;
    try {
      conn = await ChatClient.connect(await this.connectOptions());
    } catch (err) {
      if (this.ended) return;
      const status = err instanceof ChatClientError ? err.status : undefined;
      if ((status === 401 || status === 403) && !this.opts.tokenProvider) {
        this.end(err as ChatClientError);
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (this.ended) {
      await conn.close();
      return;
    }
    // Snapshot the rooms now, in the same tick as adopt: a join() from here on joins on `conn` itself.
    this.adopt(conn);
    const joins = [...this.rooms].map(([room, r]) => this.joinRoom(conn, room, r));
    try {
      await Promise.all(joins);
    } catch {
      // Closed meanwhile (onClose retries), or the server could not answer: retry on a fresh socket.
      if (this.conn === conn) await conn.close(CLIENT_RETRY_CLOSE, 'rejoin failed');
      return;
    }
    if (this.conn !== conn) return;
    const gapMs = performance.now() - (this.outageStart ?? performance.now());
    this.outageStart = undefined;
    this.attempt = 0;
    this.counters.reconnects += 1;
    this.counters.gapsMs.push(gapMs);
    this.ready = true;
    this.emit('reconnected', { gapMs });
    this.flushSends();
  }

  /** Joins `room` on `conn`, then catches it up in the background; resolves with `joined`. */
  private async joinRoom(conn: ChatClient, room: string, r: Room): Promise<JoinedFrame> {
    if (r.joinedOn === conn) return r.firstJoin.promise;
    r.joinedOn = conn;
    r.feed.hold();
    const joined = await conn.join(room);
    r.firstJoin.resolve(joined);
    void this.catchUp(conn, room, r, joined);
    return joined;
  }

  /** Pages history after the highest delivered id until a short page, then releases the held live messages. */
  private async catchUp(conn: ChatClient, room: string, r: Room, joined: JoinedFrame): Promise<void> {
    const limit = this.opts.historyPageSize ?? HISTORY_MAX_LIMIT;
    const current = () => this.conn === conn && this.rooms.get(room) === r;
    try {
      for (let after = r.feed.joined(joined.lastId); after !== undefined && current();) {
        const reply = await conn.history(room, { after, limit });
        const page = reply.messages;
        if (!current()) return;
        this.deliver(r.feed.page(page));
        const last = page.at(-1)?.id ?? after;
        // A short page is the end unless the server cut it at its byte cap (`more`); a full one continues
        // after its last id (which always moves forward).
        after = (page.length < limit && reply.more !== true) || last <= after ? undefined : last;
      }
    } catch {
      if (this.conn === conn) await conn.close(CLIENT_RETRY_CLOSE, 'catch-up failed');
      return;
    }
    if (current()) this.deliver(r.feed.release());
  }

  private flushSends(): void {
    const conn = this.conn;
    if (!conn || !this.ready || this.draining) return;
    for (const p of this.sends) if (!p.inFlight) this.transmit(conn, p);
  }

  private transmit(conn: ChatClient, p: PendingSend): void {
    p.inFlight = true;
    p.tries += 1;
    if (p.tries > 1) this.counters.resent += 1;
    conn.send(p.room, p.text).then(
      (ack) => {
        this.settle(p);
        p.resolve(ack);
        this.maybeLeave(conn);
      },
      (err: unknown) => {
        p.inFlight = false;
        const e = err as ChatClientError;
        if (e.frame?.code === ErrorCode.SHUTTING_DOWN) {
          // Nothing was stored; this server is draining: send it again on the next one.
          if (this.conn === conn) this.startDraining(conn);
        } else if (e.code !== ChatClientErrorCode.CLOSED) {
          this.settle(p);
          p.reject(e);
        }
        this.maybeLeave(conn);
        this.flushSends();
      },
    );
  }

  private settle(p: PendingSend): void {
    const i = this.sends.indexOf(p);
    if (i >= 0) this.sends.splice(i, 1);
  }

  /**
   * Holds sends for the next server. Waiting for the draining server's 1012 keeps its spread of reconnects
   * (its senders would otherwise all leave at once); drainWaitMaxMs bounds the wait.
   */
  private startDraining(conn: ChatClient): void {
    if (this.draining) return;
    const waitMs = this.opts.drainWaitMaxMs ?? 3_000;
    const d = { leave: waitMs <= 0, timer: setTimeout(() => {
      d.leave = true;
      this.maybeLeave(conn);
    }, Math.max(0, waitMs)) };
    this.draining = d;
  }

  private stopDraining(): void {
    clearTimeout(this.draining?.timer);
    this.draining = undefined;
  }

  /** Leaves a draining server, once no send is in flight on it: an ack still to come must not be taken for a loss. */
  private maybeLeave(conn: ChatClient): void {
    if (this.draining?.leave && this.conn === conn && !this.sends.some((p) => p.inFlight)) void conn.close(1000, 'server restarting');
  }

  /** Closes for good: by close() or by giving up (`gaveUp`, which emits `give-up`). */
  private end(err: ChatClientError, gaveUp = true): void {
    if (this.ended) return;
    this.ended = err;
    clearTimeout(this.timer);
    this.stopDraining();
    this.ready = false;
    for (const p of this.sends.splice(0)) p.reject(err);
    for (const r of this.rooms.values()) r.firstJoin.reject(err);
    if (gaveUp) this.emit('give-up', err);
  }
}
