/**
 * Message storage in MariaDB through a mysql2/promise pool: idempotent schema migration at start,
 * per-room ordered writes with group commit, history reads, each query timed for the metrics.
 */
import type { ErrorCode } from '../../src/errors/catalogue.js';
import mysql, { type Pool, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { ChatConfig } from './config.js';
import type { ChatMessage } from './protocol.js';

/** Ordered, append-only schema steps; each runs once, recorded in schema_migrations. */
export const MIGRATIONS: ReadonlyArray<{ id: number; sql: string }> = [
  {
    id: 1,
    sql: `CREATE TABLE IF NOT EXISTS messages (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      room VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      \`user\` VARCHAR(191) NOT NULL,
      text TEXT NOT NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      KEY room_id (room, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  },
];

/** Largest number of queued messages of one room written in one transaction. */
const MAX_BATCH = 200;

/** The timed kinds of query, a label of the DB latency histogram. */
export const DB_OPS = ['insert', 'history', 'last_id'] as const;
export type DbOp = (typeof DB_OPS)[number];
/** Receives each timed query's duration in seconds. */
export type DbObserver = (op: DbOp, seconds: number) => void;

/** A stored message and when its write committed (`performance.now()`), where fan-out latency starts. */
export interface StoredMessage {
  message: ChatMessage;
  committedAt: number;
}

interface PendingWrite {
  user: string;
  text: string;
  resolve(m: StoredMessage): void;
  reject(e: unknown): void;
}

interface RoomQueue { pending: PendingWrite[]; running: boolean }

type MessageRow = RowDataPacket & { id: number; room: string; user: string; text: string; created_at: Date };

function toMessage(r: MessageRow): ChatMessage {
  return { room: r.room, id: Number(r.id), user: r.user, text: r.text, ts: r.created_at.toISOString() };
}

/** Storage error with a stable code. */
export class StoreError extends Error {
  readonly code = 'MI_ERR_APP_DB' satisfies ErrorCode;
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'StoreError';
  }
}

export class MessageStore {
  private readonly queues = new Map<string, RoomQueue>();
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  private constructor(readonly pool: Pool, private readonly observe: DbObserver) {}

  /** Creates the pool (no connection is made until first use); `observe` gets every query's duration. */
  static create(db: ChatConfig['db'], observe: DbObserver = () => {}): MessageStore {
    const pool = mysql.createPool({
      ...(db.socketPath ? { socketPath: db.socketPath } : { host: db.host, port: db.port }),
      user: db.user,
      password: db.password,
      database: db.database,
      connectionLimit: db.poolSize,
      waitForConnections: true,
      queueLimit: 10_000,
      charset: 'utf8mb4_unicode_ci',
      // Store and read DATETIME as UTC so `ts` is the same on every host.
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: false,
      enableKeepAlive: true,
      connectTimeout: 5_000,
    });
    return new MessageStore(pool, observe);
  }

  /** Applies pending migrations, serialised across instances by a named lock. Idempotent. */
  async migrate(): Promise<number[]> {
    const conn = await this.pool.getConnection();
    try {
      const [lock] = await conn.query<RowDataPacket[]>("SELECT GET_LOCK('messenger_chat_migrate', 30) AS ok");
      if (lock[0]?.ok !== 1) throw new StoreError('could not take the migration lock within 30 s');
      try {
        await conn.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          id INT UNSIGNED NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
        const [rows] = await conn.query<RowDataPacket[]>('SELECT id FROM schema_migrations');
        const done = new Set(rows.map((r) => Number(r.id)));
        const applied: number[] = [];
        for (const m of MIGRATIONS) {
          if (done.has(m.id)) continue;
          await conn.query(m.sql);
          await conn.query('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [m.id, new Date()]);
          applied.push(m.id);
        }
        return applied;
      } finally {
        await conn.query("SELECT RELEASE_LOCK('messenger_chat_migrate')");
      }
    } finally {
      conn.release();
    }
  }

  /** Round trip to the database (readiness). */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /**
   * Stores one message and resolves with it (id, ts) and its commit time. Writes of one room are serialised
   * and group-committed, so within an instance ids of a room are committed, acked and broadcast in order.
   */
  insert(room: string, user: string, text: string): Promise<StoredMessage> {
    return new Promise((resolve, reject) => {
      let q = this.queues.get(room);
      if (!q) {
        q = { pending: [], running: false };
        this.queues.set(room, q);
      }
      q.pending.push({ user, text, resolve, reject });
      this.inFlight += 1;
      if (!q.running) void this.flush(room, q);
    });
  }

  private async flush(room: string, q: RoomQueue): Promise<void> {
    q.running = true;
    while (q.pending.length > 0) {
      const batch = q.pending.splice(0, MAX_BATCH);
      try {
        const stored = await this.timed('insert', () => this.write(room, batch));
        const committedAt = performance.now();
        batch.forEach((w, i) => w.resolve({ message: stored[i] as ChatMessage, committedAt }));
      } catch (err) {
        const e = new StoreError(`storing ${batch.length} message(s) failed: ${(err as Error).message}`, err);
        for (const w of batch) w.reject(e);
      } finally {
        this.inFlight -= batch.length;
      }
    }
    q.running = false;
    this.queues.delete(room);
    if (this.inFlight === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  /** Writes one batch of a room, in one transaction when it holds more than one message. */
  private async write(room: string, batch: PendingWrite[]): Promise<ChatMessage[]> {
    const conn = await this.pool.getConnection();
    const tx = batch.length > 1;
    try {
      if (tx) await conn.beginTransaction();
      const stored: ChatMessage[] = [];
      for (const w of batch) {
        const created = new Date();
        const [res] = await conn.query<ResultSetHeader>(
          'INSERT INTO messages (room, `user`, text, created_at) VALUES (?, ?, ?, ?)',
          [room, w.user, w.text, created],
        );
        stored.push({ room, id: Number(res.insertId), user: w.user, text: w.text, ts: created.toISOString() });
      }
      if (tx) await conn.commit();
      return stored;
    } catch (err) {
      if (tx) await conn.rollback().catch(() => {});
      throw err;
    } finally {
      conn.release();
    }
  }

  /** Runs `query` and reports its duration, pool wait included: a saturated pool shows there first. */
  private async timed<T>(op: DbOp, query: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await query();
    } finally {
      this.observe(op, (performance.now() - start) / 1000);
    }
  }

  /** Resolves when every accepted write has finished (used by graceful shutdown). */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** History of a room in ascending id order: after `after`, or the newest `limit` when `after` is undefined. */
  history(room: string, after: number | undefined, limit: number): Promise<ChatMessage[]> {
    return this.timed('history', async () => {
      if (after === undefined) {
        const [rows] = await this.pool.query<MessageRow[]>(
          'SELECT id, room, `user`, text, created_at FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?',
          [room, limit],
        );
        return rows.map(toMessage).reverse();
      }
      const [rows] = await this.pool.query<MessageRow[]>(
        'SELECT id, room, `user`, text, created_at FROM messages WHERE room = ? AND id > ? ORDER BY id ASC LIMIT ?',
        [room, after, limit],
      );
      return rows.map(toMessage);
    });
  }

  /** Newest id of a room, 0 when it has none. */
  lastId(room: string): Promise<number> {
    return this.timed('last_id', async () => {
      const [rows] = await this.pool.query<RowDataPacket[]>('SELECT MAX(id) AS last FROM messages WHERE room = ?', [room]);
      return Number(rows[0]?.last ?? 0);
    });
  }

  /** Closes the pool after pending writes finish. */
  async close(): Promise<void> {
    await this.drain();
    await this.pool.end();
  }
}
