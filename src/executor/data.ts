import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { StackConfig } from '../config/schema.js';
import { BACKUP_PATHS, backupDatabases, backupDrillArgs, backupRunArgs, backupStateFacts, backupStateOf, type BackupState } from '../core/backup.js';
import { redactRepository } from '../core/repository.js';
import { remote, type Command } from '../core/command.js';
import { parseLoadReport, type Compression, type LoadReport } from '../core/dump.js';
import { parseSnapshotList, type SnapshotRow } from '../core/snapshots.js';
import { factValue } from '../core/facts.js';
import { APP_DB_USER, HOST_PATHS } from '../core/host-model.js';
import { errorCodeOf, REMOTE_EXIT } from '../core/remote-exit.js';
import { GRANTS } from '../core/steps/mariadb.js';
import { backupEnvFact } from '../core/steps/backup.js';
import { parseSecrets } from '../core/steps/secrets.js';
import type { ErrorCode } from '../errors/catalogue.js';
import { MiError } from '../errors/index.js';
import { inspectHost } from './detect.js';
import { lastLine, type RunResult } from './host.js';
import { acquireHostLock, LOCK_WAIT_SECONDS, underLock } from './host-lock.js';
import type { SshHost, SshTarget } from './ssh-host.js';
import { withHost } from './up.js';

/**
 * The data commands over SSH: `db import|export|shell` and `backup now|list|restore|drill`. The work is
 * done on the host by `mi-remote db` and `mi-remote backup` (remote/db.sh, remote/backup.sh); here they
 * are started, fed and read. What changes data runs under the host lock, like `up`.
 */

export interface DataTarget {
  stack: StackConfig;
  target: SshTarget;
  lockWaitSeconds?: number;
}

/** What the data programs' exit statuses mean. */
const DATA_ERRORS: Readonly<Partial<Record<number, ErrorCode>>> = {
  [REMOTE_EXIT.USAGE]: 'MI_ERR_DB_UNKNOWN',
  [REMOTE_EXIT.DUMP]: 'MI_ERR_DUMP_FAILED',
  [REMOTE_EXIT.INPUT]: 'MI_ERR_IMPORT_INPUT',
  [REMOTE_EXIT.VERIFY]: 'MI_ERR_BACKUP_VERIFY',
  [REMOTE_EXIT.NOT_EMPTY]: 'MI_ERR_DB_NOT_EMPTY',
  [REMOTE_EXIT.REPOSITORY]: 'MI_ERR_BACKUP_REPOSITORY',
};

/** A data command that failed, as one line: the program's own last line names the problem. */
export function dataError(host: SshHost, what: string, result: RunResult): MiError {
  if (result.dropped) return new MiError('MI_ERR_SSH_DROPPED', `${what} on ${host.label}: the SSH connection ended`, { host: host.label });
  return new MiError(errorCodeOf(result.code, DATA_ERRORS), `${what} on ${host.label} failed: ${lastLine(result.stderr) || `exit status ${result.code}`}`, { host: host.label });
}

async function must(host: SshHost, what: string, command: Command, timeoutMs: number): Promise<string> {
  const result = await host.run(command, { timeoutMs });
  if (result.code !== 0) throw dataError(host, what, result);
  return result.stdout;
}

/** The host (programs installed, OS checked), and whether its backup settings are there. */
async function openHost(host: SshHost, target: SshTarget): Promise<{ backupConfigured: boolean }> {
  const { facts } = await inspectHost(host, target.port, [backupEnvFact]);
  return { backupConfigured: parseSecrets(factValue(facts, backupEnvFact).stdout).hashes.has('RESTIC_PASSWORD') };
}

/** Runs `fn` holding the host lock; the lock goes when `fn` ends, whatever happens. */
async function locked<T>(host: SshHost, waitSeconds: number | undefined, fn: (lock: (c: Command) => Command) => Promise<T>): Promise<T> {
  const lock = await acquireHostLock(host, waitSeconds ?? LOCK_WAIT_SECONDS);
  try {
    return await fn((c) => underLock(lock.runId, c));
  } finally {
    await lock.release();
  }
}

const HOUR = 3_600_000;

// ---------------------------------------------------------------------------------------------
// db

export interface Progress {
  bytes: number;
  total?: number;
  startedMs: number;
}

/** Counts the bytes that pass, calling `onProgress` at most every `everyMs`. */
function progressCounter(onProgress: (p: Progress) => void, total: number | undefined, everyMs = 500): Transform {
  const startedMs = Date.now();
  let bytes = 0;
  let last = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      const now = Date.now();
      if (now - last >= everyMs) {
        last = now;
        onProgress({ bytes, ...(total === undefined ? {} : { total }), startedMs });
      }
      done(null, chunk);
    },
    flush(done) {
      onProgress({ bytes, ...(total === undefined ? {} : { total }), startedMs });
      done();
    },
  });
}

/** The app's user may use `database`: created when missing (utf8mb4), granted like the app's own. */
function ensureDatabaseSql(database: string): string {
  return [
    `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
    ...['localhost', '127.0.0.1'].map((h) => `GRANT ${GRANTS} ON \`${database}\`.* TO '${APP_DB_USER}'@'${h}';`),
    '',
  ].join('\n');
}

async function tablesOf(host: SshHost, database: string): Promise<LoadReport> {
  return parseLoadReport(await must(host, `reading the tables of ${database}`, remote(`tables of ${database}`, ['db', 'tables', database], { errors: DATA_ERRORS }), 120_000));
}

export interface ImportOptions extends DataTarget {
  file: string;
  compression: Compression;
  database: string;
  replace: boolean;
  /** --replace without backups configured: where the dump of what is replaced goes on this machine. */
  safetyCopy: string;
  onProgress: (p: Progress) => void;
  onInfo: (message: string) => void;
}

export interface ImportResult {
  host: string;
  report: LoadReport;
  /** Where the data that was replaced is kept: a snapshot id or a local file. */
  keptAt?: string;
}

/**
 * `db import`: the dump is streamed from the local file into `mi-remote db load` (decompressed,
 * translated and loaded into a scratch database on the host, then swapped in at once). Neither side
 * keeps a full copy; a failure at any point leaves the target database as it was.
 */
export async function runDbImport(options: ImportOptions): Promise<ImportResult> {
  const { database } = options;
  return withHost(options.target, async (host) => {
    const { backupConfigured } = await openHost(host, options.target);
    return locked(host, options.lockWaitSeconds, async (lock) => {
      await must(host, `creating ${database}`, lock(remote(`ensure database ${database}`, ['sql'], { stdin: ensureDatabaseSql(database), errors: { [REMOTE_EXIT.FAILED]: 'MI_ERR_DATABASE' } })), 120_000);
      const before = await tablesOf(host, database);
      if (before.tables.length > 0 && !options.replace) {
        throw new MiError('MI_ERR_DB_NOT_EMPTY', `database ${database} on ${host.label} is not empty (${before.tables.length} table(s)); pass --replace to swap it for the dump (a backup of it is taken first), or --database NEW_NAME`);
      }
      let keptAt: string | undefined;
      if (before.tables.length > 0) {
        keptAt = backupConfigured && options.stack.backup
          ? await snapshotBefore(host, lock, options.stack, 'pre-import', options.onInfo)
          : await exportTo(host, database, options.safetyCopy, options.onInfo);
      }
      const command = lock(
        remote(`import into ${database}`, ['db', 'load', database, '--compression', options.compression, '--definer', `${APP_DB_USER}@localhost`, ...(options.replace ? ['--replace'] : [])], { errors: DATA_ERRORS }),
      );
      const out = new Collect();
      const input = createReadStream(options.file).pipe(progressCounter(options.onProgress, statSync(options.file).size));
      const result = await host.stream(command, { input, output: out });
      if (result.code !== 0) throw dataError(host, `importing ${options.file}`, result);
      return { host: host.label, report: parseLoadReport(out.text()), ...(keptAt ? { keptAt } : {}) };
    });
  });
}

/** A backup of the live database before it is replaced; returns the snapshot line. */
async function snapshotBefore(host: SshHost, lock: (c: Command) => Command, stack: StackConfig, tag: string, onInfo: (m: string) => void): Promise<string> {
  onInfo(`backing up ${backupDatabases(stack).join(', ')} before it is replaced (tag ${tag})`);
  const out = await must(host, 'the backup before the restore', lock(remote(`backup (${tag})`, backupRunWith(stack, tag), { errors: DATA_ERRORS })), 6 * HOUR);
  const snaps = parseSnapshotLines(out);
  return snaps.map((s) => `snapshot ${s.id}`).join(', ') || 'a snapshot';
}

/** The nightly run's argv with another tag, and without retention (a manual backup forgets nothing). */
function backupRunWith(stack: StackConfig, tag: string): string[] {
  const args = backupRunArgs(stack);
  const cut = args.indexOf('--keep-daily');
  return [...args.slice(0, cut), '--tag', tag];
}

/** Streams `db dump` down into FILE (gzip when it ends in .gz), complete or not at all. */
async function exportTo(host: SshHost, database: string, file: string, onInfo: (m: string) => void): Promise<string> {
  onInfo(`saving ${database} to ${file} before it is replaced`);
  await runExportOn(host, database, file, () => {});
  return file;
}

/** A Writable that keeps what the remote program prints (its report: small). */
class Collect extends Transform {
  private chunks: Buffer[] = [];
  constructor() {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface ExportResult {
  host: string;
  file: string;
  bytes: number;
  tables: number;
  rows: number;
}

/** The trailer `db dump` ends with: `-- mi-dump-complete: DB TABLES ROWS`. */
const COMPLETE = /^-- mi-dump-complete: (\S+) (\d+) (\d+)$/m;

async function runExportOn(host: SshHost, database: string, file: string, onProgress: (p: Progress) => void): Promise<Omit<ExportResult, 'host'>> {
  const partial = `${file}.partial`;
  let tail = '';
  const watchTail = new Transform({
    transform(chunk: Buffer, _enc, done) {
      tail = (tail + chunk.toString('latin1')).slice(-4096);
      done(null, chunk);
    },
  });
  const counter = progressCounter(onProgress, undefined);
  const sink = createWriteStream(partial, { mode: 0o600 });
  const stages: Array<Transform | Writable> = [watchTail, counter, ...(file.endsWith('.gz') ? [createGzip()] : []), sink];
  const written = pipeline(stages[0] as Readable, ...(stages.slice(1) as [Writable]));
  try {
    const result = await host.stream(remote(`export ${database}`, ['db', 'dump', database], { errors: DATA_ERRORS }), { output: watchTail });
    watchTail.end();
    await written;
    if (result.code !== 0) throw dataError(host, `exporting ${database}`, result);
    const complete = COMPLETE.exec(tail);
    if (!complete) throw new MiError('MI_ERR_DUMP_FAILED', `exporting ${database} on ${host.label}: the dump ended without its completion line`, { host: host.label });
    renameSync(partial, file);
    return { file, bytes: statSync(file).size, tables: Number(complete[2]), rows: Number(complete[3]) };
  } catch (err) {
    watchTail.destroy();
    rmSync(partial, { force: true });
    throw err;
  }
}

/** `db export`: a consistent dump (one transaction) streamed down into FILE. */
export async function runDbExport(options: DataTarget & { database: string; file: string; onProgress: (p: Progress) => void }): Promise<ExportResult> {
  return withHost(options.target, async (host) => {
    await openHost(host, options.target);
    return { host: host.label, ...(await runExportOn(host, options.database, options.file, options.onProgress)) };
  });
}

/**
 * `db shell`: the `mariadb` client on the host as the app's user (its password stays on the host),
 * with a terminal when this side has one; stdin piped through otherwise (`db shell < query.sql`).
 */
export async function runDbShell(options: DataTarget & { database: string; input: Readable; output: Writable; tty?: { rows: number; cols: number; onResize: (fn: (rows: number, cols: number) => void) => void } }): Promise<number> {
  return withHost(options.target, async (host) => {
    await openHost(host, options.target);
    const command = remote('mariadb client', ['db-shell', options.database, APP_DB_USER, HOST_PATHS.secretsEnvFile, 'MESSENGER_DB_PASSWORD']);
    const result = await host.stream(command, {
      input: options.input,
      output: options.output,
      ...(options.tty ? { pty: { term: process.env.TERM || 'xterm-256color', rows: options.tty.rows, cols: options.tty.cols } } : {}),
      onChannel: (channel) => options.tty?.onResize((rows, cols) => channel.setWindow?.(rows, cols, 0, 0)),
    });
    if (result.dropped) throw dataError(host, 'the database shell', result);
    if (result.code !== 0 && result.stderr.trim()) process.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`);
    return result.code;
  });
}

// ---------------------------------------------------------------------------------------------
// backup

export interface SnapshotLine {
  id: string;
  database: string;
  tables: number;
  rows: number;
  bytes: number;
}

/** `snapshot ID DB TABLES ROWS BYTES` lines of `backup run`. */
export function parseSnapshotLines(stdout: string): SnapshotLine[] {
  return stdout.split('\n').flatMap((l) => {
    const m = /^snapshot (\S+) (\S+) (\d+) (\d+) (\d+)$/.exec(l.trim());
    return m ? [{ id: m[1]!, database: m[2]!, tables: Number(m[3]), rows: Number(m[4]), bytes: Number(m[5]) }] : [];
  });
}

function requireBackup(stack: StackConfig, configured: boolean, host: SshHost): void {
  if (!stack.backup) throw new MiError('MI_ERR_BACKUP_OFF', 'the stack has no backup section; add one (README: "Backups and restore") and run `messenger-infra up`');
  if (!configured) throw new MiError('MI_ERR_BACKUP_OFF', `${host.label} has no backup settings yet; run \`messenger-infra up\` with the backup section first`, { host: host.label });
}

/** `backup now`: the nightly run, now, tagged manual (retention applies as at night). */
export async function runBackupNow(options: DataTarget): Promise<{ host: string; snapshots: SnapshotLine[] }> {
  return withHost(options.target, async (host) => {
    requireBackup(options.stack, (await openHost(host, options.target)).backupConfigured, host);
    return locked(host, options.lockWaitSeconds, async (lock) => {
      const args = backupRunArgs(options.stack).map((a) => (a === 'nightly' ? 'manual' : a));
      const out = await must(host, `backing up to ${redactRepository(options.stack.backup!.repository)}`, lock(remote('backup now', args, { errors: DATA_ERRORS })), 6 * HOUR);
      return { host: host.label, snapshots: parseSnapshotLines(out) };
    });
  });
}

/** `backup list`: the repository's snapshots, as `backup list` prints them (parsed by the CLI). */
export async function runBackupList(options: DataTarget): Promise<{ host: string; stdout: string }> {
  return withHost(options.target, async (host) => {
    requireBackup(options.stack, (await openHost(host, options.target)).backupConfigured, host);
    return { host: host.label, stdout: await must(host, 'listing the snapshots', remote('backup list', ['backup', 'list', '--env', BACKUP_PATHS.env], { errors: DATA_ERRORS }), HOUR) };
  });
}

/** The snapshot a restore means: `latest` (the newest good one of the database) or an id or its prefix. */
async function resolveSnapshot(host: SshHost, wanted: string, database: string): Promise<SnapshotRow> {
  const rows = parseSnapshotList(await must(host, 'listing the snapshots', remote('backup list', ['backup', 'list', '--env', BACKUP_PATHS.env], { errors: DATA_ERRORS }), HOUR));
  const good = rows.filter((r) => r.ok && r.database === database);
  const found = wanted === 'latest' ? good.at(-1) : rows.find((r) => r.id.startsWith(wanted));
  if (!found) {
    throw new MiError(
      'MI_ERR_SNAPSHOT_UNKNOWN',
      wanted === 'latest' ? `the repository has no good snapshot of ${database} yet; run \`messenger-infra backup now\` on the old host, or check backup.repository` : `no snapshot ${wanted} in the repository; see \`messenger-infra backup list\``,
      { host: host.label },
    );
  }
  if (!found.ok) throw new MiError('MI_ERR_SNAPSHOT_UNKNOWN', `snapshot ${found.short} is incomplete (its dump never finished); pick a good one from \`messenger-infra backup list\``, { host: host.label });
  if (found.database !== database) throw new MiError('MI_ERR_SNAPSHOT_UNKNOWN', `snapshot ${found.short} holds ${found.database}, not ${database}`, { host: host.label });
  return found;
}

/** `backup drill`: the latest good snapshot restored into a scratch database, checked, dropped. */
export async function runBackupDrill(options: DataTarget): Promise<{ host: string; stdout: string }> {
  return withHost(options.target, async (host) => {
    requireBackup(options.stack, (await openHost(host, options.target)).backupConfigured, host);
    return { host: host.label, stdout: await must(host, 'the restore drill', remote('backup drill', backupDrillArgs(options.stack), { errors: DATA_ERRORS }), 6 * HOUR) };
  });
}

export interface RestoreOptions extends DataTarget {
  snapshot: string;
  /** Where the data goes: the app's database (live) or another. */
  into: string;
  onInfo: (message: string) => void;
}

/**
 * `backup restore`: the snapshot streamed from the repository into a scratch database on the host,
 * checked against what the backup recorded, then swapped in. Over the live database a backup of it is
 * taken first.
 */
export async function runBackupRestore(options: RestoreOptions): Promise<{ host: string; report: LoadReport; keptAt?: string }> {
  const database = backupDatabases(options.stack)[0]!;
  return withHost(options.target, async (host) => {
    requireBackup(options.stack, (await openHost(host, options.target)).backupConfigured, host);
    return locked(host, options.lockWaitSeconds, async (lock) => {
      await must(host, `creating ${options.into}`, lock(remote(`ensure database ${options.into}`, ['sql'], { stdin: ensureDatabaseSql(options.into), errors: { [REMOTE_EXIT.FAILED]: 'MI_ERR_DATABASE' } })), 120_000);
      const before = await tablesOf(host, options.into);
      const live = options.into === database;
      if (before.tables.length > 0 && !live) {
        throw new MiError('MI_ERR_DB_NOT_EMPTY', `database ${options.into} on ${host.label} is not empty (${before.tables.length} table(s)); restore into a new name, or drop it first`);
      }
      // "latest" is fixed before the backup of the live data, which would otherwise be the latest.
      const snapshot = await resolveSnapshot(host, options.snapshot, database);
      options.onInfo(`restoring snapshot ${snapshot.short} of ${database} from ${snapshot.time}${snapshot.rows === undefined ? '' : ` (${snapshot.rows.toLocaleString('en-US')} rows)`} into ${options.into}`);
      const keptAt = live && before.tables.length > 0 ? await snapshotBefore(host, lock, options.stack, 'pre-restore', options.onInfo) : undefined;
      const argv = ['backup', 'restore', '--env', BACKUP_PATHS.env, snapshot.id, '--database', database, '--into', options.into, '--definer', `${APP_DB_USER}@localhost`, ...(before.tables.length > 0 ? ['--replace'] : [])];
      const out = await must(host, `restoring ${snapshot.short}`, lock(remote(`restore ${snapshot.short}`, argv, { errors: { ...DATA_ERRORS, [REMOTE_EXIT.USAGE]: 'MI_ERR_SNAPSHOT_UNKNOWN' } })), 6 * HOUR);
      return { host: host.label, report: parseLoadReport(out), ...(keptAt ? { keptAt } : {}) };
    });
  });
}

/** The backup state of a host, in one round trip (for `verify`). */
export async function readBackupState(target: SshTarget): Promise<BackupState> {
  return withHost(target, async (host) => {
    const { facts } = await inspectHost(host, target.port, Object.values(backupStateFacts));
    return backupStateOf(facts);
  });
}

