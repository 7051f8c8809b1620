import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REMOTE_EXIT } from '../../src/core/remote-exit.js';
import { REMOTE_SOURCE_DIR } from '../../src/executor/remote-programs.js';
import { startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';

/**
 * remote/db.sh for real: `mi-remote db` against one throwaway MariaDB 10.11 (root over its socket,
 * through MI_MARIADB_DEFAULTS), fed the hand-written dumps of tests/fixtures/dumps.
 */
const MI_REMOTE = join(REMOTE_SOURCE_DIR, 'mi-remote');
const DUMPS = join(REMOTE_SOURCE_DIR, '..', 'tests', 'fixtures', 'dumps');
const MYSQL = 'mysql80-mysqldump.sql';
const PMA = 'phpmyadmin.sql';
type Fixture = typeof MYSQL | typeof PMA;
const EXPECTED = JSON.parse(readFileSync(join(DUMPS, 'expected.json'), 'utf8')) as Record<Fixture, { tables: Record<string, number>; objects: string[] }>;
const dump = (name: Fixture) => readFileSync(join(DUMPS, name));
const DEFINER = ['--definer', 'chat@localhost'];

let maria: ThrowawayMariaDb;
let root: mysql.Connection;
let env: Record<string, string>;

interface Result { code: number; stdout: string; stderr: string }

/** mi-remote ARGS with INPUT on stdin ('open': stdin stays open until the program ends). */
function start(args: string[], input: Buffer | string | 'open' = ''): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(MI_REMOTE, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  // The program may stop reading early (that is the point of some tests).
  child.stdin!.on('error', () => {});
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      child.stdin!.destroy();
      resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr });
    });
  });
  if (input !== 'open') child.stdin!.end(input);
  return { child, done };
}
const mi = (args: string[], input: Buffer | string | 'open' = '') => start(args, input).done;
const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

async function rows(sql: string, params: unknown[] = []): Promise<mysql.RowDataPacket[]> {
  const [r] = await root.query<mysql.RowDataPacket[]>(sql, params);
  return r;
}

interface LoadReport { tables: Record<string, number>; objects: string[]; translated: string[]; dropped: Record<string, number> }
function parseReport(stdout: string): LoadReport {
  const report: LoadReport = { tables: {}, objects: [], translated: [], dropped: {} };
  for (const line of stdout.split('\n').filter(Boolean)) {
    const f = line.split(' ');
    if (f[0] === 'table') report.tables[f.slice(1, -1).join(' ')] = Number(f.at(-1));
    else if (f[0] === 'object') report.objects.push(f.slice(1).join(' '));
    else if (f[0] === 'translated') report.translated.push(f.slice(1).join(' '));
    else if (f[0] === 'dropped' && f[1] === 'statement') report.dropped[f[2]!] = Number(f[3]);
    else throw new Error(`unexpected output line: ${line}`);
  }
  return report;
}
/** TO of `translated collation FROM TO COUNT`. */
const collationFor = (r: LoadReport, from: string) => r.translated.find((t) => t.startsWith(`collation ${from} `))?.split(' ')[2];

/** Everything about a database a failed load must leave as it was. */
async function snapshot(db: string): Promise<unknown> {
  const tables = await rows("SELECT TABLE_NAME AS t, TABLE_TYPE AS k FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY BINARY TABLE_NAME", [db]);
  const data: Record<string, unknown> = {};
  for (const { t, k } of tables) {
    if (k === 'VIEW') continue;
    const [count] = await rows(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${t}\``);
    const [sum] = await rows(`CHECKSUM TABLE \`${db}\`.\`${t}\``);
    data[t as string] = [count!.n, sum!.Checksum];
  }
  return {
    tables: tables.map((r) => `${r.t} ${r.k}`),
    data,
    views: await rows('SELECT TABLE_NAME, VIEW_DEFINITION, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [db]),
    triggers: await rows('SELECT TRIGGER_NAME, ACTION_STATEMENT, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME', [db]),
    routines: await rows('SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME', [db]),
    events: await rows('SELECT EVENT_NAME, EVENT_DEFINITION, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME', [db]),
  };
}
async function leftovers(): Promise<string[]> {
  const r = await rows("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mi\\_load\\_%' OR SCHEMA_NAME LIKE 'mi\\_old\\_%'");
  return r.map((x) => x.s as string);
}
async function objectsOf(db: string): Promise<{ kind: string; name: string; definer: string }[]> {
  return rows(
    `SELECT 'view' AS kind, TABLE_NAME AS name, DEFINER AS definer FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
     UNION ALL SELECT 'trigger', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION ALL SELECT 'event', EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
    [db, db, db, db],
  ) as Promise<{ kind: string; name: string; definer: string }[]>;
}

let serial = 0;
/** A fresh database the chat user (the --definer account) has ALL on. */
const fresh = (prefix: string) => maria.createDatabase(`${prefix}_${++serial}`);

/** A database loaded from FIXTURE, plus an extra table, view and event of its own. */
async function populated(fixture: Fixture = MYSQL): Promise<string> {
  const db = await fresh('busy');
  const r = await mi(['db', 'load', db, ...DEFINER], dump(fixture));
  expect(r.code, r.stderr).toBe(0);
  await root.query(`CREATE TABLE \`${db}\`.legacy (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB`);
  await root.query(`INSERT INTO \`${db}\`.legacy VALUES (1, 'old'), (2, 'older')`);
  await root.query(`CREATE DEFINER = 'chat'@'localhost' VIEW \`${db}\`.legacy_notes AS SELECT note FROM \`${db}\`.legacy`);
  await root.query(`CREATE DEFINER = 'chat'@'localhost' EVENT \`${db}\`.purge_legacy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM legacy WHERE id < 0`);
  return db;
}

function zstd(input: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input });
  expect(r.status, String(r.stderr)).toBe(0);
  return r.stdout;
}

/** Bytes that are not SQL, the same every run. */
function noise(size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = 0x2545f491;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  maria = await startMariaDb();
  writeFileSync(join(maria.dir, 'client.cnf'), `[client]\nsocket=${maria.socketPath}\nuser=root\n`);
  mkdirSync(join(maria.dir, 'run'));
  env = { MI_MARIADB_DEFAULTS: join(maria.dir, 'client.cnf'), MI_RUN_DIR: join(maria.dir, 'run') };
  root = await mysql.createConnection({ socketPath: maria.socketPath, user: 'root', password: '', charset: 'utf8mb4' });
});
afterAll(async () => {
  await root?.end();
  await maria?.stop();
});

describe('db load: foreign dumps', () => {
  const compressions = [
    ['none', (b: Buffer) => b],
    ['gzip', (b: Buffer) => gzipSync(b)],
    ['zstd', zstd],
  ] as const;
  for (const fixture of [MYSQL, PMA] as const) {
    for (const [compression, pack] of compressions) {
      it(`${fixture} (${compression}) loads with every table, row and object`, async () => {
        const db = await fresh('imp');
        const r = await mi(['db', 'load', db, '--compression', compression, ...DEFINER], pack(dump(fixture)));
        expect(r.code, r.stderr).toBe(0);
        const report = parseReport(r.stdout);
        expect(report.tables).toEqual(EXPECTED[fixture].tables);
        expect(report.objects).toEqual(EXPECTED[fixture].objects);
        expect(report.dropped['CREATE-DATABASE']).toBe(1);
        expect(report.dropped.USE).toBe(fixture === MYSQL ? 2 : 1);
        if (fixture === MYSQL) expect(report.dropped['SET-GTID-PURGED']).toBe(1);
        for (const [table, n] of Object.entries(EXPECTED[fixture].tables)) {
          const [count] = await rows(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${table}\``);
          expect(count!.n, table).toBe(n);
        }
        expect(await leftovers()).toEqual([]);
      });
    }
  }
});

describe('db load: the mysqldump 8.0 dump, loaded', () => {
  let db: string;
  let report: LoadReport;
  beforeAll(async () => {
    db = await fresh('mysql80');
    const r = await mi(['db', 'load', db, ...DEFINER], dump(MYSQL));
    expect(r.code, r.stderr).toBe(0);
    report = parseReport(r.stdout);
  });

  it('keeps 4-byte characters (emoji, CJK extension B), escapes and DDL-like text in data byte-exact', async () => {
    const expected: Record<number, string> = {
      1: 'Hello everyone 👋',
      2: 'It\'s a "test" 😀🎉',
      3: 'Path: C:\\Users\\bob\\chat.log',
      4: 'line one\nline two\ttabbed\r\nend',
      5: 'CJK ext-B 𠀋𪚥 and a ),( inside',
      6: 'semicolon; USE other_db; DEFINER=`x`@`y` COLLATE utf8mb4_0900_ai_ci;',
      7: "ends with a quote'",
      8: 'ends with a backslash \\',
    };
    const got = await rows(`SELECT id, HEX(body) AS hex, body FROM \`${db}\`.messages ORDER BY id`);
    expect(Object.fromEntries(got.map((m) => [m.id, m.hex]))).toEqual(
      Object.fromEntries(Object.entries(expected).map(([id, s]) => [Number(id), Buffer.from(s, 'utf8').toString('hex').toUpperCase()])),
    );
    expect(got.map((m) => m.body)).toEqual(Object.values(expected));
    const [chen] = await rows(`SELECT HEX(display_name) AS hex FROM \`${db}\`.users WHERE username = 'chen'`);
    expect(chen!.hex).toBe(Buffer.from('陈 𠀋𪚥').toString('hex').toUpperCase());
  });

  it('translates the MySQL 8 collations to ones this server has, and reports them', async () => {
    const aiCi = collationFor(report, 'utf8mb4_0900_ai_ci');
    const asCs = collationFor(report, 'utf8mb4_0900_as_cs');
    expect(aiCi).toMatch(/^utf8mb4_(uca1400_ai_ci|unicode_520_ci)$/);
    expect(asCs).toMatch(/^utf8mb4_(uca1400_as_cs|bin)$/);
    expect(collationFor(report, 'utf8mb4_0900_bin')).toBe('utf8mb4_bin');
    const cols = await rows('SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND COLLATION_NAME IS NOT NULL', [db]);
    const of = (t: string, c: string) => cols.find((x) => x.t === t && x.c === c)?.k;
    expect(of('users', 'username')).toBe(asCs);
    expect(of('users', 'display_name')).toBe(aiCi);
    expect(of('reactions', 'emoji')).toBe('utf8mb4_bin');
    const [tbl] = await rows('SELECT TABLE_COLLATION AS k FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db, 'messages']);
    expect(tbl!.k).toBe(aiCi);
    // Case-sensitive still: 'Bob' and 'bob' are two users under the unique key.
    expect((await rows(`SELECT id FROM \`${db}\`.users WHERE username = 'bob'`)).map((u) => u.id)).toEqual([3]);
  });

  it('gives every object the --definer account, and reports the translation', async () => {
    const objects = await objectsOf(db);
    expect(objects).toHaveLength(5);
    for (const o of objects) expect(o.definer, `${o.kind} ${o.name}`).toBe('chat@localhost');
    expect(report.translated).toContain('definer `beget_user`@`localhost` `chat`@`localhost` 5');
  });

  it('the view, the procedure and the function work; the trigger fires on a new message', async () => {
    expect(await rows(`SELECT room_id, message_count FROM \`${db}\`.room_activity ORDER BY room_id`)).toEqual([
      { room_id: 1, message_count: 5 },
      { room_id: 2, message_count: 2 },
      { room_id: 3, message_count: 1 },
    ]);
    expect((await rows(`SELECT name FROM \`${db}\`.active_rooms ORDER BY room_id`)).map((r) => r.name)).toEqual(['general', 'random', 'emoji 🎉']);
    const [called] = (await root.query(`CALL \`${db}\`.room_history(1, 2)`))[0] as mysql.RowDataPacket[][];
    expect(called!.map((m) => m.id)).toEqual([8, 5]);
    const [unread] = await rows(`SELECT \`${db}\`.unread_count(2, 1) AS n`);
    expect(unread!.n).toBe(2);
    await root.query(`INSERT INTO \`${db}\`.messages (room_id, user_id, body, created_at) VALUES (3, 1, 'after import 🚀', '2026-03-06 10:00:00.000')`);
    const [room] = await rows(`SELECT message_count, DATE_FORMAT(last_message_at, '%Y-%m-%d %H:%i:%s') AS at FROM \`${db}\`.rooms WHERE id = 3`);
    expect(room).toEqual({ message_count: 2, at: '2026-03-06 10:00:00' });
  });
});

describe('db load: the phpMyAdmin dump, loaded', () => {
  it('gives the trigger that named no definer the --definer account too; the stand-in tables became views', async () => {
    const db = await fresh('pma');
    const r = await mi(['db', 'load', db, ...DEFINER], dump(PMA));
    expect(r.code, r.stderr).toBe(0);
    const report = parseReport(r.stdout);
    expect(report.translated).toContain('definer CURRENT_USER `chat`@`localhost` 1');
    expect(report.translated).toContain('definer `beget_user`@`localhost` `chat`@`localhost` 4');
    for (const o of await objectsOf(db)) expect(o.definer, `${o.kind} ${o.name}`).toBe('chat@localhost');
    const types = await rows('SELECT TABLE_NAME AS t, TABLE_TYPE AS k FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = ? ORDER BY TABLE_NAME', [db, 'VIEW']);
    expect(types.map((t) => t.t)).toEqual(['active_rooms', 'room_activity']);
    expect(await rows(`SELECT room_id, message_count FROM \`${db}\`.active_rooms ORDER BY room_id`)).toEqual([
      { room_id: 1, message_count: 4 },
      { room_id: 2, message_count: 2 },
    ]);
    const [msg] = await rows(`SELECT body FROM \`${db}\`.messages WHERE id = 4`);
    expect(msg!.body).toBe('𠀋𪚥 then ),( and ;');
    const [asCs] = await rows('SELECT COLLATION_NAME AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?', [db, 'users', 'username']);
    expect(asCs!.k).toBe(collationFor(report, 'utf8mb4_0900_as_cs'));
    await root.query(`INSERT INTO \`${db}\`.messages (room_id, user_id, body, created_at) VALUES (2, 1, 'x', '2026-03-06 10:00:00.000')`);
    const [room] = await rows(`SELECT message_count FROM \`${db}\`.rooms WHERE id = 2`);
    expect(room!.message_count).toBe(3);
  });
});

describe('db load: a target that holds data', () => {
  it('without --replace: exits 21 before reading stdin and changes nothing', async () => {
    const db = await populated();
    const before = await snapshot(db);
    const r = await mi(['db', 'load', db], 'open');
    expect(r.code).toBe(REMOTE_EXIT.NOT_EMPTY);
    expect(lastLine(r.stderr)).toBe(`db load: database ${db} is not empty (6 tables, 7 views/triggers/routines/events); pass --replace to replace its contents`);
    expect(await snapshot(db)).toEqual(before);

    // A routine alone is content too.
    const onlyRoutine = await fresh('routine');
    await root.query(`CREATE PROCEDURE \`${onlyRoutine}\`.p() SELECT 1`);
    expect((await mi(['db', 'load', onlyRoutine], dump(PMA))).code).toBe(REMOTE_EXIT.NOT_EMPTY);
  });

  it('with --replace: the old tables and objects are gone, the set is the dump\'s', async () => {
    const db = await populated(MYSQL);
    const r = await mi(['db', 'load', db, '--replace', ...DEFINER], dump(PMA));
    expect(r.code, r.stderr).toBe(0);
    const report = parseReport(r.stdout);
    expect(report.tables).toEqual(EXPECTED[PMA].tables);
    expect(report.objects).toEqual(EXPECTED[PMA].objects);
    const tables = await rows('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY BINARY TABLE_NAME', [db]);
    expect(tables.map((t) => t.t)).toEqual(['active_rooms', 'messages', 'reactions', 'room_activity', 'room_members', 'rooms', 'users']);
    expect((await objectsOf(db)).map((o) => `${o.kind} ${o.name}`).sort()).toEqual(EXPECTED[PMA].objects);
    const [count] = await rows(`SELECT COUNT(*) AS n FROM \`${db}\`.messages`);
    expect(count!.n).toBe(6);
    // The foreign keys moved with their tables.
    await expect(root.query(`INSERT INTO \`${db}\`.messages (room_id, user_id, body, created_at) VALUES (99, 1, 'x', NOW())`)).rejects.toThrow(/foreign key constraint fails/);
    expect(await leftovers()).toEqual([]);
  });
});

describe('db load: a load that fails leaves the target exactly as it was', () => {
  async function refused(input: Buffer | string, args: string[], status: number): Promise<Result> {
    const db = await populated();
    const before = await snapshot(db);
    const r = await mi(['db', 'load', db, '--replace', ...args], input);
    expect(r.code, r.stderr).toBe(status);
    expect(await snapshot(db)).toEqual(before);
    expect(await leftovers()).toEqual([]);
    return r;
  }

  it('a syntax error near the end (after the tables were created): 19, naming the input line', async () => {
    const text = dump(MYSQL).toString('utf8').replace('--\n-- Dumping routines', 'CREAT TABLE oops (id INT);\n--\n-- Dumping routines');
    const line = text.split('\n').indexOf('CREAT TABLE oops (id INT);') + 1;
    const r = await refused(text, [], REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toMatch(new RegExp(`^db load: ERROR 1064 \\(42000\\) at line ${line}: You have an error in your SQL syntax.*; fix the dump and load again, busy_\\d+ unchanged$`));
  });

  it('a truncated .gz: 19', async () => {
    const gz = gzipSync(dump(PMA));
    const r = await refused(gz.subarray(0, Math.floor(gz.length * 0.6)), ['--compression', 'gzip'], REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toMatch(/^db load: cannot decompress the input as gzip: .*unexpected end of file/);
  });

  it('plain SQL announced as zstd: 19', async () => {
    const r = await refused(dump(PMA), ['--compression', 'zstd'], REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toMatch(/^db load: cannot decompress the input as zstd: /);
  });

  it('bytes that are not SQL at all: 19', async () => {
    const r = await refused(noise(200_000), [], REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toMatch(/^db load: ERROR/);
  });

  it('an empty stdin: 19', async () => {
    const r = await refused('', [], REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toMatch(/^db load: the input holds no SQL statement/);
  });

  it('SIGTERM while loading: 15, the scratch database dropped', async () => {
    const db = await populated();
    const before = await snapshot(db);
    const text = dump(PMA).toString('utf8');
    const { child, done } = start(['db', 'load', db, '--replace'], 'open');
    let r: Result;
    try {
      // Everything up to the second table's data, then comment lines enough to push it through the
      // pipe buffers, then the input stalls.
      child.stdin!.write(text.slice(0, text.indexOf('-- Dumping data for table `reactions`')) + '-- stalled here\n'.repeat(20_000));
      await until('the second table in the scratch database', async () =>
        (await rows("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'mi\\_load\\_%' AND TABLE_NAME = 'reactions'")).length > 0);
    } finally {
      child.kill('SIGTERM');
      r = await done;
    }
    expect(r.code, r.stderr).toBe(REMOTE_EXIT.INTERRUPTED);
    expect(lastLine(r.stderr)).toBe(`db load: interrupted by a signal; ${db} unchanged`);
    expect(await snapshot(db)).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it('SIGTERM right after the RENAME: the tables go back and the objects are re-created', async () => {
    const db = await populated();
    const before = await snapshot(db);
    const run = join(maria.dir, 'run');
    writeFileSync(join(run, 'hold-db-renamed'), '');
    const { child, done } = start(['db', 'load', db, '--replace', ...DEFINER], dump(PMA));
    await until('the checkpoint after the RENAME', () => existsSync(join(run, 'at-db-renamed')));
    // Past the RENAME: the target holds the loaded tables, the holding database the old ones.
    expect((await rows(`SELECT COUNT(*) AS n FROM \`${db}\`.messages`))[0]!.n).toBe(6);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(REMOTE_EXIT.INTERRUPTED);
    expect(await snapshot(db)).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });
});

describe('db dump, and db load --expect-manifest', () => {
  let src: string;
  let dumped: string;
  beforeAll(async () => {
    src = await populated(MYSQL);
    const r = await mi(['db', 'dump', src]);
    expect(r.code, r.stderr).toBe(0);
    dumped = r.stdout;
  });

  it('ends with a manifest trailer that counts what was dumped', () => {
    const lines = dumped.trimEnd().split('\n');
    const manifest = lines.filter((l) => l.startsWith('-- mi-manifest: '));
    const tables = { ...EXPECTED[MYSQL].tables, legacy: 2 };
    expect(manifest.map((l) => l.split(' ').slice(2, 4).join(' '))).toEqual(Object.entries(tables).sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, n]) => `${t} ${n}`));
    expect(manifest.find((l) => l.includes(' reactions '))).toBe('-- mi-manifest: reactions 0 d41d8cd98f00b204e9800998ecf8427e');
    const total = Object.values(tables).reduce((a, b) => a + b, 0);
    expect(lines.at(-1)).toBe(`-- mi-dump-complete: ${src} ${Object.keys(tables).length} ${total}`);
    expect(dumped).not.toMatch(/^(CREATE DATABASE|USE )/m);
  });

  it('loads into another database, verified against the manifest, with the same data and objects', async () => {
    const dst = await fresh('restored');
    const r = await mi(['db', 'load', dst, '--expect-manifest', ...DEFINER], dumped);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('against the dump\'s manifest');
    expect(parseReport(r.stdout).tables).toEqual({ ...EXPECTED[MYSQL].tables, legacy: 2 });
    const strip = (s: unknown) => JSON.parse(JSON.stringify(s)) as { data: unknown; tables: unknown; views: unknown[]; routines: unknown[] };
    const [a, b] = [strip(await snapshot(src)), strip(await snapshot(dst))];
    expect(b.data).toEqual(a.data);
    expect(b.tables).toEqual(a.tables);
    expect((await objectsOf(dst)).map((o) => `${o.kind} ${o.name} ${o.definer}`).sort()).toEqual(
      (await objectsOf(src)).map((o) => `${o.kind} ${o.name} ${o.definer}`).sort(),
    );
    expect(await leftovers()).toEqual([]);
  });

  it('a dump with one row changed (trailer kept): 20, naming the table, target unchanged', async () => {
    const tampered = dumped.replace("(2,'random',", "(2,'rand0m',");
    expect(tampered).not.toBe(dumped);
    const db = await populated(PMA);
    const before = await snapshot(db);
    const r = await mi(['db', 'load', db, '--replace', '--expect-manifest'], tampered);
    expect(r.code, r.stderr).toBe(REMOTE_EXIT.VERIFY);
    expect(lastLine(r.stderr)).toMatch(/^db load: the loaded data does not match the dump: table rooms holds 3 rows \(md5 [0-9a-f]{32}\) after the load, the dump recorded 3 rows \(md5 [0-9a-f]{32}\)/);
    expect(await snapshot(db)).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it('a dump without its last line: 19, truncated', async () => {
    const cut = dumped.trimEnd().split('\n').slice(0, -1).join('\n') + '\n';
    const db = await fresh('cut');
    const r = await mi(['db', 'load', db, '--expect-manifest'], cut);
    expect(r.code, r.stderr).toBe(REMOTE_EXIT.INPUT);
    expect(lastLine(r.stderr)).toBe(`db load: the dump is truncated: no mi-dump-complete line at its end; ${db} unchanged`);
    expect(await leftovers()).toEqual([]);
  });

  it('a foreign dump has no trailer: refused with --expect-manifest', async () => {
    const r = await mi(['db', 'load', await fresh('foreign'), '--expect-manifest'], dump(PMA));
    expect(r.code).toBe(REMOTE_EXIT.INPUT);
  });

  it('of a missing database: 18, and no trailer', async () => {
    const r = await mi(['db', 'dump', 'no_such_db']);
    expect(r.code).toBe(REMOTE_EXIT.DUMP);
    expect(r.stdout).not.toContain('-- mi-');
    expect(lastLine(r.stderr)).toMatch(/^db dump: mariadb-dump of no_such_db failed: .*Unknown database 'no_such_db'/);
  });
});

describe('db tables, db exists, usage', () => {
  it('db tables lists exact counts and the objects; a missing database is a usage error', async () => {
    const db = await fresh('list');
    expect((await mi(['db', 'load', db], dump(PMA))).code).toBe(0);
    const r = await mi(['db', 'tables', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseReport(r.stdout)).toEqual({ tables: EXPECTED[PMA].tables, objects: EXPECTED[PMA].objects, translated: [], dropped: {} });
    expect((await mi(['db', 'tables', 'no_such_db'])).code).toBe(REMOTE_EXIT.USAGE);
    expect((await mi(['db', 'exists', db])).code).toBe(0);
    expect((await mi(['db', 'exists', 'no_such_db'])).code).toBe(1);
  });

  it('refuses a missing target, bad names and unknown options before reading stdin', async () => {
    const missing = await mi(['db', 'load', 'no_such_db'], 'open');
    expect([missing.code, lastLine(missing.stderr)]).toEqual([REMOTE_EXIT.USAGE, 'db load: database no_such_db does not exist; create it (and its grants) first']);
    expect((await mi(['db', 'load', 'bad-name'], 'open')).code).toBe(REMOTE_EXIT.USAGE);
    expect((await mi(['db', 'load', maria.database, '--bogus'], 'open')).code).toBe(REMOTE_EXIT.USAGE);
    expect((await mi(['db', 'load', maria.database, '--compression', 'xz'], 'open')).code).toBe(REMOTE_EXIT.USAGE);
    expect((await mi(['db', 'load', maria.database, '--definer', "x'@localhost"], 'open')).code).toBe(REMOTE_EXIT.USAGE);
  });
});
