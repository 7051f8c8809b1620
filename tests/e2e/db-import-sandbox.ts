import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { quickVerifyOptions, runVerify } from '../../src/verify/index.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

const DUMPS = fileURLToPath(new URL('../fixtures/dumps/', import.meta.url));
const EXPECTED = JSON.parse(readFileSync(join(DUMPS, 'expected.json'), 'utf8')) as Record<string, { tables: Record<string, number>; objects: string[] }>;

interface ImportDoc {
  type: 'import';
  database: string;
  tables: Array<{ name: string; rows: number }>;
  objects: Array<{ kind: string; name: string }>;
  translated: Array<{ what: string; from: string; to: string; count: number }>;
  keptAt?: string;
}

/**
 * Moving in from a shared host, on a converged sandbox: the MySQL 8 mysqldump and phpMyAdmin fixture
 * dumps (DEFINERs, triggers, views, a procedure and a function, 0900 collations, emoji) through
 * `db import` as .sql.gz and .sql.zst, their objects working afterwards; a non-empty database refused;
 * a dump broken halfway rolled back with the data and the site as they were; `db export` → `db import`
 * round trip; `db shell` with SQL on stdin.
 */
export function dbImportSuite(sb: SandboxHandle, os: 'debian12' | 'debian13'): void {
  const target = ['--sandbox', '--os', os, '--tier', 'mvp'];
  let dir: string;
  // utf8mb4 on the client too: Debian 12's client would otherwise send 4-byte characters as utf8mb3.
  const sql = (db: string, query: string) => sb.ssh(['mariadb', '--default-character-set=utf8mb4', '-N', '-B', db, '-e', `"${query.replace(/"/g, '\\"')}"`]);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mi-import-e2e-'));
    writeFileSync(join(dir, 'mysql80.sql.gz'), gzipSync(readFileSync(join(DUMPS, 'mysql80-mysqldump.sql'))));
    const zst = spawnSync('zstd', ['-q', '-c', join(DUMPS, 'phpmyadmin.sql')]);
    if (zst.status !== 0) throw new Error(`zstd: ${zst.stderr}`);
    writeFileSync(join(dir, 'phpmyadmin.sql.zst'), zst.stdout);
    // Broken halfway: the first tables load, then a statement MariaDB refuses.
    const text = readFileSync(join(DUMPS, 'mysql80-mysqldump.sql'), 'utf8');
    const cut = text.indexOf('-- Table structure for table `rooms`');
    writeFileSync(join(dir, 'broken.sql'), `${text.slice(0, cut)}\nINSERT INTO \`rooms\` VALUES (1,'oops';\n${text.slice(cut)}`);
  });

  async function exactRows(db: string, table: string): Promise<number> {
    // No backticks: the guest's shell reads the query inside double quotes.
    return Number((await sql(db, `SELECT COUNT(*) FROM ${table}`)).stdout.trim());
  }

  async function importDoc(args: string[]): Promise<ImportDoc> {
    const result = await runCli(['db', 'import', ...args, ...target, '--json'], { cwd: dir, timeoutMs: 300_000 });
    expect(result.code, result.stderr).toBe(0);
    return jsonLines(result.stdout)[0] as unknown as ImportDoc;
  }

  it(`db import: a MySQL 8 mysqldump (.sql.gz) into ${os}'s MariaDB, translated, every row and object there and working`, async () => {
    const doc = await importDoc([join(dir, 'mysql80.sql.gz'), '--database', 'moved_in']);
    const expected = EXPECTED['mysql80-mysqldump.sql']!;
    expect(Object.fromEntries(doc.tables.map((t) => [t.name, t.rows]))).toEqual(expected.tables);
    expect(doc.objects.map((o) => `${o.kind} ${o.name}`).sort()).toEqual([...expected.objects].sort());
    for (const [table, rows] of Object.entries(expected.tables)) expect(await exactRows('moved_in', table)).toBe(rows);
    // The old host's definer does not exist here: every definer is now the app's own user.
    const definers = (await sql('moved_in', "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA='moved_in' UNION SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='moved_in' UNION SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='moved_in'")).stdout.trim();
    expect(definers).toBe('messenger_chat@localhost');
    expect(doc.translated.find((t) => t.what === 'definer')?.count).toBeGreaterThanOrEqual(5);
    // MySQL 8's 0900 collations exist on no MariaDB here under that name, or are reported when translated.
    const collations = (await sql('moved_in', "SELECT DISTINCT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='moved_in' AND COLLATION_NAME IS NOT NULL")).stdout;
    const known = (await sql('moved_in', "SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME='utf8mb4_0900_ai_ci'")).stdout.trim() === '1';
    if (!known) {
      expect(collations).not.toMatch(/0900/);
      expect(doc.translated.filter((t) => t.what === 'collation').map((t) => t.from)).toContain('utf8mb4_0900_ai_ci');
    }
    // Emoji and CJK extension B byte for byte (utf8mb4 end to end).
    expect((await sql('moved_in', 'SELECT HEX(body) FROM messages WHERE id=2')).stdout.trim()).toBe(Buffer.from('It\'s a "test" 😀🎉').toString('hex').toUpperCase());
    expect((await sql('moved_in', 'SELECT HEX(display_name) FROM users WHERE id=4')).stdout.trim()).toBe(Buffer.from('陈 𠀋𪚥').toString('hex').toUpperCase());
    // 'Bob' and 'bob' stay two users: the case-sensitive collation kept its meaning.
    expect(await exactRows('moved_in', 'users')).toBe(4);
    // The trigger fires, the view and the routines answer (here as root; `db shell` below as the app's user).
    const before = Number((await sql('moved_in', 'SELECT message_count FROM rooms WHERE id=1')).stdout.trim());
    const insert = await sql('moved_in', "INSERT INTO messages (room_id, user_id, body, created_at) VALUES (1, 1, 'after the move 🚚', NOW(3))");
    expect(insert.code, insert.stderr).toBe(0);
    expect(Number((await sql('moved_in', 'SELECT message_count FROM rooms WHERE id=1')).stdout.trim())).toBe(before + 1);
    expect((await sql('moved_in', 'SELECT COUNT(*) FROM active_rooms')).code).toBe(0);
    expect((await sql('moved_in', 'CALL room_history(1, 3)')).stdout.trim().split('\n')).toHaveLength(3);
    expect(Number((await sql('moved_in', 'SELECT unread_count(1, 1)')).stdout.trim())).toBeGreaterThanOrEqual(0);
    // The app's least-privilege user may use the new database (granted like its own).
    const grants = (await sb.ssh(['mariadb', '-N', '-e', '"SHOW GRANTS FOR messenger_chat@localhost"'])).stdout;
    expect(grants).toMatch(/ON `moved_in`\.\*/);
  }, 300_000);

  it('db import: a phpMyAdmin export (.sql.zst) too', async () => {
    const doc = await importDoc([join(dir, 'phpmyadmin.sql.zst'), '--database', 'from_phpmyadmin']);
    const expected = EXPECTED['phpmyadmin.sql']!;
    expect(Object.fromEntries(doc.tables.map((t) => [t.name, t.rows]))).toEqual(expected.tables);
    expect(doc.objects.map((o) => `${o.kind} ${o.name}`).sort()).toEqual([...expected.objects].sort());
  }, 300_000);

  it('a database with tables is refused without --replace; a dump broken halfway changes nothing, even with --replace; the site serves', async () => {
    const before = await exactRows('moved_in', 'messages');
    const refused = await runCli(['db', 'import', join(dir, 'mysql80.sql.gz'), '--database', 'moved_in', ...target], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: database moved_in .* is not empty \(5 table\(s\)\); pass --replace/m);

    const broken = await runCli(['db', 'import', join(dir, 'broken.sql'), '--database', 'moved_in', '--replace', ...target], { cwd: dir, timeoutMs: 300_000 });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^error: importing .*broken\.sql .* failed: .*(syntax|SQL)/im);
    expect(await exactRows('moved_in', 'messages')).toBe(before);
    expect((await sql('moved_in', 'SELECT COUNT(*) FROM active_rooms')).code).toBe(0);
    expect((await sb.ssh(['mariadb', '-N', '-e', '"SHOW DATABASES"'])).stdout).not.toMatch(/mi_load_|mi_old_/);
    // --replace took a copy first: no backups in this stack, so a local dump beside the operator.
    expect(broken.stderr).toMatch(/saving moved_in to moved_in-before-import-\d{8}T\d{6}Z\.sql\.gz/);
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
    const report = await runVerify(quickVerifyOptions({ domain: sb.info.domain, address: '127.0.0.1', caPath: sb.info.verifyCaPath, jwtSecret: secret }));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  }, 300_000);

  it('db export → db import round trip; db shell runs SQL from stdin as the app\'s user', async () => {
    const out = join(dir, 'moved_in.sql.gz');
    const exported = await runCli(['db', 'export', '--database', 'moved_in', '--out', out, ...target], { cwd: dir, timeoutMs: 300_000 });
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/moved_in\.sql\.gz: 5 table\(s\), \d+ row\(s\)/);
    expect(gunzipSync(readFileSync(out)).toString('utf8')).toMatch(/^-- mi-dump-complete: moved_in 5 \d+$/m);
    const doc = await importDoc([out, '--database', 'round_trip']);
    expect(doc.tables.find((t) => t.name === 'messages')?.rows).toBe(await exactRows('moved_in', 'messages'));

    const shell = await runCli(['db', 'shell', '--database', 'round_trip', ...target], { input: 'SELECT CURRENT_USER(), COUNT(*) FROM messages;\n' });
    expect(shell.code, shell.stderr).toBe(0);
    expect(shell.stdout).toContain('messenger_chat@localhost');
    expect(shell.stdout).toContain(String(doc.tables.find((t) => t.name === 'messages')?.rows));
    // The imported routines run for the app's own user: their definer, with its grants on the database.
    const routine = await runCli(['db', 'shell', '--database', 'moved_in', ...target], { input: 'CALL room_history(1, 2);\nSELECT unread_count(1, 1) AS unread;\n' });
    expect(routine.code, routine.stderr).toBe(0);
    expect(routine.stdout).toMatch(/^unread$/m);
  }, 300_000);
}
