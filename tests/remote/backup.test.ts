import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupState, parseRunLine } from '../../src/core/backup.js';
import { REMOTE_EXIT } from '../../src/core/remote-exit.js';
import { REMOTE_SOURCE_DIR } from '../../src/executor/remote-programs.js';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { outputOf } from '../helpers/output.js';
import { startResticServer, type ResticServer } from '../helpers/restic-server.js';

/**
 * remote/backup.sh for real: Debian's restic against an off-host-like REST server (rclone serve
 * restic on loopback), `mi-remote db` against a throwaway MariaDB (root over its socket, through
 * MI_MARIADB_DEFAULTS), state in a temp folder.
 */
const MI_REMOTE = join(REMOTE_SOURCE_DIR, 'mi-remote');
const DB = 'messenger';

let maria: ThrowawayMariaDb;
let srv: ResticServer;
let dir: string;
let root: mysql.Connection;
/** The settings file of the main repository, and of the same one with a wrong password. */
let envFile: string;
let wrongEnvFile: string;
const PASSWORD = 'correct horse battery staple';

interface Result { code: number; stdout: string; stderr: string }

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(MI_REMOTE, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MI_MARIADB_DEFAULTS: join(dir, 'client.cnf'),
      MI_BACKUP_STATE: join(dir, 'state'),
      MI_RUN_DIR: join(dir, 'run'),
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr }));
  });
  return { child, done };
}
const mi = (args: string[], env: Record<string, string> = {}) => start(args, env).done;
const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

function restic(args: string[], repository = srv.url): Promise<Result> {
  return outputOf(
    spawn('restic', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: join(dir, 'test-cache') },
    }),
  );
}

interface Snapshot { id: string; short_id: string; tags?: string[]; paths: string[]; time: string }
async function snapshots(repository = srv.url): Promise<Snapshot[]> {
  const r = await restic(['snapshots', '--json'], repository);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Snapshot[] | null) ?? [];
}
const good = (s: Snapshot, db = DB) => !!s.tags?.includes('mi-ok') && !!s.tags.includes(`db=${db}`);

const state = (file: string, stateDir = join(dir, 'state')) => {
  const p = join(stateDir, file);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
};

async function databases(): Promise<string[]> {
  const [rows] = await root.query('SHOW DATABASES');
  return (rows as Array<{ Database: string }>).map((r) => r.Database);
}

const TABLES = ['users', 'conversations', 'messages'] as const;
async function content(db: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES) {
    const [rows] = await root.query(`SELECT * FROM \`${db}\`.\`${t}\` ORDER BY id`);
    out[t] = rows as unknown[];
  }
  return out;
}

async function seed(db: string, messages: number): Promise<void> {
  await root.query(`USE \`${db}\``);
  await root.query(`CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, bio TEXT, avatar BLOB) ENGINE=InnoDB`);
  await root.query(`CREATE TABLE conversations (id INT PRIMARY KEY, title VARCHAR(200) NOT NULL, created_at DATETIME(3) NOT NULL) ENGINE=InnoDB`);
  await root.query(`CREATE TABLE messages (id BIGINT PRIMARY KEY, conversation_id INT NOT NULL, user_id INT NOT NULL, body TEXT NOT NULL,
    sent_at DATETIME(3) NOT NULL, KEY (conversation_id), FOREIGN KEY (conversation_id) REFERENCES conversations (id)) ENGINE=InnoDB`);
  const users = Array.from({ length: 120 }, (_, i) => [i + 1, `user ${i} ${['Анна', 'José', '李雷', "O'Brien"][i % 4]}`, i % 3 ? `bio with "quotes", a \\ and\na line break 🎉 ${i}` : null, Buffer.from([0, 1, 2, 255, 10, 13, 39, 92, i % 256])]);
  await root.query('INSERT INTO users VALUES ?', [users]);
  const convs = Array.from({ length: 40 }, (_, i) => [i + 1, `room #${i} 💬`, new Date(Date.UTC(2026, 0, 1, 0, i, 0, 123))]);
  await root.query('INSERT INTO conversations VALUES ?', [convs]);
  const emoji = ['👋', '🚀', '😂', '❤️', '👨‍👩‍👧‍👦', '🇺🇦', 'ñ', '\t'];
  for (let off = 0; off < messages; off += 1000) {
    const batch = Array.from({ length: Math.min(1000, messages - off) }, (_, j) => {
      const i = off + j;
      return [i + 1, (i % 40) + 1, (i % 120) + 1, `message ${i} ${emoji[i % emoji.length]} ${'lorem ipsum '.repeat(i % 7)}`, new Date(Date.UTC(2026, 1, 1, 0, 0, 0, i % 1000) + i * 1000)];
    });
    await root.query('INSERT INTO messages VALUES ?', [batch]);
  }
}

const MESSAGES = 4000;
const ROWS = 120 + 40 + MESSAGES;

beforeAll(async () => {
  [maria, srv] = await Promise.all([startMariaDb({ database: DB }), startResticServer()]);
  dir = mkdtempSync(join(tmpdir(), 'mi-backup-'));
  writeFileSync(join(dir, 'client.cnf'), `[client]\nsocket=${maria.socketPath}\nuser=root\n`, { mode: 0o600 });
  root = await mysql.createConnection({ socketPath: maria.socketPath, user: 'root', password: '', charset: 'utf8mb4' });
  await seed(DB, MESSAGES);
  await maria.createDatabase('other');
  await seed('other', 10);
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  envFile = join(dir, 'backup.env');
  // A comment and a value with spaces, = and quotes are data, never shell.
  const settings = [`RESTIC_REPOSITORY=${srv.url}`, `RESTIC_PASSWORD_FILE=${join(dir, 'password')}`, '# a comment', '', 'MI_INPUTS=0123abcd', `B2_ACCOUNT_KEY=a b=c 'd" $(touch ${join(dir, 'pwned')})`];
  writeFileSync(envFile, `${settings.join('\n')}\n`, { mode: 0o600 });
  wrongEnvFile = join(dir, 'wrong.env');
  writeFileSync(wrongEnvFile, `RESTIC_REPOSITORY=${srv.url}\nRESTIC_PASSWORD=not the password\n`, { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await root?.end();
  await Promise.all([maria?.stop(), srv?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('backup', () => {
  it('status works before anything ran: none, none, none', async () => {
    const r = await mi(['backup', 'status']);
    expect([r.code, r.stdout]).toEqual([0, 'last-backup none\nlast-good-backup none\nlast-drill none\n']);
  });

  it('init creates the repository once; a second init finds it', async () => {
    const first = await mi(['backup', 'init', '--env', envFile]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('repository created\n');
    expect(first.stderr).not.toContain(srv.password);
    expect(existsSync(join(srv.dataDir(), 'config'))).toBe(true);
    const again = await mi(['backup', 'init', '--env', envFile]);
    expect([again.code, again.stdout]).toEqual([0, 'repository ok\n']);
    // The settings file was read as data: the $(...) in a value ran nothing.
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
  });

  let first: Snapshot;
  it('run: one good snapshot per database with its tags; the state says ok', async () => {
    const r = await mi(['backup', 'run', '--env', envFile, '--database', DB, '--tag', 'nightly', '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '0']);
    expect(r.code, r.stderr).toBe(0);
    const m = /^snapshot ([0-9a-f]{64}) messenger 3 (\d+) (\d+)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![2])).toBe(ROWS);
    const all = await snapshots();
    expect(all).toHaveLength(1);
    first = all[0]!;
    expect(first.id).toBe(m![1]);
    expect(first.paths).toEqual(['/messenger.sql']);
    expect(first.tags).toEqual(expect.arrayContaining(['mi-backup', 'db=messenger', 'nightly', 'mi-ok', 'tables=3', `rows=${ROWS}`, `bytes=${m![3]}`]));
    expect(Number(m![3])).toBeGreaterThan(100_000);

    const last = parseRunLine(state('last-backup'));
    expect(last).toMatchObject({ status: 'ok', snapshot: first.short_id });
    expect(last?.error).toBeUndefined();
    expect(state('last-backup')).toMatch(/^time=\d+ status=ok snapshot=[0-9a-f]{8} error=\n$/);
    expect(parseRunLine(state('last-good-backup'))?.time).toBe(last?.time);

    const status = await mi(['backup', 'status']);
    const lines = status.stdout.split('\n');
    expect(lines[0]).toBe(`last-backup ${state('last-backup').trim()}`);
    expect(lines[1]).toBe(`last-good-backup ${state('last-good-backup').trim()}`);
    expect(lines[2]).toBe('last-drill none');
    const parsed = parseBackupState({ lastBackup: lines[0]!.replace(/^last-backup /, ''), lastGood: lines[1]!.replace(/^last-good-backup /, ''), lastDrill: lines[2]!.replace(/^last-drill /, '') });
    expect(parsed.lastBackup?.status).toBe('ok');
    expect(parsed.lastDrill).toBeUndefined();
  });

  it("list prints restic's JSON of the mi-backup snapshots, tags included", async () => {
    const r = await mi(['backup', 'list', '--env', envFile]);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as Snapshot[];
    expect(list.map((s) => s.id)).toEqual([first.id]);
    expect(list[0]!.tags).toContain('mi-ok');
  });

  it('restore latest into a new empty database: identical rows and content; a non-empty target needs --replace', async () => {
    await maria.createDatabase('restored');
    const r = await mi(['backup', 'restore', '--env', envFile, 'latest', '--database', DB, '--into', 'restored']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('table ')).sort()).toEqual([`table conversations 40`, `table messages ${MESSAGES}`, 'table users 120']);
    expect(await content('restored')).toEqual(await content(DB));

    // Not empty: refused without --replace, the data untouched; with --replace (by ID) it is replaced.
    await root.query('DELETE FROM restored.messages WHERE id > 10');
    const refused = await mi(['backup', 'restore', '--env', envFile, first.short_id, '--database', DB, '--into', 'restored']);
    expect(refused.code).toBe(REMOTE_EXIT.NOT_EMPTY);
    const [[count]] = (await root.query('SELECT COUNT(*) AS n FROM restored.messages')) as unknown as [[{ n: number }]];
    expect(count.n).toBe(10);
    const replaced = await mi(['backup', 'restore', '--env', envFile, first.short_id, '--database', DB, '--into', 'restored', '--replace']);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(await content('restored')).toEqual(await content(DB));
  });

  it('restore refuses a snapshot of another database, an unknown one, and bad names', async () => {
    const other = await mi(['backup', 'restore', '--env', envFile, first.short_id, '--database', 'other', '--into', 'restored']);
    expect([other.code, lastLine(other.stderr)]).toEqual([REMOTE_EXIT.USAGE, `snapshot ${first.short_id} is not a backup of other`]);
    const unknown = await mi(['backup', 'restore', '--env', envFile, 'deadbeef', '--database', DB, '--into', 'restored']);
    expect([unknown.code, lastLine(unknown.stderr)]).toEqual([REMOTE_EXIT.USAGE, 'the repository has no snapshot deadbeef; see `backup list`']);
    const bad = await mi(['backup', 'restore', '--env', envFile, 'latest', '--database', DB, '--into', 'x`; DROP DATABASE messenger']);
    expect(bad.code).toBe(REMOTE_EXIT.USAGE);
  });

  it('drill: the latest good snapshot restores into a scratch database that is gone afterwards', async () => {
    const r = await mi(['backup', 'drill', '--env', envFile, '--database', DB]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^drill ok ${first.id} messenger 3 ${ROWS} \\d+\\n$`));
    expect((await databases()).filter((d) => d.startsWith('mi_drill_'))).toEqual([]);
    expect(parseRunLine(state('last-drill'))).toMatchObject({ status: 'ok', snapshot: first.short_id });
  });

  it('a failing dump (missing database): exit 18, no snapshot of it left, last-backup failed, the other database backed up', async () => {
    const before = await snapshots();
    const goodBefore = state('last-good-backup');
    const r = await mi(['backup', 'run', '--env', envFile, '--database', 'no_such_db', '--database', 'other', '--keep-daily', '7']);
    expect(r.code).toBe(REMOTE_EXIT.DUMP);
    expect(lastLine(r.stderr)).toMatch(/^the backup of no_such_db failed, no snapshot kept: db dump: mariadb-dump of no_such_db failed: .*Unknown database/);
    expect(r.stdout).toMatch(/^snapshot [0-9a-f]{64} other 3 \d+ \d+\n$/);
    const after = await snapshots();
    // No snapshot of the failed database at all, good or not; nothing without mi-ok anywhere.
    expect(after.filter((s) => s.tags?.includes('db=no_such_db'))).toEqual([]);
    expect(after.filter((s) => !s.tags?.includes('mi-ok'))).toEqual([]);
    expect(after.filter((s) => good(s))).toEqual(before.filter((s) => good(s)));
    expect(after.filter((s) => good(s, 'other'))).toHaveLength(1);
    const last = parseRunLine(state('last-backup'));
    expect(last?.status).toBe('failed');
    expect(last?.error).toMatch(/^the backup of no_such_db failed, no snapshot kept: /);
    expect(state('last-good-backup')).toBe(goodBefore);
  });

  it('a dump that breaks off mid-stream leaves no snapshot that looks fine', async () => {
    // mariadb-dump writes half its output then fails, as when the server goes away mid-dump.
    const bin = join(dir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    const real = ['/usr/bin/mariadb-dump', '/usr/bin/mysqldump'].find((p) => existsSync(p))!;
    for (const name of ['mariadb-dump', 'mysqldump']) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${real} "$@" | head -c 50000\nexit 2\n`, { mode: 0o755 });
    }
    const before = await snapshots();
    const r = await mi(['backup', 'run', '--env', envFile, '--database', DB], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.code).toBe(REMOTE_EXIT.DUMP);
    const after = await snapshots();
    expect(after.map((s) => s.id)).toEqual(before.map((s) => s.id));
    expect(parseRunLine(state('last-backup'))?.status).toBe('failed');
  });

  it('retention applies per database to the good snapshots only', async () => {
    // No policy: nothing is thinned.
    const kept = await mi(['backup', 'run', '--env', envFile, '--database', DB]);
    expect(kept.code, kept.stderr).toBe(0);
    expect((await snapshots()).filter((s) => good(s))).toHaveLength(2);
    const r = await mi(['backup', 'run', '--env', envFile, '--database', DB, '--keep-daily', '1']);
    expect(r.code, r.stderr).toBe(0);
    const id = /^snapshot ([0-9a-f]{64}) /.exec(r.stdout)![1];
    const after = await snapshots();
    // All taken today: one daily snapshot of messenger is kept, the newest; other's is untouched.
    expect(after.filter((s) => good(s)).map((s) => s.id)).toEqual([id]);
    expect(after.filter((s) => good(s, 'other'))).toHaveLength(1);
    expect(parseRunLine(state('last-backup'))).toMatchObject({ status: 'ok', snapshot: id!.slice(0, 8) });
  });

  it('a wrong password: exit 22 naming it, for run, init, list, restore and drill; last-backup failed', async () => {
    const run = await mi(['backup', 'run', '--env', wrongEnvFile, '--database', DB]);
    expect(run.code).toBe(REMOTE_EXIT.REPOSITORY);
    expect(lastLine(run.stderr)).toMatch(/^cannot open the backup repository: wrong password/);
    expect(parseRunLine(state('last-backup'))).toMatchObject({ status: 'failed', error: expect.stringMatching(/wrong password/) });
    for (const args of [['init'], ['list'], ['restore', 'latest', '--database', DB, '--into', 'restored'], ['drill', '--database', DB]]) {
      const r = await mi(['backup', args[0]!, '--env', wrongEnvFile, ...args.slice(1)]);
      expect([args[0], r.code]).toEqual([args[0], REMOTE_EXIT.REPOSITORY]);
      expect(lastLine(r.stderr)).toMatch(/wrong password/);
    }
    expect(parseRunLine(state('last-drill'))?.status).toBe('failed');
    // The failure is recorded, the good one before it still is.
    expect(parseRunLine(state('last-good-backup'))?.status).toBe('ok');
  });

  it('an unreachable repository: exit 22 naming it, last-backup failed', async () => {
    const env = join(dir, 'unreachable.env');
    writeFileSync(env, `RESTIC_REPOSITORY=rest:http://backup:secret@127.0.0.1:${await freePort()}/\nRESTIC_PASSWORD=${PASSWORD}\n`, { mode: 0o600 });
    const r = await mi(['backup', 'run', '--env', env, '--database', DB]);
    expect(r.code).toBe(REMOTE_EXIT.REPOSITORY);
    expect(lastLine(r.stderr)).toMatch(/^cannot open the backup repository: .*connection refused; check the repository, its password and credentials$/);
    expect(r.stderr).not.toContain('secret');
    expect(parseRunLine(state('last-backup'))).toMatchObject({ status: 'failed', error: expect.stringMatching(/connection refused/) });
  });

  it('a second caller waits for the lock a bounded time, then fails naming the holder', async () => {
    // The holder is one process (the shell becomes sleep), so its PID is the lock's.
    const holder = spawn('sh', ['-c', 'exec 8>"$0" && flock 8 && exec sleep 30', join(dir, 'state', 'lock')], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await mi(['backup', 'run', '--env', envFile, '--database', DB], { MI_BACKUP_LOCK_WAIT: '1' });
      expect(r.code).toBe(REMOTE_EXIT.LOCKED);
      expect(lastLine(r.stderr)).toMatch(/^another backup command \(.*\) still held .*lock after 1 s; try again when it has finished$/);
    } finally {
      process.kill(holder.pid!, 'SIGTERM');
    }
  });

  it('a drill stopped by a signal drops its scratch database, exits 15 and records the failure', async () => {
    const run = join(dir, 'run');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'hold-drill-scratch'), '');
    const drill = start(['backup', 'drill', '--env', envFile, '--database', DB]);
    const deadline = Date.now() + 20_000;
    while (!existsSync(join(run, 'at-drill-scratch')) || readFileSync(join(run, 'at-drill-scratch'), 'utf8').trim() === '') {
      if (Date.now() > deadline) throw new Error('the drill never reached its checkpoint');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await databases()).filter((d) => d.startsWith('mi_drill_'))).toHaveLength(1);
    process.kill(drill.child.pid!, 'SIGTERM');
    const r = await drill.done;
    expect(r.code).toBe(REMOTE_EXIT.INTERRUPTED);
    expect((await databases()).filter((d) => d.startsWith('mi_drill_'))).toEqual([]);
    expect(parseRunLine(state('last-drill'))).toMatchObject({ status: 'failed', error: 'interrupted by a signal' });
  });

  it('a corrupted repository: the drill fails loudly naming it, records the failure, and a restore leaves its target as it was', async () => {
    // Its own repository and state: the main one stays sound.
    const repository = srv.repository('damaged');
    const stateDir = join(dir, 'state-damaged');
    const env = join(dir, 'damaged.env');
    writeFileSync(env, `RESTIC_REPOSITORY=${repository}\nRESTIC_PASSWORD=${PASSWORD}\n`, { mode: 0o600 });
    const opts = { MI_BACKUP_STATE: stateDir };
    expect((await mi(['backup', 'init', '--env', env], opts)).code).toBe(0);
    const run = await mi(['backup', 'run', '--env', env, '--database', DB], opts);
    expect(run.code, run.stderr).toBe(0);

    // Bytes overwritten inside every pack file (the blobs come first in a pack).
    const packs = join(srv.dataDir('damaged'), 'data');
    for (const sub of readdirSync(packs)) {
      for (const f of readdirSync(join(packs, sub))) {
        const fd = openSync(join(packs, sub, f), 'r+');
        writeSync(fd, Buffer.alloc(32, 0x58), 0, 32, 200);
        closeSync(fd);
      }
    }
    const drill = await mi(['backup', 'drill', '--env', env, '--database', DB], opts);
    expect(drill.code).toBe(REMOTE_EXIT.REPOSITORY);
    expect(drill.stdout).toBe('');
    expect(lastLine(drill.stderr)).toMatch(/^drill: cannot read snapshot [0-9a-f]{8} of messenger from the repository: .*ciphertext verification failed.*; the repository may be damaged \(check it with restic check --read-data\)$/);
    expect(parseRunLine(state('last-drill', stateDir))).toMatchObject({ status: 'failed', error: expect.stringMatching(/the repository may be damaged/) });
    expect((await databases()).filter((d) => d.startsWith('mi_drill_'))).toEqual([]);

    // A restore of the damaged snapshot over a database with data: refused, the data untouched.
    const beforeRestore = await content('restored');
    await root.query('DELETE FROM restored.messages WHERE id > 100');
    const kept = await content('restored');
    const restore = await mi(['backup', 'restore', '--env', env, 'latest', '--database', DB, '--into', 'restored', '--replace'], opts);
    expect(restore.code).toBe(REMOTE_EXIT.REPOSITORY);
    expect(lastLine(restore.stderr)).toMatch(/^cannot read snapshot [0-9a-f]{8} of messenger from the repository: .*; restored was left as it was$/);
    expect(await content('restored')).toEqual(kept);
    expect(kept.messages).not.toEqual(beforeRestore.messages);
  });

  it('refuses bad usage and settings before touching anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['backup'], /^usage: backup /],
      [['backup', 'run', '--database', DB], /--env FILE comes first/],
      [['backup', 'run', '--env', envFile], /^usage: backup run /],
      [['backup', 'run', '--env', envFile, '--database', DB, '--keep-daily', 'x'], /--keep-daily needs a whole number/],
      [['backup', 'run', '--env', envFile, '--database', DB, '--tag', 'a,b'], /--tag must be/],
      [['backup', 'run', '--env', join(dir, 'missing.env'), '--database', DB], /cannot read the backup settings/],
    ];
    for (const [args, message] of cases) {
      const r = await mi(args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), REMOTE_EXIT.USAGE]);
      expect(lastLine(r.stderr)).toMatch(message);
    }
    const badKey = join(dir, 'bad.env');
    writeFileSync(badKey, `RESTIC_REPOSITORY=${srv.url}\nPATH=/tmp\n`, { mode: 0o600 });
    const r = await mi(['backup', 'list', '--env', badKey]);
    expect([r.code, lastLine(r.stderr)]).toEqual([REMOTE_EXIT.USAGE, `${badKey} line 2: PATH may not be set by the backup settings`]);
  });
});
