import type { BackupConfig, StackConfig } from '../config/schema.js';
import { factValue, queryFact, type FactValues } from './facts.js';
import { MANAGED_MARKER, type RenderedFile } from './render.js';
import { parseSftpRepository, redactRepository } from './repository.js';
import { renderTemplate } from './templates.js';

/**
 * Off-host backups, planned: where the host keeps the repository's settings, the timers that run the
 * nightly backup and the weekly drill (`mi-remote backup run|drill`, remote/backup.sh), and what the
 * state files those runs leave say. Pure: no machine is touched here.
 */
export const BACKUP_PATHS = {
  /** RESTIC_REPOSITORY, RESTIC_PASSWORD, the repository's credentials: KEY=VALUE data, 0600 root. */
  env: '/etc/messenger-chat/backup/env',
  /** sftp: the key the host logs in to the backup server with (0600) and that server's host key. */
  sshKey: '/etc/messenger-chat/backup/ssh-key',
  knownHosts: '/etc/messenger-chat/backup/known_hosts',
  /** last-backup, last-good-backup, last-drill, restic's cache. */
  state: '/var/lib/messenger-infra/backup',
  service: '/etc/systemd/system/messenger-backup.service',
  timer: '/etc/systemd/system/messenger-backup.timer',
  drillService: '/etc/systemd/system/messenger-backup-drill.service',
  drillTimer: '/etc/systemd/system/messenger-backup-drill.timer',
} as const;

export const BACKUP_TIMERS = ['messenger-backup.timer', 'messenger-backup-drill.timer'] as const;
export const BACKUP_PACKAGES = ['restic'] as const;

/** The secrets a backup needs, resolved on the operator's machine (src/config/backup-secrets.ts). */
export interface BackupSecrets {
  password: string;
  /** Credentials for restic's environment (backup.env), by name. */
  env: Record<string, string>;
  sshKey?: string;
  knownHosts?: string;
}

/** The databases a backup dumps: the app's own. */
export function backupDatabases(stack: StackConfig): string[] {
  return [stack.app.database.name];
}

/**
 * restic's `sftp.command` for a repository reached with the stack's key: batch mode (a prompt would
 * hang a timer), the server's host key pinned from the stack, never "accept any".
 */
export function sftpCommand(repository: string): string | undefined {
  const sftp = parseSftpRepository(repository);
  if (!sftp) return undefined;
  return [
    'ssh',
    '-i', BACKUP_PATHS.sshKey,
    '-o', `UserKnownHostsFile=${BACKUP_PATHS.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ServerAliveInterval=15',
    ...(sftp.port ? ['-p', String(sftp.port)] : []),
    sftp.login,
    '-s', 'sftp',
  ].join(' ');
}

/** The env file's lines, in a stable order; MI_INPUTS (added by the step) says what they were made from. */
export function backupEnvLines(backup: BackupConfig, secrets: BackupSecrets): string[] {
  const sftp = backup.sshKey ? sftpCommand(backup.repository) : undefined;
  return [
    `RESTIC_REPOSITORY=${backup.repository}`,
    `RESTIC_PASSWORD=${secrets.password}`,
    ...Object.keys(secrets.env)
      .sort()
      .map((k) => `${k}=${secrets.env[k]}`),
    ...(sftp ? [`MI_SFTP_COMMAND=${sftp}`] : []),
  ];
}

/** systemd's OnCalendar for "HH:MM" daily and "Day HH:MM" weekly. */
export function onCalendar(schedule: string): string {
  const [day, time] = schedule.includes(' ') ? schedule.split(' ') : [undefined, schedule];
  return `${day ? `${day} ` : ''}*-*-* ${time}:00`;
}

export interface BackupUnitView {
  managed: string;
  description: string;
  execStart: string;
  onCalendar: string;
  randomizedDelaySec: number;
  unit: string;
}

const ROOT = { owner: 'root', group: 'root' } as const;

/** The argv of the nightly run, as the unit's ExecStart holds it (names and numbers only: no quoting). */
export function backupRunArgs(stack: StackConfig): string[] {
  const b = stack.backup!;
  return [
    'backup', 'run', '--env', BACKUP_PATHS.env,
    ...backupDatabases(stack).flatMap((db) => ['--database', db]),
    '--keep-daily', String(b.keep.daily), '--keep-weekly', String(b.keep.weekly), '--keep-monthly', String(b.keep.monthly),
    '--tag', 'nightly',
  ];
}

export function backupDrillArgs(stack: StackConfig): string[] {
  return ['backup', 'drill', '--env', BACKUP_PATHS.env, ...backupDatabases(stack).flatMap((db) => ['--database', db])];
}

/**
 * The nightly backup and the weekly drill: oneshot services started by their timers (Persistent, so
 * a host that was off at 03:30 catches up at boot), running the remote programs this toolkit version
 * installed (programsDir), niced so the chat keeps its CPU and disk.
 */
export function backupFiles(stack: StackConfig, programsDir: string): RenderedFile[] {
  const b = stack.backup;
  if (!b) return [];
  const managed = MANAGED_MARKER;
  const program = `${programsDir}/mi-remote`;
  const unit = (path: string, view: BackupUnitView, template: string): RenderedFile => ({
    path,
    content: renderTemplate(template, view),
    mode: 0o644,
    ...ROOT,
    ...(template.endsWith('.service.hbs') ? { validate: `systemd:${path.slice(path.lastIndexOf('/') + 1)}` as const } : {}),
    notify: [{ unit: path.slice(path.lastIndexOf('/') + 1), action: 'daemon-reload' }],
  });
  const backup: BackupUnitView = {
    managed,
    // systemd expands % in Description=: a percent-encoded repository must stay text.
    description: `messenger-infra backup of ${backupDatabases(stack).join(', ')} to ${redactRepository(b.repository).replace(/%/g, '%%')}`,
    execStart: [program, ...backupRunArgs(stack)].join(' '),
    onCalendar: onCalendar(b.schedule),
    randomizedDelaySec: b.randomizedDelayMinutes * 60,
    unit: 'messenger-backup.service',
  };
  const drill: BackupUnitView = {
    managed,
    description: `messenger-infra restore drill of the latest backup of ${backupDatabases(stack).join(', ')}`,
    execStart: [program, ...backupDrillArgs(stack)].join(' '),
    onCalendar: onCalendar(b.drill),
    randomizedDelaySec: 15 * 60,
    unit: 'messenger-backup-drill.service',
  };
  return [
    unit(BACKUP_PATHS.service, backup, 'systemd/messenger-backup.service.hbs'),
    unit(BACKUP_PATHS.timer, backup, 'systemd/messenger-backup.timer.hbs'),
    unit(BACKUP_PATHS.drillService, drill, 'systemd/messenger-backup.service.hbs'),
    unit(BACKUP_PATHS.drillTimer, drill, 'systemd/messenger-backup.timer.hbs'),
  ];
}

// ---------------------------------------------------------------------------------------------
// What the runs left on the host (remote/backup.sh writes the state files).

export interface BackupRun {
  /** Unix seconds. */
  time: number;
  status: 'ok' | 'failed';
  snapshot?: string;
  error?: string;
}

export interface BackupState {
  lastBackup?: BackupRun;
  /** Unix seconds of the last backup that succeeded. */
  lastGood?: number;
  lastDrill?: BackupRun;
}

/** `time=1764561000 status=ok snapshot=ab12cd34 error=...`: key=value words, error last (it has spaces). */
export function parseRunLine(text: string): BackupRun | undefined {
  const line = text.trim().split('\n')[0]?.trim() ?? '';
  if (!line || line === 'none') return undefined;
  const error = /(?:^| )error=(.*)$/.exec(line);
  const head = error ? line.slice(0, error.index) : line;
  const fields = Object.fromEntries(head.split(/\s+/).flatMap((w) => (w.includes('=') ? [[w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]] : [])));
  const time = Number(fields.time);
  if (!Number.isFinite(time) || time <= 0) return undefined;
  return {
    time,
    status: fields.status === 'ok' ? 'ok' : 'failed',
    ...(fields.snapshot && fields.snapshot !== '-' ? { snapshot: fields.snapshot } : {}),
    ...(error?.[1]?.trim() ? { error: error[1].trim() } : {}),
  };
}

export function parseBackupState(files: { lastBackup: string; lastGood: string; lastDrill: string }): BackupState {
  const lastBackup = parseRunLine(files.lastBackup);
  const good = parseRunLine(files.lastGood)?.time ?? (lastBackup?.status === 'ok' ? lastBackup.time : undefined);
  const lastDrill = parseRunLine(files.lastDrill);
  return { ...(lastBackup ? { lastBackup } : {}), ...(good ? { lastGood: good } : {}), ...(lastDrill ? { lastDrill } : {}) };
}

/** The state files the runs leave, as facts: `plan` shows them and `verify` warns from them. */
export const backupStateFacts = {
  lastBackup: queryFact('backup-last', ['read', `${BACKUP_PATHS.state}/last-backup`]),
  lastGood: queryFact('backup-last-good', ['read', `${BACKUP_PATHS.state}/last-good-backup`]),
  lastDrill: queryFact('backup-last-drill', ['read', `${BACKUP_PATHS.state}/last-drill`]),
};

export function backupStateOf(facts: FactValues): BackupState {
  const text = (f: (typeof backupStateFacts)[keyof typeof backupStateFacts]) => (facts.has(f.id) ? factValue(facts, f).stdout : '');
  return parseBackupState({ lastBackup: text(backupStateFacts.lastBackup), lastGood: text(backupStateFacts.lastGood), lastDrill: text(backupStateFacts.lastDrill) });
}

/** `verify` warns past this age of the last good backup: a nightly one plus its delay and a margin. */
export const BACKUP_MAX_AGE_S = 26 * 3600;
/** A drill runs weekly; one older than this means the timer is not doing its job. */
export const DRILL_MAX_AGE_S = 8 * 24 * 3600;

export function formatAge(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** One line per run for `plan` and `status`: age and result. */
export function describeBackupState(state: BackupState, nowS: number): string[] {
  const run = (what: string, r: BackupRun | undefined) =>
    r ? `${what}: ${r.status === 'ok' ? 'ok' : 'FAILED'} ${formatAge(nowS - r.time)} ago${r.snapshot ? ` (snapshot ${r.snapshot})` : ''}${r.error ? `: ${r.error}` : ''}` : `${what}: none yet`;
  return [
    run('last backup', state.lastBackup),
    ...(state.lastBackup?.status !== 'ok' && state.lastGood ? [`last good backup: ${formatAge(nowS - state.lastGood)} ago`] : []),
    run('last drill', state.lastDrill),
  ];
}

/** What `verify` warns about when backups are on: no good backup in 26 h, a failed or missing drill. */
export function backupWarnings(state: BackupState, nowS: number): string[] {
  const out: string[] = [];
  if (state.lastGood === undefined) out.push('no backup has succeeded yet; run `messenger-infra backup now`');
  else if (nowS - state.lastGood > BACKUP_MAX_AGE_S) out.push(`the last good backup is ${formatAge(nowS - state.lastGood)} old (more than 26 h); see \`messenger-infra logs --source backup\``);
  if (state.lastBackup?.status === 'failed') out.push(`the last backup failed: ${state.lastBackup.error ?? 'see the logs'}`);
  if (state.lastDrill?.status === 'failed') out.push(`the last restore drill failed: ${state.lastDrill.error ?? 'see the logs'}`);
  else if (state.lastGood !== undefined && state.lastDrill !== undefined && nowS - state.lastDrill.time > DRILL_MAX_AGE_S) out.push(`the last restore drill is ${formatAge(nowS - state.lastDrill.time)} old`);
  return out;
}
