/**
 * The bus between instances: Redis pub/sub through ioredis, one channel. Every instance publishes
 * each message it stored, after the commit, and hands what its siblings published to the room order
 * (room-order.ts), which delivers each room in seq order and reads any gap from the database.
 *
 * Pub/sub keeps nothing: what is published while a subscriber is cut off (Redis restarting, a
 * network blip) never reaches it. The database holds every message already, so nothing is lost for
 * good; the bus only has to say where to look:
 * - a subscriber that (re)subscribes reads each room's newest seq from the database (`onSubscribed`);
 * - a publish that failed is announced, once the publisher is back, as a mark "ROOM is stored up to
 *   SEQ" (`onMark`), so siblings that stayed subscribed read it too.
 * While Redis is down every instance keeps serving its own clients (single-instance delivery) and
 * says so: a warning in the log once per outage, `bus: "down"` in the local /readyz, and the
 * messenger_bus_up gauge. A Redis that hangs (stopped, swapping, a partitioned network) is found by
 * a ping every few seconds and by publishes that time out: the connection is dropped and redialled,
 * so nothing waits on it without bound.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { ErrorCode } from '../../src/errors/catalogue.js';
import type { BusAddress } from './config.js';
import type { Logger } from './log.js';
import { isValidRoom, type ChatMessage } from './protocol.js';

/** Channels of this app share a prefix, which the Redis user's ACL allows and nothing else. */
export const BUS_CHANNEL = 'messenger-chat:v1:messages';
/** At most this many rooms' failed publishes are remembered for marks; beyond it siblings find gaps on the next message. */
const MAX_MARKED_ROOMS = 10_000;
/** A command Redis has not answered in this long counts as failed (a publish becomes a mark). */
const COMMAND_TIMEOUT_MS = 1_000;
/** Each connection is pinged this often; a ping that times out drops the connection. */
const HEALTH_INTERVAL_MS = 3_000;
/** The longest `stop()` waits for Redis to acknowledge QUIT before it just closes the sockets. */
const STOP_TIMEOUT_MS = 1_000;

const BUS_DOWN = 'MI_WARN_BUS_DOWN' satisfies ErrorCode;

export type BusState = 'connecting' | 'up' | 'down';

/** On the wire: a stored message, or a mark that a room is stored up to a seq. `f` is the sender. */
type Frame = { f: string; m: ChatMessage } | { f: string; room: string; seq: number };

export interface BusOptions {
  address: BusAddress;
  /** The instance's name (MESSENGER_INSTANCE), for logs and Redis' client list. */
  instance: string;
  log: Logger;
  /** A sibling's stored message. */
  onMessage(m: ChatMessage): void;
  /** A sibling stored `room` up to `seq`, but its publish may not have reached us. */
  onMark(room: string, seq: number): void;
  /** The subscription is (re)established: what was published before it may have been missed. */
  onSubscribed(): void;
}

function isMessage(v: unknown): v is ChatMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return isValidRoom(m.room) && Number.isSafeInteger(m.id) && (m.seq === undefined || isSeq(m.seq)) &&
    typeof m.user === 'string' && typeof m.text === 'string' && typeof m.ts === 'string';
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

export class RedisBus {
  /** This process's name on the bus: its own frames come back from the subscription and are skipped. */
  private readonly self = `${process.pid}.${randomBytes(6).toString('hex')}`;
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Rooms whose publish failed while the publisher was away: the highest seq of each. */
  private readonly unannounced = new Map<string, number>();
  private subscribed = false;
  /** Set from a lost (or failed first) connection until both are up again. */
  private outage = false;
  private stopped = false;
  private health: NodeJS.Timeout | undefined;
  /** SUBSCRIBE refusals in a row (an ACL without the channel): the redial backs off. */
  private refusals = 0;
  /**
   * Counts the subscriptions made: a join that read its room's newest seq under an earlier one may
   * have missed what was published before this one (see `subscription`).
   */
  private generation = 0;
  received = 0;
  published = 0;
  publishFailures = 0;
  /** Outages that ended (Redis lost, then back). */
  outages = 0;

  constructor(private readonly opts: BusOptions) {
    const base: RedisOptions = {
      host: opts.address.host,
      port: opts.address.port,
      ...(opts.address.username ? { username: opts.address.username } : {}),
      ...(opts.address.password ? { password: opts.address.password } : {}),
      // A publish is never queued while Redis is away: it fails at once and becomes a mark instead
      // of memory that grows for as long as the outage lasts.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 2_000,
      // Its user may only publish, subscribe, ping and name its connection (the host's ACL).
      disableClientInfo: true,
      // Quick first retries (a restart is back within a second), then every 2 s at most, forever.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      lazyConnect: true,
    };
    this.pub = new Redis({ ...base, connectionName: `messenger-chat-${opts.instance}-pub` });
    // The subscriber subscribes itself on each (re)connect: only Redis' reply to SUBSCRIBE says from
    // when on nothing is missed, and the database read of `onSubscribed` must come after it.
    this.sub = new Redis({ ...base, autoResubscribe: false, connectionName: `messenger-chat-${opts.instance}-sub` });
  }

  get state(): BusState {
    if (this.subscribed && this.pub.status === 'ready') return 'up';
    return this.outage ? 'down' : 'connecting';
  }

  /** The current subscription's number; it changes each time the instance subscribes again. */
  get subscription(): number {
    return this.generation;
  }

  /** Connects in the background (the instance serves its own clients meanwhile) and keeps reconnecting. */
  start(): void {
    const { log } = this.opts;
    for (const [role, conn] of [['publisher', this.pub], ['subscriber', this.sub]] as const) {
      conn.on('error', (err: Error) => log.debug('redis error', { role, err: err.message }));
      conn.on('close', () => this.lost(role));
    }
    this.pub.on('ready', () => {
      this.announce();
      this.maybeRecovered();
    });
    this.sub.on('ready', () => {
      this.sub.subscribe(BUS_CHANNEL).then(
        () => {
          if (this.stopped) return;
          this.refusals = 0;
          this.subscribed = true;
          this.generation += 1;
          this.maybeRecovered();
          this.opts.onSubscribed();
        },
        (err: unknown) => {
          if (this.stopped) return;
          // Refused (an ACL without the channel) or cut off again: one warning per outage, then a
          // fresh connection after a growing pause (ioredis' own backoff restarts at every connect).
          this.lost('subscriber', err instanceof Error ? err.message : String(err));
          this.refusals += 1;
          setTimeout(() => this.stopped || this.sub.disconnect(true), Math.min(100 * 2 ** Math.min(this.refusals, 6), 5_000)).unref();
        },
      );
    });
    this.sub.on('message', (_channel: string, data: string) => this.onFrame(data));
    this.sub.connect().catch(() => {});
    this.pub.connect().catch(() => {});
    this.health = setInterval(() => this.check(), HEALTH_INTERVAL_MS);
    this.health.unref();
  }

  /**
   * A connection Redis no longer answers (it hangs, or the network dropped without a reset) is
   * dropped and redialled; marks a failed announce left are sent again.
   */
  private check(): void {
    for (const conn of [this.pub, this.sub]) {
      if (conn.status !== 'ready') continue;
      conn.ping().catch(() => {
        if (!this.stopped && conn.status === 'ready') conn.disconnect(true);
      });
    }
    if (this.unannounced.size > 0 && this.pub.status === 'ready') this.announce();
  }

  /** One warning per outage, from the first connection lost (or never made) until both are back. */
  private lost(role: 'publisher' | 'subscriber', reason?: string): void {
    if (this.stopped) return;
    if (role === 'subscriber') this.subscribed = false;
    if (this.outage) return;
    this.outage = true;
    this.opts.log.warn("redis unreachable: each instance delivers only its own clients' messages until it is back", {
      code: BUS_DOWN,
      role,
      redis: `${this.opts.address.host}:${this.opts.address.port}`,
      ...(reason ? { reason } : {}),
    });
  }

  private maybeRecovered(): void {
    if (!this.outage || this.state !== 'up') return;
    this.outage = false;
    this.outages += 1;
    this.opts.log.info('redis reachable again: delivering across instances; what was missed is read from the database');
  }

  /** Publishes a stored message; when Redis is away, remembers its room for a mark. */
  publish(m: ChatMessage): void {
    const frame: Frame = { f: this.self, m };
    if (this.pub.status !== 'ready') {
      this.failed(m);
      return;
    }
    this.pub.publish(BUS_CHANNEL, JSON.stringify(frame)).then(
      () => {
        this.published += 1;
      },
      // Refused or not answered within COMMAND_TIMEOUT_MS: a mark tells the siblings later.
      () => this.failed(m),
    );
  }

  private failed(m: ChatMessage): void {
    this.publishFailures += 1;
    if (m.seq === undefined) return;
    if (!this.unannounced.has(m.room) && this.unannounced.size >= MAX_MARKED_ROOMS) return;
    this.unannounced.set(m.room, Math.max(m.seq, this.unannounced.get(m.room) ?? 0));
  }

  /** The publisher is back (or a health check finds marks left): tell the siblings where the publishes that failed left off. */
  private announce(): void {
    const marks = [...this.unannounced];
    this.unannounced.clear();
    for (const [room, seq] of marks) {
      const frame: Frame = { f: this.self, room, seq };
      this.pub.publish(BUS_CHANNEL, JSON.stringify(frame)).catch(() => this.unannounced.set(room, Math.max(seq, this.unannounced.get(room) ?? 0)));
    }
  }

  private onFrame(data: string): void {
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const frame = v as Record<string, unknown>;
    if (frame.f === this.self) return;
    try {
      if (isMessage(frame.m)) {
        this.received += 1;
        this.opts.onMessage(frame.m);
      } else if (isValidRoom(frame.room) && isSeq(frame.seq)) {
        this.opts.onMark(frame.room, frame.seq);
      }
    } catch (err) {
      this.opts.log.error('bus delivery failed', { err });
    }
  }

  /**
   * Announces what is left to announce, then closes both connections: publishes in flight are sent
   * first, unless Redis does not answer within STOP_TIMEOUT_MS (a shutdown never waits on it longer).
   */
  async stop(): Promise<void> {
    if (this.pub.status === 'ready') this.announce();
    this.stopped = true;
    clearInterval(this.health);
    const bounded = new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS).unref());
    await Promise.race([Promise.allSettled([this.pub.quit(), this.sub.quit()]), bounded]);
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
