import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli.js';

/**
 * `db import|export` and `backup restore` refuse bad input before anything connects: one line
 * `error: ...` naming what is wrong, exit 2, nothing on stdout.
 *
 * First through the real binary, with a stack that points at 127.0.0.1 port 1 (nothing listens
 * there, so a command that got as far as SSH would fail with a connection error instead); every
 * expectation is the whole of stderr, so such a failure shows. Then in this process, with the
 * functions that would connect (src/executor/data.ts) replaced by stubs that record whether they
 * were reached, and with what.
 */
const dir = mkdtempSync(join(tmpdir(), 'mi-cli-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** This machine's config and keys stay out of it. */
const home = join(dir, 'home');
mkdirSync(home);
const ENV: NodeJS.ProcessEnv = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), MESSENGER_JWT_SECRET: undefined, MI_DEBUG: undefined, SSH_AUTH_SOCK: undefined };
const STACK = ['--tier', 'mvp', '--domain', 'chat.messenger.test', '--email', 'ops@messenger.test', '--host', '127.0.0.1', '--ssh-port', '1'];

const cli = (args: string[]) => runCli(args, { env: ENV, timeoutMs: 60_000 });

function at(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const DUMP_GZ = at('shop.sql.gz', gzipSync('-- MySQL dump 10.13  Distrib 8.0.36\nSET NAMES utf8mb4;\n'));
const DUMP_SQL = at('shop.sql', '-- phpMyAdmin SQL Dump\nSET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";\n');
const DUMP_ZST = at('shop.sql.zst', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x45, 0x00, 0x00]));
const BZIP2 = at('shop.sql.bz2', Buffer.from('BZh91AY&SY\x9d\x1c\x00\x00', 'latin1'));
const ZIP = at('shop.zip', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00]));
const XZ = at('shop.sql.xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6]));
const BINARY = at('image.sql', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]));
const TEXT = at('notes.sql', 'Dear team,\nhere is the export you asked for.\n');
const HTML = at('export.sql', '<!DOCTYPE html>\n<html><body>Login</body></html>\n');
const CORRUPT_GZ = at('broken.sql.gz', Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('this is not deflate data at all, it was cut by a proxy')]));
const GZ_NOT_SQL = at('photo.sql.gz', gzipSync(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00])));
const EMPTY = at('empty.sql', '');
const SCRIPT = at('backup.sql', '#!/bin/sh\nmysqldump shop > shop.sql\n');
const FOLDER = join(dir, 'dump.sql');
mkdirSync(FOLDER);

const COMPRESSED = 'which import does not take; decompress it, or recompress with gzip or zstd';
const DB_RULE = 'must be a database name of a-z, 0-9 and _ (at most 64), like messenger_chat';
const SYSTEM_SCHEMA = "is one of MariaDB's own schemas; give the app's database, like messenger_chat";
const SCRATCH = 'starts like the scratch databases of imports and drills; pick another name';
const YES_REQUIRED = 'error: --yes: is required to restore over the live database when no terminal can ask\n';
const snapshotError = (id: string) => `error: snapshot: "${id}" is not a snapshot id like 4f2a9c1e; see \`messenger-infra backup list\`\n`;

describe.concurrent('the real binary: bad input is one line and exit 2, before any connection', () => {
  it.for([
    ['a missing file', join(dir, 'missing.sql'), `${join(dir, 'missing.sql')} does not exist; give the dump to import (.sql, .sql.gz or .sql.zst)`],
    ['bzip2', BZIP2, `${BZIP2} is bzip2-compressed, ${COMPRESSED}`],
    ['zip', ZIP, `${ZIP} is zip-compressed, ${COMPRESSED}`],
    ['binary data', BINARY, `${BINARY} is not an SQL dump (binary data)`],
    ['text that is not SQL', TEXT, `${TEXT} is not an SQL dump (it starts with "Dear team, here is the e")`],
    ['a corrupt .gz', CORRUPT_GZ, `${CORRUPT_GZ} is not a readable gzip file; check the download`],
  ] as const)('db import of %s names FILE', async ([, file, problem], { expect }) => {
    const res = await cli(['db', 'import', file, ...STACK]);
    expect(res.stderr).toBe(`error: FILE: ${problem}\n`);
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it('db import --json: the error as one JSON object on stdout too', async ({ expect }) => {
    const res = await cli(['db', 'import', TEXT, '--json', ...STACK]);
    const message = `FILE: ${TEXT} is not an SQL dump (it starts with "Dear team, here is the e")`;
    expect(jsonLines(res.stdout)).toEqual([{ type: 'error', code: 'MI_ERR_CONFIG', message }]);
    expect(res.stderr).toBe(`error: ${message}\n`);
    expect(res.code).toBe(2);
  });

  it('db import --database Bad-Name', async ({ expect }) => {
    const res = await cli(['db', 'import', DUMP_GZ, '--database', 'Bad-Name', ...STACK]);
    expect(res.stderr).toBe(`error: --database: "Bad-Name" ${DB_RULE}\n`);
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it('backup restore nothex!', async ({ expect }) => {
    const res = await cli(['backup', 'restore', 'nothex!', '--yes', ...STACK]);
    expect(res.stderr).toBe(snapshotError('nothex!'));
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it('backup restore --to-database X-Y', async ({ expect }) => {
    const res = await cli(['backup', 'restore', '--to-database', 'X-Y', ...STACK]);
    expect(res.stderr).toBe(`error: --to-database: "X-Y" ${DB_RULE}\n`);
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it('backup restore over the live database with no terminal and no --yes', async ({ expect }) => {
    // stdin is not a terminal here (runCli ignores it).
    const res = await cli(['backup', 'restore', ...STACK]);
    expect(res.stderr).toBe(YES_REQUIRED);
    expect(res.stdout).toBe('');
    expect(res.code).toBe(2);
  });

  it("backup restore with a stack file: its backup section is checked like the flags", async ({ expect }) => {
    const stackDir = join(dir, 'stack');
    mkdirSync(stackDir, { recursive: true });
    const file = join(stackDir, 'prod.yaml');
    writeFileSync(
      file,
      ['tier: mvp', 'domain: chat.messenger.test', 'email: ops@messenger.test', 'target:', '  host: 127.0.0.1', '  ssh: { port: 1 }', 'backup:', '  repository: sftp:backup@127.0.0.1:/srv/restic', '  schedule: "3:30"', ''].join('\n'),
    );
    const bad = await cli(['backup', 'restore', 'latest', '--yes', '--stack', file]);
    expect(bad.stderr).toBe('error: stack.backup.schedule: "3:30" must be a time of day like 03:30 (24 h, host time)\n');
    expect(bad.code).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------------
// In this process: the functions that would connect are stubs.

const host = vi.hoisted(() => ({
  runDbImport: vi.fn(),
  runDbExport: vi.fn(),
  runDbShell: vi.fn(),
  runBackupNow: vi.fn(),
  runBackupList: vi.fn(),
  runBackupRestore: vi.fn(),
  runBackupDrill: vi.fn(),
}));
vi.mock('../../src/executor/data.js', async (importOriginal) => ({ ...(await importOriginal<object>()), ...host }));
// `--sandbox` boots nothing here: the boot is a stub (in both modules that could provide it) that records whether it was reached.
const boot = vi.hoisted(() => vi.fn());
vi.mock('../../src/sandbox/lifecycle.js', async (importOriginal) => ({ ...(await importOriginal<object>()), sandboxUp: boot }));
vi.mock('../../src/sandbox/index.js', async (importOriginal) => ({ ...(await importOriginal<object>()), sandboxUp: boot }));
const { sandboxUp } = await import('../../src/sandbox/index.js');
const { sandboxUp: lifecycleUp } = await import('../../src/sandbox/lifecycle.js');
const sandboxStubbed = sandboxUp === boot && lifecycleUp === boot;
const { register: registerDb } = await import('../../cli/commands/db.js');
const { register: registerBackup } = await import('../../cli/commands/backup.js');

let stderr: string[];
const stdinTty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
beforeEach(() => {
  stderr = [];
  // No terminal to ask on, whatever runs the tests: `backup restore` must never wait for an answer here.
  Object.defineProperty(process.stdin, 'isTTY', { value: undefined, configurable: true });
  for (const fn of Object.values(host)) fn.mockReset().mockRejectedValue(new Error('reached the host'));
  boot.mockReset().mockRejectedValue(new Error('booted the sandbox'));
  vi.stubEnv('MESSENGER_JWT_SECRET', undefined);
  vi.stubEnv('HOME', home);
  vi.stubEnv('XDG_CONFIG_HOME', join(home, '.config'));
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => (stderr.push(String(t)), true));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  if (stdinTty) Object.defineProperty(process.stdin, 'isTTY', stdinTty);
  else delete (process.stdin as { isTTY?: boolean }).isTTY;
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
});

async function run(args: string[]): Promise<void> {
  const program = new Command('messenger-infra').exitOverride();
  registerDb(program);
  registerBackup(program);
  await program.parseAsync(['node', 'messenger-infra', ...args]);
}

const REACHED = ['error: reached the host (unexpected: please report)\n'];
const nothingReached = () => {
  for (const [name, fn] of Object.entries(host)) expect(fn, name).not.toHaveBeenCalled();
  expect(boot, 'sandboxUp').not.toHaveBeenCalled();
};

describe('db import in process: refused before the host, or handed to it as checked', () => {
  it.each([
    ['a folder', FOLDER, `${FOLDER} is not a file; give the dump to import (.sql, .sql.gz or .sql.zst)`],
    ['a shell script', SCRIPT, `${SCRIPT} is not an SQL dump (it starts with "#!/bin/sh mysqldump shop")`],
    ['xz', XZ, `${XZ} is xz-compressed, ${COMPRESSED}`],
    ['an HTML page saved as .sql', HTML, `${HTML} is not an SQL dump (it starts with "<!DOCTYPE html> <html><b")`],
    ['a .gz holding no SQL', GZ_NOT_SQL, `${GZ_NOT_SQL} is gzip-compressed but is not an SQL dump (binary data)`],
    ['an empty file', EMPTY, `${EMPTY} is empty`],
  ])('%s', async (_, file, problem) => {
    await run(['db', 'import', file, ...STACK]);
    expect(stderr).toEqual([`error: FILE: ${problem}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it.each(['Bad-Name', 'shop;drop', '1shop', 'Shop', 'shop db', `a${'b'.repeat(64)}`])('--database %j', async (name) => {
    await run(['db', 'import', DUMP_GZ, '--database', name, ...STACK]);
    expect(stderr).toEqual([`error: --database: "${name}" ${DB_RULE}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('the file comes first, even without a stack', async () => {
    await run(['db', 'import', BZIP2]);
    expect(stderr).toEqual([`error: FILE: ${BZIP2} is bzip2-compressed, ${COMPRESSED}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('a stack without a host: the stack is what is wrong', async () => {
    await run(['db', 'import', DUMP_GZ, '--tier', 'mvp', '--domain', 'chat.messenger.test', '--email', 'ops@messenger.test']);
    expect(stderr).toEqual(['error: stack.target.host: is required; pass --host ADDRESS, set target.host in the stack file, or use --sandbox\n']);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('good input reaches the host with the file, its compression and the database', async () => {
    await run(['db', 'import', DUMP_GZ, '--database', 'shop_db', '--replace', ...STACK]);
    expect(stderr).toEqual(REACHED);
    expect(process.exitCode).toBe(1);
    expect(host.runDbImport).toHaveBeenCalledTimes(1);
    const options = host.runDbImport.mock.calls[0]![0];
    expect(options).toMatchObject({ file: DUMP_GZ, compression: 'gzip', database: 'shop_db', replace: true, target: { host: '127.0.0.1', port: 1, user: 'root' } });
    expect(options.safetyCopy).toMatch(/^shop_db-before-import-\d{8}T\d{6}Z\.sql\.gz$/);
    expect(options.stack.domain).toBe('chat.messenger.test');
  });

  it("the app's database by default; plain SQL and zstd as they are", async () => {
    await run(['db', 'import', DUMP_SQL, ...STACK]);
    await run(['db', 'import', DUMP_ZST, '--database', 'shop_2', ...STACK]);
    expect(host.runDbImport.mock.calls.map(([o]) => [o.file, o.compression, o.database, o.replace])).toEqual([
      [DUMP_SQL, 'none', 'messenger_chat', false],
      [DUMP_ZST, 'zstd', 'shop_2', false],
    ]);
  });

  // runDbImport runs `CREATE DATABASE IF NOT EXISTS` and `GRANT <the app's grants> ON NAME.*` to the
  // app's user before anything else: on mysql.* that would let the app rewrite mysql.global_priv, and
  // --replace would swap the system schema for the dump.
  it.each(['mysql', 'sys', 'performance_schema', 'information_schema'])('--database %s (a system schema) is refused before the host', async (name) => {
    await run(['db', 'import', DUMP_GZ, '--database', name, '--replace', ...STACK]);
    expect(stderr).toEqual([`error: --database: "${name}" ${SYSTEM_SCHEMA}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it.each(['mi_load_1a2b', 'mi_old_messenger_chat', 'mi_drill_0a1b2c'])('--database %s (named like a scratch database) is refused before the host', async (name) => {
    await run(['db', 'import', DUMP_GZ, '--database', name, ...STACK]);
    expect(stderr).toEqual([`error: --database: "${name}" ${SCRATCH}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('names that only look like those reach the host', async () => {
    for (const name of ['mysql2', 'sys_log', 'mi_loader', 'mi_drill']) await run(['db', 'import', DUMP_GZ, '--database', name, ...STACK]);
    expect(host.runDbImport.mock.calls.map(([o]) => o.database)).toEqual(['mysql2', 'sys_log', 'mi_loader', 'mi_drill']);
  });
});

describe('db shell in process', () => {
  it.each([
    ['Bad-Name', DB_RULE],
    ['mysql', SYSTEM_SCHEMA],
    ['mi_old_shop', SCRATCH],
  ])('--database %j is refused before the host', async (name, problem) => {
    await run(['db', 'shell', '--database', name, ...STACK]);
    expect(stderr).toEqual([`error: --database: "${name}" ${problem}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });
});

describe('db export in process', () => {
  it('refuses --out onto a file that exists, and a bad --database', async () => {
    await run(['db', 'export', '--out', DUMP_GZ, ...STACK]);
    await run(['db', 'export', '--database', 'Bad-Name', ...STACK]);
    expect(stderr).toEqual([`error: --out: ${DUMP_GZ} exists already; give another file name\n`, `error: --database: "Bad-Name" ${DB_RULE}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('refuses a system schema or a scratch name as --database', async () => {
    await run(['db', 'export', '--database', 'performance_schema', ...STACK]);
    await run(['db', 'export', '--database', 'mi_drill_ab', ...STACK]);
    expect(stderr).toEqual([`error: --database: "performance_schema" ${SYSTEM_SCHEMA}\n`, `error: --database: "mi_drill_ab" ${SCRATCH}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('good input reaches the host', async () => {
    const out = join(dir, 'export.sql.gz');
    await run(['db', 'export', '--out', out, '--database', 'shop_db', ...STACK]);
    expect(stderr).toEqual(REACHED);
    expect(host.runDbExport).toHaveBeenCalledWith(expect.objectContaining({ file: out, database: 'shop_db', target: expect.objectContaining({ host: '127.0.0.1', port: 1 }) }));
  });
});

describe('backup restore in process', () => {
  it.each(['nothex!', '4F2A9C1E', '4f2a9c1', '4f2a9c1e-1', 'latest2', 'a'.repeat(65)])('snapshot %j', async (snapshot) => {
    await run(['backup', 'restore', snapshot, '--yes', ...STACK]);
    expect(stderr).toEqual([snapshotError(snapshot)]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it.each(['X-Y', 'scratch db', 'Restored', `a${'b'.repeat(64)}`])('--to-database %j', async (name) => {
    await run(['backup', 'restore', '4f2a9c1e', '--to-database', name, ...STACK]);
    expect(stderr).toEqual([`error: --to-database: "${name}" ${DB_RULE}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('good input reaches the host: the snapshot (latest by default) and the database it goes into', async () => {
    await run(['backup', 'restore', '4f2a9c1e', '--to-database', 'scratch_1', ...STACK]);
    await run(['backup', 'restore', '--yes', ...STACK]);
    await run(['backup', 'restore', 'latest', '--yes', ...STACK]);
    await run(['backup', 'restore', 'a'.repeat(64), '--to-database', 'scratch_2', ...STACK]);
    expect(stderr).toEqual([...REACHED, ...REACHED, ...REACHED, ...REACHED]);
    expect(host.runBackupRestore.mock.calls.map(([o]) => [o.snapshot, o.into])).toEqual([
      ['4f2a9c1e', 'scratch_1'],
      ['latest', 'messenger_chat'],
      ['latest', 'messenger_chat'],
      ['a'.repeat(64), 'scratch_2'],
    ]);
  });

  it('into the live database by its own name still asks (no terminal here: --yes is required)', async () => {
    await run(['backup', 'restore', '4f2a9c1e', '--to-database', 'messenger_chat', ...STACK]);
    expect(stderr).toEqual([YES_REQUIRED]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('over the live database (no --to-database) with no terminal and no --yes: refused before anything starts', async () => {
    await run(['backup', 'restore', ...STACK]);
    await run(['backup', 'restore', '4f2a9c1e', ...STACK]);
    expect(stderr).toEqual([YES_REQUIRED, YES_REQUIRED]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });

  it('a bad snapshot id, then a bad --to-database, are named before --yes is asked for', async () => {
    await run(['backup', 'restore', 'nothex!', ...STACK]);
    await run(['backup', 'restore', '--to-database', 'X-Y', ...STACK]);
    expect(stderr).toEqual([snapshotError('nothex!'), `error: --to-database: "X-Y" ${DB_RULE}\n`]);
    nothingReached();
  });

  // The same hole as db import --database: `ensure database` GRANTs the app's user on NAME.* before
  // the not-empty check refuses.
  it.each([
    ['mysql', SYSTEM_SCHEMA],
    ['information_schema', SYSTEM_SCHEMA],
    ['mi_drill_0a1b2c', SCRATCH],
    ['mi_load_x', SCRATCH],
  ])('--to-database %s is refused before the host', async (name, problem) => {
    await run(['backup', 'restore', '4f2a9c1e', '--to-database', name, ...STACK]);
    expect(stderr).toEqual([`error: --to-database: "${name}" ${problem}\n`]);
    expect(process.exitCode).toBe(2);
    nothingReached();
  });
});

describe.skipIf(!sandboxStubbed)('with --sandbox: the input is checked before the sandbox boots (the first side effect)', () => {
  it('a good import gets as far as the boot (the stub)', async () => {
    await run(['db', 'import', DUMP_GZ, '--sandbox']);
    expect(boot).toHaveBeenCalledTimes(1);
    expect(stderr).toEqual(['error: booted the sandbox (unexpected: please report)\n']);
    expect(host.runDbImport).not.toHaveBeenCalled();
  });

  it('a bad file and a bad snapshot id are refused before it', async () => {
    await run(['db', 'import', BZIP2, '--sandbox']);
    await run(['backup', 'restore', 'nothex!', '--sandbox']);
    expect(stderr).toEqual([`error: FILE: ${BZIP2} is bzip2-compressed, ${COMPRESSED}\n`, snapshotError('nothex!')]);
    nothingReached();
  });

  // Checked before onHost, which boots the sandbox first: a typo must not cost a sandbox boot.
  it.each([
    ['db import --database Bad-Name', ['db', 'import', DUMP_GZ, '--database', 'Bad-Name', '--sandbox'], `error: --database: "Bad-Name" ${DB_RULE}\n`],
    ['db import --database mysql', ['db', 'import', DUMP_GZ, '--database', 'mysql', '--sandbox'], `error: --database: "mysql" ${SYSTEM_SCHEMA}\n`],
    ['db export --database Bad-Name', ['db', 'export', '--database', 'Bad-Name', '--sandbox'], `error: --database: "Bad-Name" ${DB_RULE}\n`],
    ['db export --out EXISTING', ['db', 'export', '--out', DUMP_GZ, '--sandbox'], `error: --out: ${DUMP_GZ} exists already; give another file name\n`],
    ['db shell --database Bad-Name', ['db', 'shell', '--database', 'Bad-Name', '--sandbox'], `error: --database: "Bad-Name" ${DB_RULE}\n`],
    ['backup restore without --yes', ['backup', 'restore', '--sandbox'], YES_REQUIRED],
    ['backup restore --to-database X-Y', ['backup', 'restore', '--to-database', 'X-Y', '--sandbox'], `error: --to-database: "X-Y" ${DB_RULE}\n`],
    ['backup restore --to-database mi_old_x', ['backup', 'restore', '--to-database', 'mi_old_x', '--sandbox'], `error: --to-database: "mi_old_x" ${SCRATCH}\n`],
  ])('%s is refused before the boot', async (_, args, line) => {
    await run(args);
    expect(stderr).toEqual([line]);
    nothingReached();
  });

  it('backup restore with --to-database, or with --yes, gets as far as the boot', async () => {
    await run(['backup', 'restore', '--to-database', 'scratch_1', '--sandbox']);
    await run(['backup', 'restore', '--yes', '--sandbox']);
    expect(boot).toHaveBeenCalledTimes(2);
    expect(host.runBackupRestore).not.toHaveBeenCalled();
  });
});
