/**
 * `db import FILE`, `db export [--out FILE]`, `db shell`: moving a messenger's data in from a shared
 * host and out again, and a client on the host. They take the stack and target flags of `up`.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Command } from 'commander';
import { formatBytes, formatLoadReport, sniffDump, type Compression } from '../../src/core/dump.js';
import { ConfigError } from '../../src/errors/index.js';
import { databaseNameProblem } from '../../src/config/schema.js';
import { runDbExport, runDbImport, runDbShell, type Progress } from '../../src/executor/data.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { jsonLine } from '../step-output.js';
import { addTargetOptions, type TargetFlags } from '../target-options.js';

interface DbFlags extends TargetFlags {
  database?: string;
  json?: boolean;
}

/** --database NAME, checked before anything starts (the sandbox boot, SSH). */
export function checkDatabaseFlag(field: string, name: string | undefined): void {
  const problem = name === undefined ? null : databaseNameProblem(name);
  if (problem) throw new ConfigError(field, `"${name}" ${problem}`);
}

/** The database a command works on: --database NAME, else the app's (app.database.name). */
const databaseOf = (flags: DbFlags, appDatabase: string): string => flags.database ?? appDatabase;

/** The first bytes of FILE, and for gzip the start of what it holds, so a wrong file fails here. */
function checkDumpFile(file: string): Compression {
  if (!existsSync(file)) throw new ConfigError('FILE', `${file} does not exist; give the dump to import (.sql, .sql.gz or .sql.zst)`);
  if (!statSync(file).isFile()) throw new ConfigError('FILE', `${file} is not a file; give the dump to import (.sql, .sql.gz or .sql.zst)`);
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(64 * 1024);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const first = head.subarray(0, n);
  let inner: Buffer | undefined;
  if (first[0] === 0x1f && first[1] === 0x8b) {
    try {
      // The start only: a partial gzip member inflates as far as it goes.
      inner = gunzipSync(first, { finishFlush: 2 /* Z_SYNC_FLUSH */ }).subarray(0, 64 * 1024);
    } catch {
      throw new ConfigError('FILE', `${file} is not a readable gzip file; check the download`);
    }
  }
  const sniffed = sniffDump(first, inner);
  if (!sniffed.ok) throw new ConfigError('FILE', `${file} ${sniffed.problem}`);
  return sniffed.compression;
}

/** Progress on stderr: one live line on a terminal, every 10% otherwise (CI logs). */
function progressPrinter(what: string, tty: boolean): (p: Progress) => void {
  let lastDecile = -1;
  return (p) => {
    const seconds = Math.max(0.001, (Date.now() - p.startedMs) / 1000);
    const pct = p.total ? Math.min(100, Math.floor((p.bytes / p.total) * 100)) : undefined;
    const line = `${what}: ${formatBytes(p.bytes)}${p.total ? ` of ${formatBytes(p.total)} (${pct}%)` : ''}, ${formatBytes(p.bytes / seconds)}/s`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (pct === undefined || Math.floor(pct / 10) > lastDecile) {
      lastDecile = pct === undefined ? lastDecile : Math.floor(pct / 10);
      process.stderr.write(`${line}\n`);
    }
  };
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');

export function register(program: Command): void {
  const db = program.command('db').description("the app's database: import a dump from the old host, export one, open a client");

  addTargetOptions(
    db
      .command('import')
      .argument('<file>', 'a dump from mysqldump, mariadb-dump or phpMyAdmin: .sql, .sql.gz or .sql.zst')
      .description('stream a dump into the database (translated for MariaDB, loaded aside, swapped in at once: a failure changes nothing)')
      .option('--database <name>', "the database to import into (created and granted to the app's user when missing); default: the app's")
      .option('--replace', 'replace a database that holds tables (a backup of it is taken first)')
      .option('--json', 'the result as one JSON object'),
  ).action(
    runAction(async (file: string, flags: DbFlags & { replace?: boolean }) => {
      checkDatabaseFlag('--database', flags.database);
      const compression = checkDumpFile(file);
      const tty = process.stderr.isTTY === true;
      const result = await onHost(flags, ({ stack, target, checked }) => {
        const database = databaseOf(flags, stack.app.database.name);
        return runDbImport({
          stack,
          target,
          file,
          compression,
          database,
          replace: flags.replace === true,
          safetyCopy: `${database}-before-import-${stamp()}.sql.gz`,
          onProgress: progressPrinter(`importing ${basename(file)}`, tty),
          onInfo: (m) => process.stderr.write(`${tty ? '\n' : ''}${m}\n`),
          ...(flags.lockWait === undefined ? {} : { lockWaitSeconds: flags.lockWait }),
        }).then((r) => ({ ...r, database, checked }));
      }, 'db');
      if (tty) process.stderr.write('\n');
      if (flags.json) {
        process.stdout.write(jsonLine({ type: 'import', host: result.host, database: result.database, ...result.report, ...(result.keptAt ? { keptAt: result.keptAt } : {}) }));
      } else {
        process.stdout.write(`${formatLoadReport(result.report, result.database).join('\n')}\n${result.keptAt ? `the data it replaced is kept in ${result.keptAt}\n` : ''}`);
      }
      return 0;
    }),
  );

  addTargetOptions(
    db
      .command('export')
      .description('a consistent dump (one transaction) streamed down to this machine')
      .option('--out <file>', 'where to write it; .gz compresses (default DB-TIME.sql.gz)')
      .option('--database <name>', "default: the app's database"),
  ).action(
    runAction(async (flags: DbFlags & { out?: string }) => {
      checkDatabaseFlag('--database', flags.database);
      if (flags.out !== undefined && existsSync(flags.out)) throw new ConfigError('--out', `${flags.out} exists already; give another file name`);
      const tty = process.stderr.isTTY === true;
      const result = await onHost(flags, ({ stack, target }) => {
        const database = databaseOf(flags, stack.app.database.name);
        const file = flags.out ?? `${database}-${stamp()}.sql.gz`;
        return runDbExport({ stack, target, database, file, onProgress: progressPrinter(`exporting ${database}`, tty) });
      }, 'db');
      if (tty) process.stderr.write('\n');
      process.stdout.write(`${result.file}: ${result.tables} table(s), ${result.rows.toLocaleString('en-US')} row(s), ${formatBytes(result.bytes)}\n`);
      return 0;
    }),
  );

  addTargetOptions(
    db
      .command('shell')
      .description("the mariadb client on the host as the app's user (its password stays there); SQL on stdin works too")
      .option('--database <name>', "default: the app's database"),
  ).action(
    runAction(async (flags: DbFlags) => {
      checkDatabaseFlag('--database', flags.database);
      const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
      return onHost(flags, async ({ stack, target }) => {
        const database = databaseOf(flags, stack.app.database.name);
        if (interactive) process.stdin.setRawMode(true);
        try {
          return await runDbShell({
            stack,
            target,
            database,
            input: process.stdin,
            output: process.stdout,
            ...(interactive
              ? { tty: { rows: process.stdout.rows, cols: process.stdout.columns, onResize: (fn) => process.stdout.on('resize', () => fn(process.stdout.rows, process.stdout.columns)) } }
              : {}),
          });
        } finally {
          if (interactive) process.stdin.setRawMode(false);
          process.stdin.pause();
        }
      }, 'db');
    }),
  );
}
