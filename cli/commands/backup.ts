/**
 * `backup now|list|restore|drill`: the off-host backups `up` sets up (stack.backup), run by hand. They
 * take the stack and target flags of `up`; the repository's password and credentials are on the host.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { backupDatabases } from '../../src/core/backup.js';
import { formatBytes, formatLoadReport } from '../../src/core/dump.js';
import { ConfigError } from '../../src/errors/index.js';
import { runBackupDrill, runBackupList, runBackupNow, runBackupRestore } from '../../src/executor/data.js';
import { checkDatabaseFlag } from './db.js';
import { formatSnapshots, parseSnapshotList } from '../../src/core/snapshots.js';
import { onHost } from '../host-command.js';
import { runAction } from '../run-action.js';
import { jsonLine } from '../step-output.js';
import { addTargetOptions, type TargetFlags } from '../target-options.js';

interface BackupFlags extends TargetFlags {
  json?: boolean;
}

const lockWait = (flags: TargetFlags) => (flags.lockWait === undefined ? {} : { lockWaitSeconds: flags.lockWait });

/** Asks on the terminal; without one, --yes is the only way to say yes. */
async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new ConfigError('--yes', 'is required to restore over the live database when no terminal can ask');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new ConfigError('--yes', 'not given and the answer was no; nothing was changed');
  } finally {
    rl.close();
  }
}

export function register(program: Command): void {
  const backup = program.command('backup').description('off-host backups with restic: now, list, restore, drill');

  addTargetOptions(backup.command('now').description('back the database up now (the nightly run, tagged manual)').option('--json', 'the snapshots as one JSON object')).action(
    runAction(async (flags: BackupFlags) => {
      const { host, snapshots } = await onHost(flags, ({ stack, target }) => runBackupNow({ stack, target, ...lockWait(flags) }), 'db');
      if (flags.json) process.stdout.write(jsonLine({ type: 'backup', host, snapshots }));
      else for (const s of snapshots) process.stdout.write(`${host}: snapshot ${s.id} of ${s.database}: ${s.tables} table(s), ${s.rows.toLocaleString('en-US')} row(s), ${formatBytes(s.bytes)}\n`);
      return 0;
    }),
  );

  addTargetOptions(backup.command('list').description('the snapshots in the repository: time, size, tables, rows').option('--json', 'the snapshots as one JSON object')).action(
    runAction(async (flags: BackupFlags) => {
      const { host, stdout } = await onHost(flags, ({ stack, target }) => runBackupList({ stack, target }), 'db');
      const snapshots = parseSnapshotList(stdout);
      process.stdout.write(flags.json ? jsonLine({ type: 'snapshots', host, snapshots }) : formatSnapshots(host, snapshots));
      return 0;
    }),
  );

  addTargetOptions(
    backup
      .command('restore')
      .argument('[snapshot]', 'a snapshot id from `backup list`; default: the latest good one')
      .description('restore a snapshot: into the live database (a backup of it first; asks unless --yes) or --to-database NAME')
      .option('--to-database <name>', 'restore into this database instead (created when missing; must be empty)')
      .option('--yes', 'do not ask before replacing the live database')
      .option('--json', 'the result as one JSON object'),
  ).action(
    runAction(async (snapshot: string | undefined, flags: BackupFlags & { toDatabase?: string; yes?: boolean }) => {
      if (snapshot !== undefined && !/^[0-9a-f]{8,64}$/.test(snapshot) && snapshot !== 'latest') {
        throw new ConfigError('snapshot', `"${snapshot}" is not a snapshot id like 4f2a9c1e; see \`messenger-infra backup list\``);
      }
      checkDatabaseFlag('--to-database', flags.toDatabase);
      // Over the live database with no terminal to ask: refused before anything starts.
      if (flags.toDatabase === undefined && !flags.yes && !process.stdin.isTTY) throw new ConfigError('--yes', 'is required to restore over the live database when no terminal can ask');
      const result = await onHost(flags, async ({ stack, target }) => {
        const live = backupDatabases(stack)[0]!;
        const into = flags.toDatabase ?? live;
        if (into === live) await confirm(`restore ${snapshot ?? 'the latest snapshot'} over the live database ${live} on ${target.host}? (a backup of it is taken first)`, flags.yes);
        const r = await runBackupRestore({ stack, target, snapshot: snapshot ?? 'latest', into, onInfo: (m) => process.stderr.write(`${m}\n`), ...lockWait(flags) });
        return { ...r, into };
      }, 'db');
      if (flags.json) process.stdout.write(jsonLine({ type: 'restore', host: result.host, database: result.into, ...result.report, ...(result.keptAt ? { keptAt: result.keptAt } : {}) }));
      else process.stdout.write(`${formatLoadReport(result.report, result.into).join('\n')}\n${result.keptAt ? `the data it replaced is kept in ${result.keptAt}\n` : ''}`);
      return 0;
    }),
  );

  addTargetOptions(backup.command('drill').description('restore the latest snapshot into a scratch database, compare rows and checksums, drop it').option('--json', 'the result as one JSON object')).action(
    runAction(async (flags: BackupFlags) => {
      const { host, stdout } = await onHost(flags, ({ stack, target }) => runBackupDrill({ stack, target }), 'db');
      const lines = stdout.split('\n').filter((l) => l.startsWith('drill '));
      if (flags.json) process.stdout.write(jsonLine({ type: 'drill', host, results: lines }));
      else process.stdout.write(`${lines.map((l) => `${host}: ${l}`).join('\n')}\n`);
      return 0;
    }),
  );
}
