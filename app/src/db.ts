/**
 * Message storage in MariaDB through a mysql2/promise pool: idempotent schema migration at start,
 * per-room ordered writes with group commit and a per-room sequence, history reads, each query timed
 * for the metrics.
 */
import type { ErrorCode } from '../../src/errors/catalogue.js';
import mysql, { type Pool, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { ChatConfig } from './config.js';
import type { ChatMessage } from './protocol.js';
import { SEQ_RANGE_PAGE } from './room-order.js';

/** Ordered, append-only schema steps; each runs once, recorded in schema_migrations. */
export const MIGRATIONS: ReadonlyArray<{ id: number; sql: string | readonly string[] }> = [
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
  {
    // A per-room sequence, assigned under the room's row lock in the transaction that stores the
    // message: a room's messages commit in seq (and id) order on every instance. Existing rows are
    // numbered by id. Each statement can run again after an interrupted migration. Rows the release
    // being replaced writes while it drains keep no seq (delivered as they come; history by id).
    id: 2,
    sql: [
      // The numbering below reads the whole table: without next-key locks, so the release still
      // serving (it inserts without a seq) never waits behind it.
      'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
      `CREATE TABLE IF NOT EXISTS room_seq (
        room VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        seq BIGINT UNSIGNED NOT NULL,
        PRIMARY KEY (room)
      ) ENGINE=InnoDB`,
      'ALTER TABLE messages ADD COLUMN IF NOT EXISTS seq BIGINT UNSIGNED NULL AFTER room',
      // Rows without a seq get the next ones of their room, by id (all of them on the first run).
      `UPDATE messages m JOIN (
        SELECT y.id, COALESCE(t.top, 0) + ROW_NUMBER() OVER (PARTITION BY y.room ORDER BY y.id) AS n
        FROM messages y LEFT JOIN (SELECT room, MAX(seq) AS top FROM messages GROUP BY room) t ON t.room = y.room
        WHERE y.seq IS NULL
      ) x ON x.id = m.id SET m.seq = x.n`,
      'ALTER TABLE messages ADD UNIQUE KEY IF NOT EXISTS room_seq (room, seq)',
      `INSERT INTO room_seq (room, seq) SELECT room, MAX(seq) FROM messages WHERE seq IS NOT NULL GROUP BY room
        ON DUPLICATE KEY UPDATE seq = GREATEST(room_seq.seq, VALUES(seq))`,
      'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ',
    ],
  },
];

/** Largest number of queued messages of one room written in one transaction. */
const MAX_BATCH = 200;

/** Rooms per read of roomSeqs (one IN list). */
const ROOM_SEQS_PAGE = 500;

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

type MessageRow = RowDataPacket & { id: number; room: string; seq: number | null; user: string; text: string; created_at: Date };

const MESSAGE_COLUMNS = 'id, room, seq, `user`, text, created_at';

function toMessage(r: MessageRow): ChatMessage {
  return { room: r.room, id: Number(r.id), ...(r.seq === null ? {} : { seq: Number(r.seq) }), user: r.user, text: r.text, ts: r.created_at.toISOString() };
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
          for (const sql of typeof m.sql === 'string' ? [m.sql] : m.sql) await conn.query(sql);
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

  /**
   * Writes one batch of a room in one transaction: its seqs are taken first, which locks the room's
   * row until the commit, so no other instance can commit a later seq of this room before these.
   */
  private async write(room: string, batch: PendingWrite[]): Promise<ChatMessage[]> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const n = batch.length;
      // LAST_INSERT_ID(expr) hands the new value back in the OK packet, on both branches.
      const [seqRes] = await conn.query<ResultSetHeader>(
        'INSERT INTO room_seq (room, seq) VALUES (?, LAST_INSERT_ID(?)) ON DUPLICATE KEY UPDATE seq = LAST_INSERT_ID(seq + ?)',
        [room, n, n],
      );
      const first = Number(seqRes.insertId) - n + 1;
      const stored: ChatMessage[] = [];
      for (const [i, w] of batch.entries()) {
        const created = new Date();
        const [res] = await conn.query<ResultSetHeader>(
          'INSERT INTO messages (room, seq, `user`, text, created_at) VALUES (?, ?, ?, ?, ?)',
          [room, first + i, w.user, w.text, created],
        );
        stored.push({ room, id: Number(res.insertId), seq: first + i, user: w.user, text: w.text, ts: created.toISOString() });
      }
      await conn.commit();
      return stored;
    } catch (err) {
      await conn.rollback().catch(() => {});
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
        const [rows] = await this.pool.query<MessageRow[]>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?`, [room, limit]);
        return rows.map(toMessage).reverse();
      }
      const [rows] = await this.pool.query<MessageRow[]>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id ASC LIMIT ?`, [room, after, limit]);
      return rows.map(toMessage);
    });
  }

  /** A room's messages with from < seq < to, ascending: the gap an instance heard past (room-order.ts). */
  seqRange(room: string, from: number, to: number): Promise<ChatMessage[]> {
    return this.timed('history', async () => {
      const [rows] = await this.pool.query<MessageRow[]>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?`, [
        room,
        from,
        to,
        SEQ_RANGE_PAGE,
      ]);
      return rows.map(toMessage);
    });
  }

  /** Newest id and seq of a room, 0 when it has none (both from an index). */
  newest(room: string): Promise<{ id: number; seq: number }> {
    return this.timed('last_id', async () => {
      const [rows] = await this.pool.query<RowDataPacket[]>('SELECT MAX(id) AS id, MAX(seq) AS seq FROM messages WHERE room = ?', [room]);
      return { id: Number(rows[0]?.id ?? 0), seq: Number(rows[0]?.seq ?? 0) };
    });
  }

  /**
   * The newest committed seq of each of `rooms` (rooms without messages are left out), from room_seq's
   * primary key, in reads of ROOM_SEQS_PAGE rooms: after the bus was lost, where each room stands.
   */
  async roomSeqs(rooms: readonly string[]): Promise<Map<string, number>> {
    const seqs = new Map<string, number>();
    for (let i = 0; i < rooms.length; i += ROOM_SEQS_PAGE) {
      const page = rooms.slice(i, i + ROOM_SEQS_PAGE);
      const rows = await this.timed('last_id', async () => {
        const [r] = await this.pool.query<RowDataPacket[]>('SELECT room, seq FROM room_seq WHERE room IN (?)', [page]);
        return r;
      });
      for (const row of rows) seqs.set(String(row.room), Number(row.seq));
    }
    return seqs;
  }

  /** Closes the pool after pending writes finish. */
  async close(): Promise<void> {
    await this.drain();
    await this.pool.end();
  }
}
