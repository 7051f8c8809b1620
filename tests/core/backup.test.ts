import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import type { StackConfig } from '../../src/config/schema.js';
import { BACKUP_MAX_AGE_S, backupDrillArgs, backupEnvLines, backupFiles, backupRunArgs, backupStateFacts, backupStateOf, backupWarnings, describeBackupState, DRILL_MAX_AGE_S, formatAge, onCalendar, parseBackupState, parseRunLine, sftpCommand, type BackupState } from '../../src/core/backup.js';
import { parseSftpRepository, redactRepository } from '../../src/core/repository.js';
import { formatSnapshots, parseSnapshotList } from '../../src/core/snapshots.js';
import { MiError } from '../../src/errors/index.js';
import { backupCheck, withCheck } from '../../src/verify/backup.js';
import type { CheckResult, VerifyReport } from '../../src/verify/types.js';

/**
 * Backups, planned and read back (src/core/backup.ts): the sftp login restic's sftp.command gets, the
 * host's env file lines, the four systemd units (checked by the real systemd-analyze where it is
 * installed), the state lines remote/backup.sh leaves and what plan/verify make of them, the snapshot
 * list `restic snapshots --json` prints, and the verify check built from it all.
 */

// Paths on the host, spelled out so the expectations do not borrow them from the code under test.
const ENV = '/etc/messenger-chat/backup/env';
const SSH_KEY = '/etc/messenger-chat/backup/ssh-key';
const KNOWN_HOSTS = '/etc/messenger-chat/backup/known_hosts';
const STATE = '/var/lib/messenger-infra/backup';
const SERVICE = '/etc/systemd/system/messenger-backup.service';
const TIMER = '/etc/systemd/system/messenger-backup.timer';
const DRILL_SERVICE = '/etc/systemd/system/messenger-backup-drill.service';
const DRILL_TIMER = '/etc/systemd/system/messenger-backup-drill.timer';
const PROGRAMS = '/usr/local/lib/messenger-infra/remote-0123456789abcdef';
const MANAGED = '# managed by messenger-infra; local edits are overwritten';

const SFTP = 'sftp:backup@backup.example.com:/srv/restic/chat';
const SFTP_URL = 'sftp://backup@backup.example.com:2222//srv/restic/chat';
const SSH_PREFIX = `ssh -i ${SSH_KEY} -o UserKnownHostsFile=${KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=15`;

const fixtures = mkdtempSync(join(tmpdir(), 'mi-core-backup-'));
afterAll(() => rmSync(fixtures, { recursive: true, force: true }));
const KEY_FILE = join(fixtures, 'id_backup');
const HOSTS_FILE = join(fixtures, 'known_hosts');
writeFileSync(KEY_FILE, '-----BEGIN OPENSSH PRIVATE KEY-----\nfixture\n-----END OPENSSH PRIVATE KEY-----\n');
writeFileSync(HOSTS_FILE, 'backup.example.com ssh-ed25519 AAAAfixture\n');

function stack(backup: StackOverrides['backup'] | undefined, app: StackOverrides['app'] = {}): StackConfig {
  return loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test', app, ...(backup ? { backup } : {}) } });
}

describe('parseSftpRepository / sftpCommand', () => {
  it("reads both of restic's spellings", () => {
    expect(parseSftpRepository(SFTP)).toEqual({ login: 'backup@backup.example.com', path: '/srv/restic/chat' });
    expect(parseSftpRepository(SFTP_URL)).toEqual({ login: 'backup@backup.example.com', port: 2222, path: '/srv/restic/chat' });
    // Without a user (ssh's own default) and without a port.
    expect(parseSftpRepository('sftp:backup.example.com:/srv/restic')).toEqual({ login: 'backup.example.com', path: '/srv/restic' });
    expect(parseSftpRepository('sftp://backup.example.com//srv/restic')).toEqual({ login: 'backup.example.com', path: '/srv/restic' });
    // One slash after the host: a path relative to the login's home.
    expect(parseSftpRepository('sftp://backup@backup.example.com/restic')).toEqual({ login: 'backup@backup.example.com', path: 'restic' });
    expect(parseSftpRepository('sftp:backup@backup.example.com:restic')).toEqual({ login: 'backup@backup.example.com', path: 'restic' });
  });

  it('takes an IPv6 address in brackets in the URL spelling, and gives the login bare', () => {
    // ssh takes the address without brackets (restic strips them too: url.Hostname()).
    expect(parseSftpRepository('sftp://backup@[2001:db8::7]:2222//srv/restic')).toEqual({ login: 'backup@2001:db8::7', port: 2222, path: '/srv/restic' });
    expect(parseSftpRepository('sftp://[2001:db8::7]//srv/restic')).toEqual({ login: '2001:db8::7', path: '/srv/restic' });
  });

  it('is null for what is not an sftp repository', () => {
    for (const r of ['rest:https://host:8000/chat', 's3:https://s3.example.com/b', '/mnt/backup', 'sftp://backup.example.com:2222', 'sftp:']) {
      expect(parseSftpRepository(r)).toBeNull();
      expect(sftpCommand(r)).toBeUndefined();
    }
  });

  it("pins the stack's key and host key, never prompts, and passes the URL's port", () => {
    expect(sftpCommand(SFTP)).toBe(`${SSH_PREFIX} backup@backup.example.com -s sftp`);
    expect(sftpCommand(SFTP_URL)).toBe(`${SSH_PREFIX} -p 2222 backup@backup.example.com -s sftp`);
    // Never "accept any host key".
    expect(sftpCommand(SFTP)).not.toMatch(/StrictHostKeyChecking=(no|accept-new)/);
  });

  // ssh does not take an IPv6 address in brackets on its command line ("Could not resolve
  // hostname [2001:db8::7]", OpenSSH 9.2): the login is `backup@2001:db8::7`.
  it('gives ssh an IPv6 address without the brackets', () => {
    expect(sftpCommand('sftp://backup@[2001:db8::7]:2222//srv/restic')).toBe(`${SSH_PREFIX} -p 2222 backup@2001:db8::7 -s sftp`);
    expect(sftpCommand('sftp://backup@[2001:db8::7]:2222//srv/restic')).not.toContain('[');
  });
});

describe('backupEnvLines', () => {
  it('repository and password first, then the credentials by name, in a stable order', () => {
    const s = stack({ repository: 's3:https://s3.example.com/bucket/chat', password: { env: 'PW' } });
    expect(backupEnvLines(s.backup!, { password: 'pw-1', env: { AWS_SECRET_ACCESS_KEY: 'secret', AWS_ACCESS_KEY_ID: 'AKIA1' } })).toEqual([
      'RESTIC_REPOSITORY=s3:https://s3.example.com/bucket/chat',
      'RESTIC_PASSWORD=pw-1',
      'AWS_ACCESS_KEY_ID=AKIA1',
      'AWS_SECRET_ACCESS_KEY=secret',
    ]);
  });

  it("adds restic's sftp command only when the stack gives a key for an sftp: repository", () => {
    const withKey = stack({ repository: SFTP_URL, sshKey: { file: KEY_FILE }, knownHosts: HOSTS_FILE });
    expect(backupEnvLines(withKey.backup!, { password: 'pw', env: {}, sshKey: 'k', knownHosts: 'h' })).toEqual([
      `RESTIC_REPOSITORY=${SFTP_URL}`,
      'RESTIC_PASSWORD=pw',
      `MI_SFTP_COMMAND=${SSH_PREFIX} -p 2222 backup@backup.example.com -s sftp`,
    ]);
    // The host's own ssh setup: no command.
    const withoutKey = stack({ repository: SFTP });
    expect(backupEnvLines(withoutKey.backup!, { password: 'pw', env: {} })).toEqual([`RESTIC_REPOSITORY=${SFTP}`, 'RESTIC_PASSWORD=pw']);
  });
});

describe('onCalendar', () => {
  it('daily "HH:MM" and weekly "Day HH:MM" as systemd calendar events', () => {
    expect(onCalendar('03:30')).toBe('*-*-* 03:30:00');
    expect(onCalendar('00:00')).toBe('*-*-* 00:00:00');
    expect(onCalendar('Sun 04:30')).toBe('Sun *-*-* 04:30:00');
    expect(onCalendar('Mon 23:59')).toBe('Mon *-*-* 23:59:00');
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('systemd takes every form the schema allows, unchanged', () => {
    const events = ['03:30', '23:59', ...['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].map((d) => `${d} 04:30`)].map(onCalendar);
    const res = spawnSync('/usr/bin/systemd-analyze', ['calendar', ...events], { encoding: 'utf8', timeout: 30_000 });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect([...res.stdout.matchAll(/Normalized form: (.*)/g)].map((m) => m[1])).toEqual(events);
  });
});

describe('backupRunArgs / backupDrillArgs', () => {
  it("back up and drill the app's database with the stack's retention", () => {
    const s = stack({ repository: SFTP, keep: { daily: 10, weekly: 0, monthly: 12 } }, { database: { name: 'shop_db' } });
    expect(backupRunArgs(s)).toEqual(['backup', 'run', '--env', ENV, '--database', 'shop_db', '--keep-daily', '10', '--keep-weekly', '0', '--keep-monthly', '12', '--tag', 'nightly']);
    expect(backupDrillArgs(s)).toEqual(['backup', 'drill', '--env', ENV, '--database', 'shop_db']);
  });
});

describe('backupFiles', () => {
  const s = stack({ repository: 'rest:https://chat:s3cr3t-pass@backup.example.com:8000/chat', schedule: '02:15', randomizedDelayMinutes: 45, drill: 'Wed 05:10' });
  const files = backupFiles(s, PROGRAMS);
  const at = (path: string) => files.find((f) => f.path === path)!;

  it('none without a backup section', () => {
    expect(backupFiles(stack(undefined), PROGRAMS)).toEqual([]);
  });

  it('four root-owned 0644 units; the services are validated, every file reloads systemd', () => {
    expect(files.map((f) => [f.path, f.mode, f.owner, f.group, f.validate, f.notify])).toEqual([
      [SERVICE, 0o644, 'root', 'root', 'systemd:messenger-backup.service', [{ unit: 'messenger-backup.service', action: 'daemon-reload' }]],
      [TIMER, 0o644, 'root', 'root', undefined, [{ unit: 'messenger-backup.timer', action: 'daemon-reload' }]],
      [DRILL_SERVICE, 0o644, 'root', 'root', 'systemd:messenger-backup-drill.service', [{ unit: 'messenger-backup-drill.service', action: 'daemon-reload' }]],
      [DRILL_TIMER, 0o644, 'root', 'root', undefined, [{ unit: 'messenger-backup-drill.timer', action: 'daemon-reload' }]],
    ]);
    for (const f of files) expect(f.content.split('\n')[0]).toBe(MANAGED);
  });

  const lines = (path: string) => at(path).content.split('\n');

  it('the nightly service: a oneshot of the installed remote program, niced, to the redacted repository', () => {
    const unit = lines(SERVICE);
    expect(unit).toContain(`ExecStart=${PROGRAMS}/mi-remote backup run --env ${ENV} --database messenger_chat --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --tag nightly`);
    expect(unit).toContain('Type=oneshot');
    expect(unit).toContain('Nice=10');
    expect(unit).toContain('IOSchedulingClass=idle');
    expect(unit).toContain('After=network-online.target mariadb.service');
    expect(unit).toContain('Description=messenger-infra backup of messenger_chat to rest:https://chat:***@backup.example.com:8000/chat');
    // No [Install]: only its timer starts it.
    expect(unit).not.toContain('[Install]');
  });

  it('the nightly timer: the schedule, its spread in seconds, caught up after downtime', () => {
    const unit = lines(TIMER);
    expect(unit).toContain('[Timer]');
    expect(unit).toContain('OnCalendar=*-*-* 02:15:00');
    expect(unit).toContain('RandomizedDelaySec=2700');
    expect(unit).toContain('Persistent=true');
    expect(unit).toContain('Unit=messenger-backup.service');
    expect(unit).toContain('WantedBy=timers.target');
  });

  it('the weekly drill: its own service and timer', () => {
    expect(lines(DRILL_SERVICE)).toContain(`ExecStart=${PROGRAMS}/mi-remote backup drill --env ${ENV} --database messenger_chat`);
    expect(lines(DRILL_SERVICE)).toContain('Type=oneshot');
    const timer = lines(DRILL_TIMER);
    expect(timer).toContain('OnCalendar=Wed *-*-* 05:10:00');
    expect(timer).toContain('RandomizedDelaySec=900');
    expect(timer).toContain('Persistent=true');
    expect(timer).toContain('Unit=messenger-backup-drill.service');
    expect(timer).toContain('WantedBy=timers.target');
  });

  it('a delay of 0 is no spread; the programs folder is what the host detected', () => {
    const files0 = backupFiles(stack({ repository: SFTP, randomizedDelayMinutes: 0 }), '/opt/other');
    expect(files0.find((f) => f.path === TIMER)!.content).toContain('\nRandomizedDelaySec=0\n');
    expect(files0.find((f) => f.path === SERVICE)!.content).toContain('\nExecStart=/opt/other/mi-remote backup run ');
  });

  it('never holds a secret', () => {
    for (const f of files) expect(f.content).not.toContain('s3cr3t-pass');
  });

  it('a % in the repository is %% in Description= (systemd expands specifiers there), nowhere else', () => {
    const pct = backupFiles(stack({ repository: 's3:https://s3.example.com/bucket/chat%2Fprod%i' }), PROGRAMS);
    const service = pct.find((f) => f.path === SERVICE)!.content.split('\n');
    expect(service).toContain('Description=messenger-infra backup of messenger_chat to s3:https://s3.example.com/bucket/chat%%2Fprod%%i');
    expect(pct.find((f) => f.path === TIMER)!.content.split('\n')).toContain('Description=messenger-infra backup of messenger_chat to s3:https://s3.example.com/bucket/chat%%2Fprod%%i (schedule)');
    // The drill names no repository; the run reads it from the env file.
    expect(pct.find((f) => f.path === DRILL_SERVICE)!.content).not.toContain('%');
    expect(service.find((l) => l.startsWith('ExecStart='))).not.toContain('%');
  });
});

/**
 * The real `systemd-analyze verify`, with `--root=TEMP` so nothing on this machine is touched: TEMP
 * holds a copy of /usr/lib/systemd/system (timers.target, network-online.target, ...), the rendered
 * units at their host paths and a stand-in executable at the ExecStart path. verify reports most
 * mistakes as warnings with exit 0, so the output must be empty too (as `mi-remote activate` requires).
 */
const ANALYZE = '/usr/bin/systemd-analyze';
describe.skipIf(!existsSync(ANALYZE) || !existsSync('/usr/lib/systemd/system/timers.target'))('systemd-analyze verify accepts the backup units', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'mi-core-backup-systemd-'));
    cpSync('/usr/lib/systemd/system', `${root}/usr/lib/systemd/system`, { recursive: true, verbatimSymlinks: true });
    mkdirSync(`${root}${PROGRAMS}`, { recursive: true });
    writeFileSync(`${root}${PROGRAMS}/mi-remote`, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function verify(files: Array<{ path: string; content: string }>): { status: number | null; output: string } {
    for (const f of files) {
      mkdirSync(dirname(`${root}${f.path}`), { recursive: true });
      writeFileSync(`${root}${f.path}`, f.content);
    }
    const units = files.map((f) => f.path.slice(f.path.lastIndexOf('/') + 1));
    const res = spawnSync(ANALYZE, ['verify', '--man=no', `--root=${root}`, ...units], { encoding: 'utf8', timeout: 60_000 });
    if (res.error) throw res.error;
    return { status: res.status, output: `${res.stdout}${res.stderr}`.trim() };
  }

  it.each([
    ['sftp, the defaults', { repository: SFTP }],
    ['rest with a password, its own times', { repository: 'rest:https://chat:s3cr3t@backup.example.com:8000/chat', schedule: '00:05', randomizedDelayMinutes: 180, drill: 'Sat 23:59' }],
    ['a local path, no spread', { repository: '/mnt/backup/restic', randomizedDelayMinutes: 0 }],
  ])('%s: exit 0 and not a single warning', (_, backup) => {
    const res = verify(backupFiles(stack(backup), PROGRAMS));
    expect(res.output).toBe('');
    expect(res.status).toBe(0);
  });

  it('catches a broken unit (the check is real)', () => {
    const files = backupFiles(stack({ repository: SFTP }), PROGRAMS);
    const timer = files.find((f) => f.path === TIMER)!;
    const broken = verify([{ path: TIMER, content: timer.content.replace('Persistent=true', 'Persistent=maybe\nPersistnt=true') }]);
    expect(broken.output).toContain('Failed to parse boolean value');
    expect(broken.output).toContain("Unknown key 'Persistnt'");
    const service = files.find((f) => f.path === SERVICE)!;
    const missing = verify([{ path: SERVICE, content: service.content.replace(`${PROGRAMS}/mi-remote`, `${PROGRAMS}/missing`) }]);
    expect(missing.status).not.toBe(0);
    expect(missing.output).toContain('is not executable');
  });

  // systemd expands `%` specifiers in Description=: unescaped, a percent-encoded repository (s3 key
  // prefix, a rest: user like ops%40example.com) makes "Failed to resolve unit specifiers ...
  // ignoring", which `mi-remote activate --validate` treats as invalid.
  it.each([
    ['an s3 key prefix', 's3:https://s3.example.com/bucket/chat%2Fprod'],
    ['a rest: user with an encoded @, and a password', 'rest:https://ops%40example.com:s3cr3t@backup.example.com:8000/chat'],
  ])('a repository holding %% (%s) renders a valid unit', (_, repository) => {
    const res = verify(backupFiles(stack({ repository }), PROGRAMS));
    expect(res.output).toBe('');
    expect(res.status).toBe(0);
  });
});

describe('redactRepository', () => {
  it('hides a password inside a URL, and only that', () => {
    expect(redactRepository('rest:https://chat:s3cr3t@backup.example.com:8000/chat')).toBe('rest:https://chat:***@backup.example.com:8000/chat');
    expect(redactRepository('rest:http://chat:pa:ss@127.0.0.1:8000/')).toBe('rest:http://chat:***@127.0.0.1:8000/');
    for (const r of ['rest:https://chat@backup.example.com:8000/chat', 'rest:https://backup.example.com:8000/chat', SFTP, SFTP_URL, 's3:https://s3.example.com/b', '/mnt/backup']) {
      expect(redactRepository(r)).toBe(r);
    }
  });

  it('reads the URL as a URL: an empty user, an http s3 endpoint, @ and : in the password', () => {
    expect(redactRepository('rest:https://:s3cr3t@backup.example.com:8000/chat')).toBe('rest:https://:***@backup.example.com:8000/chat');
    expect(redactRepository('s3:http://AKIAIOSFODNN7:wJalrXUtnFEMI@minio.example.com:9000/bucket')).toBe('s3:http://AKIAIOSFODNN7:***@minio.example.com:9000/bucket');
    // The host is after the last @, as restic (Go's url.Parse) reads it.
    expect(redactRepository('rest:https://chat:p@ss:w@rd@backup.example.com:8000/chat')).toBe('rest:https://chat:***@backup.example.com:8000/chat');
    // Percent-encoded parts stay as written.
    expect(redactRepository('rest:https://ops%40example.com:pa%2Fss@backup.example.com:8000/chat%2Fprod')).toBe('rest:https://ops%40example.com:***@backup.example.com:8000/chat%2Fprod');
    // Not an http(s) URL: the password is still replaced.
    expect(redactRepository('sftp://backup:s3cr3t@backup.example.com:2222//srv/restic')).toBe('sftp://backup:***@backup.example.com:2222//srv/restic');
  });

  // A URL parser ends the authority at `#`/`?` and finds no password: the regex still hides it.
  it.each(['#s3cr3t', '?s3cr3t', '2024#s3cr3t'])('hides a password starting %j, which a URL parser reads as no password', (password) => {
    expect(redactRepository(`rest:https://chat:${password}@backup.example.com:8000/chat`)).not.toContain('s3cr3t');
  });
});

describe('parseRunLine / parseBackupState', () => {
  const T = 1_764_561_000;

  it('reads the lines remote/backup.sh records', () => {
    expect(parseRunLine(`time=${T} status=ok snapshot=ab12cd34 error=\n`)).toEqual({ time: T, status: 'ok', snapshot: 'ab12cd34' });
    expect(parseRunLine(`time=${T} status=failed snapshot=- error=restic: repository is already locked by PID 812 on chat-1\n`)).toEqual({
      time: T,
      status: 'failed',
      error: 'restic: repository is already locked by PID 812 on chat-1',
    });
    // The error is last and keeps what it says, `=` and `error=` included.
    expect(parseRunLine(`time=${T} status=failed snapshot=- error=exit=3 error=twice `)).toEqual({ time: T, status: 'failed', error: 'exit=3 error=twice' });
    // Only the first line counts.
    expect(parseRunLine(`  time=${T} status=ok snapshot=ab12cd34 error=\ntime=1 status=failed snapshot=- error=old\n`)).toEqual({ time: T, status: 'ok', snapshot: 'ab12cd34' });
  });

  it('anything but ok is a failure', () => {
    expect(parseRunLine(`time=${T} status=running`)).toEqual({ time: T, status: 'failed' });
    expect(parseRunLine(`time=${T}`)).toEqual({ time: T, status: 'failed' });
  });

  it.each(['', '\n', 'none', 'none\n', 'garbage', 'status=ok snapshot=ab12cd34', 'time=soon status=ok', 'time=0 status=ok', 'time=-5 status=ok', 'time= status=ok'])(
    'no run in %j',
    (text) => {
      expect(parseRunLine(text)).toBeUndefined();
    },
  );

  it('the last good backup: its own file, else the last backup when that one succeeded', () => {
    const ok = `time=${T} status=ok snapshot=ab12cd34 error=`;
    const failed = `time=${T + 86_400} status=failed snapshot=- error=restic: unable to open repository`;
    const good = `time=${T - 3600} status=ok snapshot=00ff00ff error=`;
    expect(parseBackupState({ lastBackup: failed, lastGood: good, lastDrill: 'none' })).toEqual({
      lastBackup: { time: T + 86_400, status: 'failed', error: 'restic: unable to open repository' },
      lastGood: T - 3600,
    });
    expect(parseBackupState({ lastBackup: ok, lastGood: '', lastDrill: `time=${T} status=ok snapshot=ab12cd34 error=` })).toEqual({
      lastBackup: { time: T, status: 'ok', snapshot: 'ab12cd34' },
      lastGood: T,
      lastDrill: { time: T, status: 'ok', snapshot: 'ab12cd34' },
    });
    expect(parseBackupState({ lastBackup: failed, lastGood: '', lastDrill: '' })).toEqual({ lastBackup: { time: T + 86_400, status: 'failed', error: 'restic: unable to open repository' } });
    expect(parseBackupState({ lastBackup: '', lastGood: '', lastDrill: '' })).toEqual({});
    expect(parseBackupState({ lastBackup: 'garbage', lastGood: 'none', lastDrill: '???' })).toEqual({});
  });
});

describe('backupStateFacts / backupStateOf', () => {
  it('reads the three state files', () => {
    expect(Object.values(backupStateFacts).map((f) => [f.id, f.query])).toEqual([
      ['backup-last', ['read', `${STATE}/last-backup`]],
      ['backup-last-good', ['read', `${STATE}/last-good-backup`]],
      ['backup-last-drill', ['read', `${STATE}/last-drill`]],
    ]);
  });

  it('makes the state from the raw fact text; a fact not gathered (or a file missing) is no run', () => {
    const facts = new Map<string, unknown>([
      [backupStateFacts.lastBackup.id, backupStateFacts.lastBackup.parse('time=200 status=failed snapshot=- error=disk full\n', 0)],
      [backupStateFacts.lastGood.id, backupStateFacts.lastGood.parse('time=100 status=ok snapshot=aa error=\n', 0)],
      // `cat` of a missing file: nothing on stdout, exit 1.
      [backupStateFacts.lastDrill.id, backupStateFacts.lastDrill.parse('', 1)],
    ]);
    expect(backupStateOf(facts)).toEqual({ lastBackup: { time: 200, status: 'failed', error: 'disk full' }, lastGood: 100 });
    expect(backupStateOf(new Map())).toEqual({});
  });
});

describe('formatAge', () => {
  it.each([
    [0, '0 s'],
    [-30, '0 s'],
    [89, '89 s'],
    [90, '2 min'],
    [45 * 60, '45 min'],
    [90 * 60 - 1, '90 min'],
    [90 * 60, '2 h'],
    [26 * 3600 + 1, '26 h'],
    [48 * 3600 - 1, '48 h'],
    [48 * 3600, '2 days'],
    [8 * 86_400, '8 days'],
  ])('%d s: %s', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });
});

describe('describeBackupState / backupWarnings', () => {
  const NOW = 1_764_561_000;
  const HOUR = 3600;
  const DAY = 86_400;
  const ok = (ago: number, snapshot?: string) => ({ time: NOW - ago, status: 'ok' as const, ...(snapshot ? { snapshot } : {}) });
  const failed = (ago: number, error?: string) => ({ time: NOW - ago, status: 'failed' as const, ...(error ? { error } : {}) });

  it('says what ran when, and how it went', () => {
    expect(describeBackupState({ lastBackup: ok(2 * HOUR, 'ab12cd34'), lastGood: NOW - 2 * HOUR, lastDrill: ok(3 * DAY) }, NOW)).toEqual([
      'last backup: ok 2 h ago (snapshot ab12cd34)',
      'last drill: ok 3 days ago',
    ]);
    expect(describeBackupState({ lastBackup: failed(HOUR, 'restic: repository is already locked'), lastGood: NOW - 30 * HOUR, lastDrill: failed(2 * DAY) }, NOW)).toEqual([
      'last backup: FAILED 60 min ago: restic: repository is already locked',
      'last good backup: 30 h ago',
      'last drill: FAILED 2 days ago',
    ]);
    expect(describeBackupState({}, NOW)).toEqual(['last backup: none yet', 'last drill: none yet']);
  });

  it('nothing to warn about: a good backup within 26 h and a good drill within 8 days', () => {
    expect(backupWarnings({ lastBackup: ok(2 * HOUR), lastGood: NOW - 2 * HOUR, lastDrill: ok(6 * DAY) }, NOW)).toEqual([]);
    // The bounds themselves are still fine.
    expect(backupWarnings({ lastBackup: ok(BACKUP_MAX_AGE_S), lastGood: NOW - BACKUP_MAX_AGE_S, lastDrill: ok(DRILL_MAX_AGE_S) }, NOW)).toEqual([]);
    // No drill yet after the first backups: the weekly timer has not come round.
    expect(backupWarnings({ lastBackup: ok(HOUR), lastGood: NOW - HOUR }, NOW)).toEqual([]);
  });

  it('no backup has ever succeeded', () => {
    expect(backupWarnings({}, NOW)).toEqual(['no backup has succeeded yet; run `messenger-infra backup now`']);
    expect(backupWarnings({ lastBackup: failed(HOUR, 'restic: unable to open repository') }, NOW)).toEqual([
      'no backup has succeeded yet; run `messenger-infra backup now`',
      'the last backup failed: restic: unable to open repository',
    ]);
  });

  it('the last good backup is older than 26 h', () => {
    expect(BACKUP_MAX_AGE_S).toBe(26 * HOUR);
    expect(backupWarnings({ lastBackup: ok(BACKUP_MAX_AGE_S + 1), lastGood: NOW - BACKUP_MAX_AGE_S - 1 }, NOW)).toEqual([
      'the last good backup is 26 h old (more than 26 h); see `messenger-infra logs --source backup`',
    ]);
    expect(backupWarnings({ lastBackup: failed(HOUR), lastGood: NOW - 3 * DAY, lastDrill: ok(DAY) }, NOW)).toEqual([
      'the last good backup is 3 days old (more than 26 h); see `messenger-infra logs --source backup`',
      'the last backup failed: see the logs',
    ]);
  });

  it('the last backup failed, even with a recent good one', () => {
    expect(backupWarnings({ lastBackup: failed(HOUR, 'mariadb-dump: Got error: 2002'), lastGood: NOW - 5 * HOUR, lastDrill: ok(DAY) }, NOW)).toEqual([
      'the last backup failed: mariadb-dump: Got error: 2002',
    ]);
  });

  it('the last drill failed, or is older than 8 days', () => {
    expect(DRILL_MAX_AGE_S).toBe(8 * DAY);
    expect(backupWarnings({ lastBackup: ok(HOUR), lastGood: NOW - HOUR, lastDrill: failed(DAY, 'rows differ in messages: 10 != 9') }, NOW)).toEqual([
      'the last restore drill failed: rows differ in messages: 10 != 9',
    ]);
    expect(backupWarnings({ lastBackup: ok(HOUR), lastGood: NOW - HOUR, lastDrill: failed(DAY) }, NOW)).toEqual(['the last restore drill failed: see the logs']);
    expect(backupWarnings({ lastBackup: ok(HOUR), lastGood: NOW - HOUR, lastDrill: ok(DRILL_MAX_AGE_S + 1) }, NOW)).toEqual(['the last restore drill is 8 days old']);
    // A failed drill is said once, old or not.
    expect(backupWarnings({ lastBackup: ok(HOUR), lastGood: NOW - HOUR, lastDrill: failed(30 * DAY, 'x') }, NOW)).toEqual(['the last restore drill failed: x']);
  });
});

describe('backupCheck / withCheck', () => {
  const NOW = 1_764_561_000;
  const report: VerifyReport = {
    schema: 'messenger-infra/verify@1',
    url: 'wss://chat.messenger.test/ws',
    host: 'chat.messenger.test',
    port: 443,
    room: 'mi-verify',
    quick: false,
    startedAt: '2026-12-01T12:00:00.000Z',
    durationMs: 1234,
    reachable: true,
    summary: { pass: 3, fail: 0, skip: 1, warn: 0 },
    exitCode: 0,
    checks: [{ id: 'dns.resolve', title: 'dns', status: 'pass', durationMs: 2 }],
  };

  it('passes with the figures when there is nothing to warn about', () => {
    const state: BackupState = { lastBackup: { time: NOW - 3600, status: 'ok', snapshot: 'ab12cd34' }, lastGood: NOW - 3600, lastDrill: { time: NOW - 86_400, status: 'ok' } };
    expect(backupCheck(state, NOW)).toEqual({
      id: 'backup.age',
      title: 'backups: last good backup and drill',
      status: 'pass',
      figure: 'last backup: ok 60 min ago (snapshot ab12cd34); last drill: ok 24 h ago',
      data: { lastGoodS: NOW - 3600, lastDrillS: NOW - 86_400, lastDrillOk: true },
      durationMs: 0,
    });
  });

  it('warns (never fails) with every warning as the cause', () => {
    const state: BackupState = { lastBackup: { time: NOW - 3600, status: 'failed', error: 'disk full' }, lastDrill: { time: NOW - 86_400, status: 'failed' } };
    const check = backupCheck(state, NOW);
    expect(check.status).toBe('warn');
    expect(check.cause).toBe('no backup has succeeded yet; run `messenger-infra backup now`; the last backup failed: disk full; the last restore drill failed: see the logs');
    expect(check.figure).toBe('last backup: FAILED 60 min ago: disk full; last drill: FAILED 24 h ago');
    expect(check.data).toEqual({ lastGoodS: null, lastDrillS: NOW - 86_400, lastDrillOk: false });
    expect(backupCheck({}, NOW).data).toEqual({ lastGoodS: null, lastDrillS: null, lastDrillOk: null });
  });

  it('a state that could not be read is a warning saying why', () => {
    expect(backupCheck(new Error('connect ECONNREFUSED 127.0.0.1:22'), NOW)).toEqual({
      id: 'backup.age',
      title: 'backups: last good backup and drill',
      status: 'warn',
      cause: 'could not read the backup state over SSH: connect ECONNREFUSED 127.0.0.1:22',
      durationMs: 0,
    });
  });

  it('withCheck appends the check and counts it, leaving the exit code and the report it got', () => {
    const warn: CheckResult = backupCheck({}, NOW);
    const out = withCheck(report, warn);
    expect(out.checks).toEqual([...report.checks, warn]);
    expect(out.summary).toEqual({ pass: 3, fail: 0, skip: 1, warn: 1 });
    expect(out.exitCode).toBe(0);
    expect(report.summary).toEqual({ pass: 3, fail: 0, skip: 1, warn: 0 });
    expect(report.checks).toHaveLength(1);
    const pass = withCheck(out, { ...warn, status: 'pass' });
    expect(pass.summary).toEqual({ pass: 4, fail: 0, skip: 1, warn: 1 });
    expect(pass.checks).toHaveLength(3);
  });
});

/**
 * `restic snapshots --json` as restic 0.14 prints it (one line, oldest first; `original` once a
 * snapshot was re-tagged, uid/gid only when not 0). The good ones carry mi-ok and the dump's figures.
 */
const SNAPSHOTS_JSON = JSON.stringify([
  {
    time: '2026-11-29T03:41:07.491878629Z',
    tree: '97fb1af663f6b2e6ae52afa4de76c4b88dc7240cecba4c7a8e4a161447525903',
    paths: ['/messenger_chat.sql'],
    hostname: 'chat-1',
    username: 'root',
    tags: ['nightly', 'mi-ok', 'db=messenger_chat', 'tables=12', 'rows=48210', 'bytes=5242880'],
    original: 'd3c6194036108cd3a98409be787921f23352ea06999be9e840f0ab87c5516532',
    id: '68987a7b30c1b6020c4573cffbec1eb646d1b0f33e671963d1df0c5bdb31935a',
    short_id: '68987a7b',
  },
  {
    time: '2026-11-30T03:52:44.000000001Z',
    tree: 'af46c2e3c7de02dda9f568555abdf152171cf2cd3b4047643ece74d09db707d1',
    paths: ['/messenger_chat.sql'],
    hostname: 'chat-1',
    username: 'backup',
    uid: 998,
    gid: 998,
    tags: ['nightly'],
    id: '5f0bf9c8793aa653805be2f2e0c074a3123f19a846c4200adc3f33171ba75925',
    short_id: '5f0bf9c8',
  },
  {
    time: '2026-12-01T11:02:13.371191856Z',
    tree: '34514ed04647b629c25d8d525fa1175d5e20d9afe6090412acaeb80e24055af4',
    paths: ['/messenger_chat.sql'],
    hostname: 'chat-1',
    username: 'root',
    tags: ['pre-restore', 'mi-ok', 'db=messenger_chat', 'tables=12', 'rows=1234567', 'bytes=734003200'],
    original: '11c6194036108cd3a98409be787921f23352ea06999be9e840f0ab87c5516500',
    id: '0489648dc5d2704f110a0d9993498ca6f65026e962ee58791b1a20e79c4e8257',
    short_id: '0489648d',
  },
]);

describe('parseSnapshotList / formatSnapshots', () => {
  it("reads restic's JSON into rows: figures from the tags, INCOMPLETE without mi-ok", () => {
    expect(parseSnapshotList(`${SNAPSHOTS_JSON}\n`)).toEqual([
      {
        id: '68987a7b30c1b6020c4573cffbec1eb646d1b0f33e671963d1df0c5bdb31935a',
        short: '68987a7b',
        time: '2026-11-29T03:41:07.491878629Z',
        database: 'messenger_chat',
        ok: true,
        tables: 12,
        rows: 48210,
        bytes: 5242880,
        reason: 'nightly',
      },
      {
        id: '5f0bf9c8793aa653805be2f2e0c074a3123f19a846c4200adc3f33171ba75925',
        short: '5f0bf9c8',
        time: '2026-11-30T03:52:44.000000001Z',
        // No db= tag (the dump never finished): the database from the stdin file name.
        database: 'messenger_chat',
        ok: false,
        reason: 'nightly',
      },
      {
        id: '0489648dc5d2704f110a0d9993498ca6f65026e962ee58791b1a20e79c4e8257',
        short: '0489648d',
        time: '2026-12-01T11:02:13.371191856Z',
        database: 'messenger_chat',
        ok: true,
        tables: 12,
        rows: 1234567,
        bytes: 734003200,
        reason: 'pre-restore',
      },
    ]);
  });

  it('a short id from the id when restic gives none, and no reason when no tag says one', () => {
    expect(parseSnapshotList(JSON.stringify([{ id: 'abcdef0123456789', time: '2026-12-01T00:00:00Z', paths: ['/shop_db.sql'], tags: ['mi-ok', 'db=shop_db', 'pre-import'] }, { id: 'ffff0000ffff0000' }]))).toEqual([
      { id: 'abcdef0123456789', short: 'abcdef01', time: '2026-12-01T00:00:00Z', database: 'shop_db', ok: true, reason: 'pre-import' },
      { id: 'ffff0000ffff0000', short: 'ffff0000', time: '', database: '', ok: false },
    ]);
  });

  it('no snapshots: empty output, [] and null', () => {
    expect(parseSnapshotList('')).toEqual([]);
    expect(parseSnapshotList('\n')).toEqual([]);
    expect(parseSnapshotList('[]\n')).toEqual([]);
    expect(parseSnapshotList('null\n')).toEqual([]);
  });

  it('a table, newest first, with the incomplete one marked', () => {
    const text = formatSnapshots('chat-1', parseSnapshotList(SNAPSHOTS_JSON));
    const [title, blank, head, ...rows] = text.split('\n');
    expect(title).toBe('chat-1: 3 snapshot(s), newest first');
    expect(blank).toBe('');
    const cells = (line: string) => line.trim().split(/\s{2,}/);
    expect(cells(head!)).toEqual(['id', 'time (UTC)', 'database', 'size', 'tables', 'rows', 'state']);
    expect(rows.slice(0, 3).map(cells)).toEqual([
      ['0489648d', '2026-12-01 11:02:13', 'messenger_chat', '734.0 MB', '12', '1,234,567', 'ok (pre-restore)'],
      ['5f0bf9c8', '2026-11-30 03:52:44', 'messenger_chat', '-', '-', '-', 'INCOMPLETE (nightly)'],
      ['68987a7b', '2026-11-29 03:41:07', 'messenger_chat', '5.2 MB', '12', '48,210', 'ok (nightly)'],
    ]);
    expect(rows.slice(3)).toEqual(['']);
    // Columns line up: every row as wide as the header up to the state column.
    const stateAt = head!.indexOf('state');
    for (const r of rows.slice(0, 3)) expect(r.slice(stateAt)).toMatch(/^(ok|INCOMPLETE)/);
  });

  it('says so when there are none', () => {
    expect(formatSnapshots('chat-1', [])).toBe('chat-1: no snapshots yet; run `messenger-infra backup now`\n');
  });

  // restic records a snapshot's time with the host's own UTC offset (a host in Europe/Berlin prints
  // "2026-12-01T12:02:13.37+01:00", checked with restic 0.14): converted, not stripped.
  it('shows the time in UTC when the host recorded another offset', () => {
    const rows = parseSnapshotList(
      JSON.stringify([
        { id: '0489648d'.repeat(8), short_id: '0489648d', time: '2026-12-01T12:02:13.371191856+01:00', paths: ['/messenger_chat.sql'], tags: ['mi-ok'] },
        // West of UTC, across midnight.
        { id: '5f0bf9c8'.repeat(8), short_id: '5f0bf9c8', time: '2026-11-30T21:30:00-05:00', paths: ['/messenger_chat.sql'], tags: ['mi-ok'] },
      ]),
    );
    const text = formatSnapshots('chat-1', rows);
    expect(text).toContain('  0489648d  2026-12-01 11:02:13 ');
    expect(text).toContain('  5f0bf9c8  2026-12-01 02:30:00 ');
    // The raw row keeps restic's own text.
    expect(rows[0]!.time).toBe('2026-12-01T12:02:13.371191856+01:00');
  });

  it('a time that does not parse is shown as restic gave it', () => {
    const rows = parseSnapshotList(JSON.stringify([{ id: 'abcdef0123456789', time: 'yesterday', tags: ['mi-ok'] }]));
    expect(formatSnapshots('chat-1', rows)).toContain('  abcdef01  yesterday ');
  });

  it.each([
    ['garbage', 'Fatal: unable to open config file: Stat: ssh: handshake failed', "restic's snapshot list is not JSON: Fatal: unable to open config file: Stat: ssh: handshake failed"],
    ['cut-off JSON', '[{"id":"abc', `restic's snapshot list is not JSON: [{"id":"abc`],
    ['a JSON object', '{"message":"repository is locked"}', "restic's snapshot list is not a JSON array"],
    ['a JSON string', '"snapshots"', "restic's snapshot list is not a JSON array"],
    ['a JSON number', '42', "restic's snapshot list is not a JSON array"],
  ])('%s is a repository error (MI_ERR_BACKUP_REPOSITORY), not an empty list', (_, stdout, message) => {
    let err: unknown;
    try {
      parseSnapshotList(stdout);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MiError);
    expect((err as MiError).code).toBe('MI_ERR_BACKUP_REPOSITORY');
    expect((err as MiError).message).toBe(message);
  });

  it('quotes at most 80 characters of what was not JSON', () => {
    expect(() => parseSnapshotList(`x${'y'.repeat(200)}`)).toThrowError(new MiError('MI_ERR_BACKUP_REPOSITORY', `restic's snapshot list is not JSON: x${'y'.repeat(79)}`));
  });
});
