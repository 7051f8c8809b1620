/**
 * The state the server's parts share, passed explicitly to each of them (no module-level globals, so
 * several servers can run in one process, as the tests do).
 */
import type { RedisBus } from './bus.js';
import type { ChatConfig } from './config.js';
import type { MessageStore } from './db.js';
import type { Member, RoomHub } from './hub.js';
import type { ChatLimits } from './limits.js';
import type { Logger } from './log.js';
import type { ChatMetrics } from './metrics.js';
import type { TokenBucket } from './rate-limit.js';
import type { RoomOrder } from './room-order.js';
import type { TokenCheck } from './token.js';

/** One accepted WebSocket client. */
export interface Conn extends Member {
  readonly id: number;
  readonly user: string;
  readonly addr: string;
  readonly bucket: TokenBucket;
  alive: boolean;
  violations: number;
}

/** Mutable lifecycle flags and counters. */
export interface ServerState {
  /** Set once by shutdown(); every entry point refuses new work after it. */
  shuttingDown: boolean;
  /** True once the migrations have run; /readyz says "migrating" until then. */
  ready: boolean;
  messagesStored: number;
  /** Rooms joined over /ws. */
  joins: number;
  /** config.port until listening, then the port actually bound (port 0 picks one). */
  boundPort: number;
}

export interface ServerContext {
  readonly config: ChatConfig;
  readonly limits: ChatLimits;
  readonly log: Logger;
  readonly verifyToken: (token: string | undefined) => Promise<TokenCheck>;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly store: MessageStore;
  readonly hub: RoomHub;
  /** Local delivery in each room's seq order, for own writes and the siblings' (the bus). */
  readonly order: RoomOrder;
  /** The Redis bus to the sibling instances; undefined for a single instance. */
  readonly bus: RedisBus | undefined;
  readonly metrics: ChatMetrics;
  /** Open WebSocket clients. */
  readonly conns: Set<Conn>;
  /** Wake-ups of held long-poll requests, so shutdown can answer them at once. */
  readonly pollers: Set<() => void>;
  readonly state: ServerState;
}
