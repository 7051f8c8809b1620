import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backupFiles } from '../../src/core/backup.js';
import type { DesiredState } from '../../src/core/desired-state.js';
import type { RenderedFile } from '../../src/core/render.js';
import type { StepPlan } from '../../src/core/step.js';
import { backupStep } from '../../src/core/steps/backup.js';
import { MiError } from '../../src/errors/index.js';
import { fileText, MISSING_FILE, PROGRAMS_DIR, runFixture, secretsText, state, type DesiredOpts, type Expected, type RawFacts } from './step-fixtures.js';

/**
 * The backup step as data: the raw facts a host prints (the env file's mode and per-key hashes, the
 * two timers, the four unit files) and the exact plan the step makes from them. The secrets go to
 * the host on stdin only, never in a command line, a label, a change line or a diff.
 */

// Paths on the host, spelled out so the expectations do not borrow them from the code under test.
const ENV = '/etc/messenger-chat/backup/env';
/** The new settings are written beside the live ones, and put live only once the repository opens with them. */
const NEXT = '/etc/messenger-chat/backup/env.next';
const SSH_KEY = '/etc/messenger-chat/backup/ssh-key';
const KNOWN_HOSTS = '/etc/messenger-chat/backup/known_hosts';
const SERVICE = '/etc/systemd/system/messenger-backup.service';
const TIMER = '/etc/systemd/system/messenger-backup.timer';
const DRILL_SERVICE = '/etc/systemd/system/messenger-backup-drill.service';
const DRILL_TIMER = '/etc/systemd/system/messenger-backup-drill.timer';
const UNITS = [SERVICE, TIMER, DRILL_SERVICE, DRILL_TIMER];
const BACKUP_TIMER = 'unit:messenger-backup.timer';
const DRILL_TIMER_UNIT = 'unit:messenger-backup-drill.timer';

const SFTP = 'sftp:backup@backup.example.com:/srv/restic/chat';
const SFTP_URL = 'sftp://backup@backup.example.com:2222//srv/restic/chat';
const PASSWORD = 'Zq3v9LxWm2RkTa7pHc4yNd8sFb6gJe1u_uKo5iQw0Xr-PzYl';
const NEW_PASSWORD = 'another-password-0123456789abcdefghijklmnopqrstu';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----';
const HOSTS = 'backup.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyFixtureHostKeyFixture\n';
const GENERATED = '/home/ops/.config/messenger-infra/backup/chat.messenger.test.restic-password';

const fixtures = mkdtempSync(join(tmpdir(), 'mi-core-backup-step-'));
afterAll(() => rmSync(fixtures, { recursive: true, force: true }));
const KEY_FILE = join(fixtures, 'id_backup');
const HOSTS_FILE = join(fixtures, 'known_hosts');
writeFileSync(KEY_FILE, `${KEY}\n`);
writeFileSync(HOSTS_FILE, HOSTS);

/** sftp, the password named in the stack (resolved by the CLI), no credentials. */
const BASIC: DesiredOpts = { backup: { repository: SFTP, password: { env: 'RESTIC_PW' } }, backupSecrets: { password: PASSWORD, env: {} } };
const WITH_KEY: DesiredOpts = {
  backup: { repository: SFTP_URL, password: { env: 'RESTIC_PW' }, sshKey: { file: KEY_FILE }, knownHosts: HOSTS_FILE },
  backupSecrets: { password: PASSWORD, env: {}, sshKey: KEY, knownHosts: HOSTS },
};
const S3_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const S3: DesiredOpts = {
  backup: { repository: 's3:https://s3.example.com/bucket/chat', password: { env: 'RESTIC_PW' }, env: { AWS_ACCESS_KEY_ID: { env: 'A' }, AWS_SECRET_ACCESS_KEY: { env: 'B' } } },
  backupSecrets: { password: PASSWORD, env: { AWS_SECRET_ACCESS_KEY: S3_SECRET, AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE' } },
};
type BackupInput = NonNullable<DesiredOpts['backup']>;
/** `opts` with more of the backup section and other secrets. */
const with_ = (opts: DesiredOpts, more: Omit<DesiredOpts, 'backup'> & { backup?: Partial<BackupInput> }): DesiredOpts => ({
  ...opts,
  ...more,
  backup: { ...opts.backup, ...more.backup } as BackupInput,
});

const TIMERS_NEW: RawFacts = { [BACKUP_TIMER]: 'inactive \n', [DRILL_TIMER_UNIT]: 'inactive \n' };
const TIMERS_ON: RawFacts = { [BACKUP_TIMER]: 'active enabled\n', [DRILL_TIMER_UNIT]: 'active enabled\n' };

/** The file facts of the four units: as rendered (converged), unless `text` says otherwise. */
function units(d: DesiredState, text: (f: RenderedFile) => string = (f) => fileText(f)): RawFacts {
  return Object.fromEntries(backupFiles(d.stack, PROGRAMS_DIR).map((f) => [`file:${f.path}`, text(f)]));
}
const unitAt = (d: DesiredState, path: string) => backupFiles(d.stack, PROGRAMS_DIR).find((f) => f.path === path)!;

/** A host never set up for backups. */
const fresh = (d: DesiredState): RawFacts => ({ 'backup-env': '', ...TIMERS_NEW, ...units(d, () => MISSING_FILE) });

/** Plans `opts` against `raw` (no checks), as the executor would. */
function planOf(opts: DesiredOpts, raw: (d: DesiredState) => RawFacts): StepPlan {
  const d = state(opts);
  const facts = raw(d);
  return backupStep.plan(new Map(backupStep.facts(d).map((f) => [f.id, f.parse(facts[f.id] as string, 0)] as const)), d);
}

/** What the step writes to the env file for `opts` (the stdin of its `secret write`). */
function envFileOf(opts: DesiredOpts): string {
  const write = planOf(opts, fresh).commands.find((c) => c.argv.join(' ') === `mi-remote secret write ${NEXT}`);
  if (!write || typeof write.stdin !== 'string') throw new Error('no env write');
  return write.stdin;
}
const inputsOf = (opts: DesiredOpts) => /^MI_INPUTS=(.*)$/m.exec(envFileOf(opts))![1]!;

/** The env fact of a host whose file was written for `opts` (its inputs and password), mode as given. */
const envFact = (opts: DesiredOpts, password = opts.backupSecrets!.password, mode = '600 root:root') => secretsText(mode, { MI_INPUTS: inputsOf(opts), RESTIC_PASSWORD: password });

/** A host converged for `opts`. */
const converged = (opts: DesiredOpts) => (d: DesiredState): RawFacts => ({ 'backup-env': envFact(opts), ...TIMERS_ON, ...units(d) });

const stage = (path: string) => ['mi-remote', 'stage', path, 'root', 'root', '644'];
const ACTIVATE_ALL = ['mi-remote', 'activate', '--validate', 'systemd:messenger-backup.service', '--validate', 'systemd:messenger-backup-drill.service', '--notify', 'daemon-reload', '--', ...UNITS];
const WRITE_NEXT = ['mi-remote', 'secret', 'write', NEXT];
const INIT = ['mi-remote', 'backup', 'init', '--env', NEXT];
const PUT_LIVE = ['mv', '-f', NEXT, ENV];
/** Writing the settings: beside the live ones, the repository opened with them, then put live. */
const SETTINGS = [WRITE_NEXT, INIT, PUT_LIVE];
const settingsChanges = (repository: string, more = '') => [`write ${ENV} (repository ${repository}, password${more}; 0600) once the repository opens with it`, 'open or initialise the repository'];
const KEY_CHANGE = `write ${SSH_KEY} and ${KNOWN_HOSTS} (0600)`;
const ENABLE_BOTH = ['systemctl', 'enable', '--now', 'messenger-backup.timer', 'messenger-backup-drill.timer'];
const ENABLE_CHANGES = ['enable and start messenger-backup.timer', 'enable and start messenger-backup-drill.timer'];

/** No secret in an argv, a label, a change line or a diff: stdin is their only way to the host. */
function expectNoSecretOutsideStdin(plan: StepPlan, secrets: readonly string[]): void {
  const visible = [...plan.commands.flatMap((c) => [...c.argv, c.label]), ...plan.changes, ...plan.diffs].join('\n');
  for (const secret of secrets) {
    for (const part of secret.split('\n').filter((p) => p.length >= 8)) expect(visible).not.toContain(part);
  }
}

const lines = (text: string | Buffer | undefined) => String(text).split('\n');
const MI_INPUTS_LINE = /^MI_INPUTS=[0-9a-f]{64}$/;

describe('backup step: facts', () => {
  it('reads the env file (hashes only), both timers and the four units', () => {
    const d = state(BASIC);
    expect(backupStep.facts(d).map((f) => [f.id, f.query])).toEqual([
      ['backup-env', ['secrets', ENV, 'MI_INPUTS', 'RESTIC_PASSWORD']],
      ['unit:messenger-backup.timer', ['unit', 'messenger-backup.timer']],
      ['unit:messenger-backup-drill.timer', ['unit', 'messenger-backup-drill.timer']],
      ...UNITS.map((p) => [`file:${p}`, ['file', p]]),
    ]);
    // Without a backup section: the timers only (to switch them off).
    expect(backupStep.facts(state()).map((f) => f.id)).toEqual(['backup-env', 'unit:messenger-backup.timer', 'unit:messenger-backup-drill.timer']);
  });

  it('restic is installed only with a backup section', () => {
    expect(state(BASIC).packages).toContain('restic');
    expect(state().packages).not.toContain('restic');
  });
});

describe('backup step: plans', () => {
  it('a fresh host: the settings on stdin, the repository opened, the units activated, both timers started', () => {
    const plan = runFixture({
      name: 'fresh',
      step: backupStep,
      desired: BASIC,
      facts: fresh,
      expect: (d): Expected => ({
        commands: [...SETTINGS, ...UNITS.map(stage), ACTIVATE_ALL, ENABLE_BOTH],
        changes: [...settingsChanges(SFTP), ...UNITS.map((p) => `write ${p}`), ...ENABLE_CHANGES],
        stdin: {
          0: (stdin) => {
            const [repo, pw, inputs, end, ...rest] = lines(stdin);
            expect([repo, pw, end, rest]).toEqual([`RESTIC_REPOSITORY=${SFTP}`, `RESTIC_PASSWORD=${PASSWORD}`, '', []]);
            expect(inputs).toMatch(MI_INPUTS_LINE);
          },
          ...Object.fromEntries(UNITS.map((p, i) => [i + 3, unitAt(d, p).content])),
        },
        errors: { 1: { 22: 'MI_ERR_BACKUP_REPOSITORY' }, 7: { 10: 'MI_ERR_SYSTEMD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
        diffs: UNITS,
      }),
    });
    expect(plan.commands[1]!.label).toBe(`open or initialise ${SFTP}`);
    expect(plan.commands[1]!.stdin).toBeUndefined();
    expect(plan.commands[2]!.stdin).toBeUndefined();
    expectNoSecretOutsideStdin(plan, [PASSWORD]);
  });

  it('the settings go live only after the repository opened with them: env.next, init --env env.next, mv', () => {
    for (const opts of [BASIC, WITH_KEY, S3]) {
      const plan = planOf(opts, fresh);
      const argv = plan.commands.map((c) => c.argv);
      const write = argv.findIndex((a) => a.join(' ') === WRITE_NEXT.join(' '));
      const init = argv.findIndex((a) => a.join(' ') === INIT.join(' '));
      const live = argv.findIndex((a) => a.join(' ') === PUT_LIVE.join(' '));
      expect([write, init, live]).toEqual([write, write + 1, write + 2]);
      expect(write).toBeGreaterThanOrEqual(0);
      // Nothing but the mv, after init, touches the live settings: no write of ENV, no init that reads it.
      expect(argv.filter((a) => a.includes(ENV))).toEqual([PUT_LIVE]);
      // The units and timers come after the settings are live.
      expect(argv.slice(live + 1).every((a) => !a.includes(NEXT))).toBe(true);
      // The mv carries no bytes; init reads the file, it is not sent one.
      expect([plan.commands[init]!.stdin, plan.commands[live]!.stdin]).toEqual([undefined, undefined]);
      expect(plan.commands[live]!.label).toBe('put the backup settings live');
    }
  });

  it('a wrong password never replaces the live settings: a failed init ends the step before the mv', () => {
    // The stack now names another password; the host's repository was made with PASSWORD.
    const wrong = with_(BASIC, { backupSecrets: { password: NEW_PASSWORD, env: {} } });
    const plan = planOf(wrong, converged(BASIC));
    expect(plan.commands.map((c) => c.argv)).toEqual(SETTINGS);
    // init's "cannot open the repository" (exit 22) is a failure of its own, so the commands after it
    // (the mv) never run and the live env keeps the password that works.
    expect(plan.commands[1]!.errors).toEqual({ 22: 'MI_ERR_BACKUP_REPOSITORY' });
    expect(lines(plan.commands[0]!.stdin)[1]).toBe(`RESTIC_PASSWORD=${NEW_PASSWORD}`);
    // The next run still reads the live file's hashes: it plans the same again, not "converged".
    expect(planOf(wrong, converged(BASIC)).commands.map((c) => c.argv)).toEqual(SETTINGS);
    expectNoSecretOutsideStdin(plan, [PASSWORD, NEW_PASSWORD]);
  });

  it('converged: nothing to do', () => {
    runFixture({ name: 'converged', step: backupStep, desired: BASIC, facts: converged(BASIC), expect: { commands: [], changes: [], diffs: [] } });
    runFixture({ name: 'converged sftp key', step: backupStep, desired: WITH_KEY, facts: converged(WITH_KEY), expect: { commands: [], changes: [] } });
    runFixture({ name: 'converged s3', step: backupStep, desired: S3, facts: converged(S3), expect: { commands: [], changes: [] } });
  });

  it('what the step writes is what the next run reads back as converged (MI_INPUTS is stable)', () => {
    expect(inputsOf(BASIC)).toBe(inputsOf({ ...BASIC }));
    expect(inputsOf(BASIC)).not.toBe(inputsOf(with_(BASIC, { backupSecrets: { password: NEW_PASSWORD, env: {} } })));
  });

  it('the password changed in the stack: the settings rewritten and the repository opened again, nothing else', () => {
    const changed = with_(BASIC, { backupSecrets: { password: NEW_PASSWORD, env: {} } });
    const plan = runFixture({
      name: 'password changed',
      step: backupStep,
      desired: changed,
      facts: converged(BASIC),
      expect: {
        commands: SETTINGS,
        changes: settingsChanges(SFTP),
        stdin: { 0: (stdin) => expect(lines(stdin).slice(0, 2)).toEqual([`RESTIC_REPOSITORY=${SFTP}`, `RESTIC_PASSWORD=${NEW_PASSWORD}`]) },
      },
    });
    expectNoSecretOutsideStdin(plan, [PASSWORD, NEW_PASSWORD]);
  });

  it('a credential changed: rewritten with the credentials by name, in order', () => {
    const rotated = with_(S3, { backupSecrets: { password: PASSWORD, env: { ...S3.backupSecrets!.env, AWS_SECRET_ACCESS_KEY: 'rotated-secret-key-0123456789' } } });
    const plan = runFixture({
      name: 'credential rotated',
      step: backupStep,
      desired: rotated,
      facts: converged(S3),
      expect: {
        commands: SETTINGS,
        changes: settingsChanges('s3:https://s3.example.com/bucket/chat', ', AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY'),
        stdin: {
          0: (stdin) => {
            const l = lines(stdin);
            expect(l.slice(0, 4)).toEqual([
              'RESTIC_REPOSITORY=s3:https://s3.example.com/bucket/chat',
              `RESTIC_PASSWORD=${PASSWORD}`,
              'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
              'AWS_SECRET_ACCESS_KEY=rotated-secret-key-0123456789',
            ]);
            expect(l[4]).toMatch(MI_INPUTS_LINE);
            expect(l.slice(5)).toEqual(['']);
          },
        },
      },
    });
    expectNoSecretOutsideStdin(plan, [PASSWORD, S3_SECRET, 'rotated-secret-key-0123456789', 'AKIAIOSFODNN7EXAMPLE']);
  });

  it('the env file with another mode or owner is written again', () => {
    for (const mode of ['644 root:root', '600 chat:chat']) {
      runFixture({
        name: `mode ${mode}`,
        step: backupStep,
        desired: BASIC,
        facts: (d) => ({ ...converged(BASIC)(d), 'backup-env': envFact(BASIC, PASSWORD, mode) }),
        expect: { commands: SETTINGS, changes: settingsChanges(SFTP) },
      });
    }
  });

  it('another repository: settings, init, and the units naming it (then the timers again)', () => {
    const moved = with_(BASIC, { backup: { repository: 'sftp:backup@backup2.example.com:/srv/restic/chat' } });
    runFixture({
      name: 'repository moved',
      step: backupStep,
      desired: moved,
      facts: (d) => ({ ...converged(BASIC)(d), ...units(state(BASIC)) }),
      expect: {
        commands: [
          ...SETTINGS,
          stage(SERVICE),
          stage(TIMER),
          ['mi-remote', 'activate', '--validate', 'systemd:messenger-backup.service', '--notify', 'daemon-reload', '--', SERVICE, TIMER],
          ENABLE_BOTH,
        ],
        changes: [
          ...settingsChanges('sftp:backup@backup2.example.com:/srv/restic/chat'),
          `write ${SERVICE}`,
          `write ${TIMER}`,
          ...ENABLE_CHANGES,
        ],
        diffs: [SERVICE, TIMER],
      },
    });
  });

  it('another schedule: only the timer file, then both timers enabled and started again', () => {
    const later = with_(BASIC, { backup: { schedule: '04:45' } });
    const plan = runFixture({
      name: 'schedule moved',
      step: backupStep,
      desired: later,
      facts: (d) => ({ ...converged(BASIC)(d), ...units(state(BASIC)) }),
      expect: (d) => ({
        commands: [stage(TIMER), ['mi-remote', 'activate', '--notify', 'daemon-reload', '--', TIMER], ENABLE_BOTH],
        changes: [`write ${TIMER}`, ...ENABLE_CHANGES],
        stdin: { 0: unitAt(d, TIMER).content },
        errors: { 1: { 10: 'MI_ERR_STEP_FAILED', 11: 'MI_ERR_ACTIVATION_FAILED' } },
        diffs: [TIMER],
      }),
    });
    expect(plan.diffs[0]).toContain('-OnCalendar=*-*-* 03:30:00');
    expect(plan.diffs[0]).toContain('+OnCalendar=*-*-* 04:45:00');
  });

  it('a unit edited on the host, or left mid-activation, is put back', () => {
    runFixture({
      name: 'drill service edited',
      step: backupStep,
      desired: BASIC,
      facts: (d) => ({ ...converged(BASIC)(d), [`file:${DRILL_SERVICE}`]: fileText(unitAt(d, DRILL_SERVICE), { content: unitAt(d, DRILL_SERVICE).content.replace('Nice=10', 'Nice=0') }) }),
      expect: {
        commands: [stage(DRILL_SERVICE), ['mi-remote', 'activate', '--validate', 'systemd:messenger-backup-drill.service', '--notify', 'daemon-reload', '--', DRILL_SERVICE], ENABLE_BOTH],
        changes: [`write ${DRILL_SERVICE}`, ...ENABLE_CHANGES],
        diffs: [DRILL_SERVICE],
      },
    });
    runFixture({
      name: 'service left mid-activation',
      step: backupStep,
      desired: BASIC,
      facts: (d) => ({ ...converged(BASIC)(d), [`file:${SERVICE}`]: fileText(unitAt(d, SERVICE), { left: 'mi-prev' }) }),
      expect: {
        commands: [stage(SERVICE), ['mi-remote', 'activate', '--validate', 'systemd:messenger-backup.service', '--notify', 'daemon-reload', '--', SERVICE], ENABLE_BOTH],
        changes: [`finish the interrupted activation of ${SERVICE} (left: ${SERVICE}.mi-prev)`, ...ENABLE_CHANGES],
        diffs: [],
      },
    });
  });

  it('timers off but the files fine: only the timers that are not both enabled and active are started', () => {
    runFixture({
      name: 'both timers off',
      step: backupStep,
      desired: BASIC,
      facts: (d) => ({ ...converged(BASIC)(d), [BACKUP_TIMER]: 'inactive disabled\n', [DRILL_TIMER_UNIT]: 'inactive disabled\n' }),
      expect: { commands: [ENABLE_BOTH], changes: ENABLE_CHANGES },
    });
    for (const [raw, why] of [
      ['inactive disabled\n', 'off'],
      ['active disabled\n', 'running, not enabled'],
      ['inactive enabled\n', 'enabled, stopped'],
      ['failed enabled\n', 'failed'],
    ] as const) {
      runFixture({
        name: `backup timer ${why}`,
        step: backupStep,
        desired: BASIC,
        facts: (d) => ({ ...converged(BASIC)(d), [BACKUP_TIMER]: raw }),
        expect: { commands: [['systemctl', 'enable', '--now', 'messenger-backup.timer']], changes: ['enable and start messenger-backup.timer'] },
      });
    }
    runFixture({
      name: 'drill timer off',
      step: backupStep,
      desired: BASIC,
      facts: (d) => ({ ...converged(BASIC)(d), [DRILL_TIMER_UNIT]: 'inactive disabled\n' }),
      expect: { commands: [['systemctl', 'enable', '--now', 'messenger-backup-drill.timer']], changes: ['enable and start messenger-backup-drill.timer'] },
    });
  });

  it("sftp with the stack's key: key and host key written first, restic's ssh command in the settings", () => {
    const plan = runFixture({
      name: 'fresh sftp key',
      step: backupStep,
      desired: WITH_KEY,
      facts: fresh,
      expect: {
        commands: [['mi-remote', 'secret', 'write', SSH_KEY], ['mi-remote', 'secret', 'write', KNOWN_HOSTS], ...SETTINGS, ...UNITS.map(stage), ACTIVATE_ALL, ENABLE_BOTH],
        changes: [KEY_CHANGE, ...settingsChanges(SFTP_URL), ...UNITS.map((p) => `write ${p}`), ...ENABLE_CHANGES],
        stdin: {
          // ssh wants the key's last line ended.
          0: `${KEY}\n`,
          1: HOSTS,
          2: (stdin) => {
            const l = lines(stdin);
            expect(l.slice(0, 3)).toEqual([
              `RESTIC_REPOSITORY=${SFTP_URL}`,
              `RESTIC_PASSWORD=${PASSWORD}`,
              `MI_SFTP_COMMAND=ssh -i ${SSH_KEY} -o UserKnownHostsFile=${KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=15 -p 2222 backup@backup.example.com -s sftp`,
            ]);
            expect(l[3]).toMatch(MI_INPUTS_LINE);
            expect(l.slice(4)).toEqual(['']);
          },
        },
        errors: { 3: { 22: 'MI_ERR_BACKUP_REPOSITORY' }, 9: { 10: 'MI_ERR_SYSTEMD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      },
    });
    expectNoSecretOutsideStdin(plan, [PASSWORD, KEY, HOSTS.trim()]);
    // The key line names the files only; without a key (BASIC) there is no such line.
    expect(planOf(BASIC, fresh).changes).not.toContain(KEY_CHANGE);
  });

  it('a key already ending in a newline is written as it is', () => {
    const plan = planOf(with_(WITH_KEY, { backupSecrets: { ...WITH_KEY.backupSecrets!, sshKey: `${KEY}\n`, knownHosts: HOSTS.trim() } }), fresh);
    expect(plan.commands[0]!.stdin).toBe(`${KEY}\n`);
    expect(plan.commands[1]!.stdin).toBe(HOSTS);
  });

  it("the backup server's host key changed: key, host key and settings written again", () => {
    const rekeyed = with_(WITH_KEY, { backupSecrets: { ...WITH_KEY.backupSecrets!, knownHosts: 'backup.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewHostKeyNewHostKey\n' } });
    runFixture({
      name: 'known_hosts changed',
      step: backupStep,
      desired: rekeyed,
      facts: converged(WITH_KEY),
      expect: {
        commands: [['mi-remote', 'secret', 'write', SSH_KEY], ['mi-remote', 'secret', 'write', KNOWN_HOSTS], ...SETTINGS],
        changes: [KEY_CHANGE, ...settingsChanges(SFTP_URL)],
        stdin: { 1: 'backup.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewHostKeyNewHostKey\n' },
      },
    });
  });

  it('a password inside the repository URL is shown redacted and sent on stdin only', () => {
    const rest: DesiredOpts = { backup: { repository: 'rest:https://chat:rest-pass-0123456789@backup.example.com:8000/chat', password: { env: 'RESTIC_PW' } }, backupSecrets: { password: PASSWORD, env: {} } };
    const plan = planOf(rest, fresh);
    expect(plan.changes[0]).toBe(`write ${ENV} (repository rest:https://chat:***@backup.example.com:8000/chat, password; 0600) once the repository opens with it`);
    expect(plan.commands[1]!.label).toBe('open or initialise rest:https://chat:***@backup.example.com:8000/chat');
    expect(lines(plan.commands[0]!.stdin)[0]).toBe('RESTIC_REPOSITORY=rest:https://chat:rest-pass-0123456789@backup.example.com:8000/chat');
    expectNoSecretOutsideStdin(plan, ['rest-pass-0123456789', PASSWORD]);
  });
});

describe('backup step: backups removed from the stack', () => {
  it('timers still on: switched off (the settings stay, old snapshots need the password)', () => {
    const plan = runFixture({
      name: 'removed, timers on',
      step: backupStep,
      facts: { 'backup-env': envFact(BASIC), ...TIMERS_ON },
      expect: {
        commands: [['systemctl', 'disable', '--now', 'messenger-backup.timer', 'messenger-backup-drill.timer']],
        changes: ['disable messenger-backup.timer (no backup section in the stack)', 'disable messenger-backup-drill.timer (no backup section in the stack)'],
      },
    });
    expect(plan.commands.flatMap((c) => c.argv)).not.toContain(ENV);
  });

  it('only the timers that are on, enabled or active', () => {
    for (const [backup, drill, on] of [
      ['inactive disabled\n', 'active enabled\n', ['messenger-backup-drill.timer']],
      ['active disabled\n', 'inactive disabled\n', ['messenger-backup.timer']],
      ['inactive enabled\n', 'inactive \n', ['messenger-backup.timer']],
    ] as const) {
      runFixture({
        name: `removed, ${on.join(' ')} on`,
        step: backupStep,
        facts: { 'backup-env': '', [BACKUP_TIMER]: backup, [DRILL_TIMER_UNIT]: drill },
        expect: { commands: [['systemctl', 'disable', '--now', ...on]], changes: on.map((t) => `disable ${t} (no backup section in the stack)`) },
      });
    }
  });

  it('timers off: skipped, saying backups are off', () => {
    runFixture({
      name: 'removed, timers off',
      step: backupStep,
      facts: { 'backup-env': envFact(BASIC), [BACKUP_TIMER]: 'inactive disabled\n', [DRILL_TIMER_UNIT]: 'inactive \n' },
      expect: { commands: [], changes: [], skipped: 'backups are off: add a backup section to the stack (README: "Backups and restore")' },
    });
  });
});

describe('backup step: a password generated in this run', () => {
  const generated: DesiredOpts = { backup: { repository: SFTP }, backupSecrets: { password: NEW_PASSWORD, env: {} }, backupPasswordGenerated: GENERATED };

  function planError(opts: DesiredOpts, raw: (d: DesiredState) => RawFacts): MiError {
    try {
      planOf(opts, raw);
    } catch (err) {
      if (err instanceof MiError) return err;
      throw err;
    }
    throw new Error('the plan did not refuse');
  }

  it("refuses to replace the host's own password (that would lock every snapshot away)", () => {
    const err = planError(generated, (d) => ({ ...converged(BASIC)(d) }));
    expect(err.code).toBe('MI_ERR_BACKUP_PASSWORD');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      `the host's restic password differs from the one just generated in ${GENERATED}; put the original password in that file (or name it in backup.password) and run again`,
    );
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(NEW_PASSWORD);
  });

  it('a fresh host takes it', () => {
    const plan = runFixture({
      name: 'generated, fresh host',
      step: backupStep,
      desired: generated,
      facts: fresh,
      expect: {
        commands: [...SETTINGS, ...UNITS.map(stage), ACTIVATE_ALL, ENABLE_BOTH],
        changes: [...settingsChanges(SFTP), ...UNITS.map((p) => `write ${p}`), ...ENABLE_CHANGES],
        stdin: { 0: (stdin) => expect(lines(stdin)[1]).toBe(`RESTIC_PASSWORD=${NEW_PASSWORD}`) },
      },
    });
    expectNoSecretOutsideStdin(plan, [NEW_PASSWORD]);
  });

  it('a host that already has the same password is no conflict', () => {
    // The env file was written from another stack (another repository), with this very password.
    const other = { ...generated, backup: { repository: 'sftp:backup@old.example.com:/srv/restic' }, backupPasswordGenerated: undefined };
    runFixture({
      name: 'generated, same password on the host',
      step: backupStep,
      desired: generated,
      facts: (d) => ({ ...converged(generated)(d), 'backup-env': envFact(other, NEW_PASSWORD) }),
      expect: { commands: SETTINGS, changes: settingsChanges(SFTP) },
    });
  });

  it('a password named in the stack (or an existing file) may differ: rewritten, then init opens or refuses it', () => {
    const fromStack = { ...generated, backupPasswordGenerated: undefined };
    runFixture({
      name: 'not generated, differs',
      step: backupStep,
      desired: fromStack,
      facts: converged(BASIC),
      expect: { commands: SETTINGS, changes: settingsChanges(SFTP) },
    });
  });
});

describe('backup step: planned without the secrets', () => {
  it('a backup section with no backupSecrets in the desired state is a bug (MI_ERR_INTERNAL), never "backups off"', () => {
    const noSecrets: DesiredOpts = { backup: BASIC.backup };
    // Treated as off, the timers that are on would be switched off: the step refuses instead.
    for (const raw of [fresh, (d: DesiredState): RawFacts => ({ ...converged(BASIC)(d) })]) {
      let err: unknown;
      try {
        planOf(noSecrets, raw);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MiError);
      expect((err as MiError).code).toBe('MI_ERR_INTERNAL');
      expect((err as MiError).exitCode).toBe(1);
      expect((err as MiError).message).toBe('the backup step was planned without the backup secrets (a bug)');
    }
    // The facts are still read as for a backup section (the units too).
    expect(backupStep.facts(state(noSecrets)).map((f) => f.id)).toEqual(backupStep.facts(state(BASIC)).map((f) => f.id));
  });
});
