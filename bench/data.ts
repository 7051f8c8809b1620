/**
 * `npm run bench:data [-- --rows N]`: the data commands on a fresh sandbox VPS (Debian 13, tier mvp),
 * with the backup repository off the host (restic's REST protocol, served by rclone on this machine's
 * loopback). In one run, each next to what a hand-written playbook does on the same host:
 *   - `db import` of a generated ~100 MB mysqldump-style dump (MySQL 8 collation, extended inserts):
 *     MB/s and rows/s, against the same file piped straight into `mariadb` over SSH (no scratch
 *     database, no swap, no translation: a failure there leaves half a database);
 *   - `backup now`, `backup drill` and `backup restore` of 1M chat messages, against
 *     `mariadb-dump --single-transaction | gzip` to the host's own disk and its `gunzip | mariadb`
 *     (a backup that dies with the host, and a restore nobody checks).
 * Run it on an otherwise idle machine.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { runRaw } from '../src/sandbox/exec.js';
import { sandboxDown, sandboxUp, sshArgv, type SandboxInfo } from '../src/sandbox/index.js';
import { startResticServer } from '../tests/helpers/restic-server.js';

const CLI = fileURLToPath(new URL('../bin/messenger-infra.js', import.meta.url));
const argv = process.argv.slice(2);
const rowsArg = argv.indexOf('--rows');
const messages = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 1_000_000;
if (!Number.isInteger(messages) || messages < 1000 || messages > 5_000_000) throw new Error('--rows must be a whole number from 1000 to 5000000');

/** Runs the CLI; resolves its wall time in seconds, or rejects with its output. */
function cli(args: string[], opts: { cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 1_800_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${args.slice(0, 3).join(' ')} failed (exit ${code}): ${out.slice(-1500)}`));
      resolve((performance.now() - started) / 1000);
    });
  });
}

/** Runs argv on the guest (its shell parses the joined line); resolves its wall time. */
async function onGuest(info: SandboxInfo, remote: string[], input?: string): Promise<number> {
  const started = performance.now();
  const line = sshArgv(info.sshKeyPath, info.knownHostsPath, remote);
  if (input === undefined) {
    const r = await runRaw(line, { timeoutMs: 1_800_000 });
    if (r.code !== 0) throw new Error(`${remote.join(' ')}: ${r.stderr.slice(-500)}`);
  } else {
    // The peer import: the file on the SSH channel's stdin, as `ssh host mariadb db < dump.sql` does.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(line[0]!, line.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${remote.join(' ')}: ${err.slice(-500)}`))));
      createReadStream(input).pipe(child.stdin);
    });
  }
  return (performance.now() - started) / 1000;
}

/** A mysqldump 8.0-style dump of one messages table, ~`targetBytes`, extended inserts of 1,000 rows. */
async function writeDump(file: string, targetBytes: number): Promise<number> {
  const out = createWriteStream(file);
  const write = (s: string) => new Promise<void>((resolve) => (out.write(s) ? resolve() : out.once('drain', () => resolve())));
  await write(
    '-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n/*!50503 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n' +
      'DROP TABLE IF EXISTS `messages`;\nCREATE TABLE `messages` (\n  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n  `room` varchar(64) NOT NULL,\n  `user` varchar(191) NOT NULL,\n' +
      '  `text` text NOT NULL,\n  `created_at` datetime(3) NOT NULL,\n  PRIMARY KEY (`id`),\n  KEY `room_id` (`room`,`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n' +
      'LOCK TABLES `messages` WRITE;\n',
  );
  let rows = 0;
  let bytes = 0;
  while (bytes < targetBytes) {
    const tuples: string[] = [];
    for (let i = 0; i < 1000; i++) {
      rows += 1;
      tuples.push(`(${rows},'room-${rows % 50}','user-${rows % 997}','message ${rows}: it\\'s a message with some text, an emoji 😀 and enough words to look real','2026-03-04 12:00:00.000')`);
    }
    const line = `INSERT INTO \`messages\` VALUES ${tuples.join(',')};\n`;
    bytes += Buffer.byteLength(line);
    await write(line);
  }
  await write('UNLOCK TABLES;\n-- Dump completed on 2026-03-05  3:30:00\n');
  await new Promise<void>((resolve) => out.end(resolve));
  return rows;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (x: number) => `${x.toFixed(1)} s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mi-bench-data-'));
  const server = await startResticServer();
  console.log('sandbox: fresh Debian 13, tier mvp; repository: restic REST on this machine\'s loopback');
  await sandboxDown();
  const info = await sandboxUp({ os: 'debian13' });
  try {
    writeFileSync(join(dir, 'restic.pw'), 'bench repository password, not a secret\n', { mode: 0o600 });
    const stack = join(dir, 'stack.yaml');
    writeFileSync(stack, stringify({ tier: 'mvp', backup: { repository: server.url, password: { file: './restic.pw' } } }));
    const target = ['--sandbox', '--stack', stack];
    await cli(['up', ...target, '--no-verify']);

    // --- import ----------------------------------------------------------------------------------
    const dump = join(dir, 'bench-100mb.sql');
    const dumpRows = await writeDump(dump, 100e6);
    const mb = statSync(dump).size / 1e6;
    const ours: number[] = [];
    const peer: number[] = [];
    for (let round = 0; round < 3; round++) {
      // Interleaved, a fresh database each time: the same work for both.
      ours.push(await cli(['db', 'import', dump, '--database', `bench_ours_${round}`, ...target], { cwd: dir }));
      await onGuest(info, ['mariadb', '-e', `"CREATE DATABASE bench_peer_${round}"`]);
      peer.push(await onGuest(info, ['sed', 's/utf8mb4_0900_ai_ci/utf8mb4_uca1400_ai_ci/g', '|', 'mariadb', `bench_peer_${round}`], dump));
    }
    const rate = (t: number) => `${(mb / t).toFixed(1)} MB/s, ${Math.round(dumpRows / t).toLocaleString('en-US')} rows/s`;
    console.log(`\ndb import of a ${mb.toFixed(0)} MB dump (${dumpRows.toLocaleString('en-US')} rows), 3 rounds interleaved, median:`);
    console.log(`  messenger-infra db import      ${s(median(ours))}  ${rate(median(ours))}  (${ours.map(s).join(', ')})`);
    console.log(`  ssh host mariadb db < dump     ${s(median(peer))}  ${rate(median(peer))}  (${peer.map(s).join(', ')})`);
    console.log(`  ratio: ${(median(ours) / median(peer)).toFixed(2)}x the plain pipe's time (scratch database, translation, swap and report included)`);

    // --- 1M messages: backup, drill, restore -----------------------------------------------------------
    await onGuest(info, ['mariadb', 'messenger_chat', '-e', `"INSERT INTO messages (room, user, text, created_at) SELECT CONCAT('room-', seq % 50), CONCAT('user-', seq % 997), CONCAT('message ', seq, ' with some text and an emoji 😀 to look like a chat line'), NOW(3) FROM seq_1_to_${messages}"`]);
    const backup = await cli(['backup', 'now', ...target]);
    const drill = await cli(['backup', 'drill', ...target]);
    const restore = await cli(['backup', 'restore', ...target, '--yes']);
    const localDump = await onGuest(info, ['sh', '-c', `'mariadb-dump --single-transaction --quick messenger_chat | gzip > /root/peer.sql.gz'`]);
    await onGuest(info, ['mariadb', '-e', '"CREATE DATABASE peer_restore"']);
    const localRestore = await onGuest(info, ['sh', '-c', `'gunzip -c /root/peer.sql.gz | mariadb peer_restore'`]);
    console.log(`\n${messages.toLocaleString('en-US')} chat messages (messenger_chat):`);
    console.log(`  backup now (dump → restic, off-host, manifest)     ${s(backup)}   peer: mariadb-dump | gzip to the same disk  ${s(localDump)}  (${(backup / localDump).toFixed(2)}x)`);
    console.log(`  backup drill (restore to scratch, compare, drop)   ${s(drill)}   peer: none (nobody checks)`);
    console.log(`  backup restore --yes (pre-restore backup included) ${s(restore)}   peer: gunzip | mariadb                     ${s(localRestore)}  (${(restore / localRestore).toFixed(2)}x)`);
  } finally {
    await sandboxDown();
    await server.stop();
  }
}

await main();
