import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatedPasswordPath, resolveBackupSecrets } from '../../src/config/backup-secrets.js';
import { loadStack, type LoadOptions } from '../../src/config/load.js';
import { databaseNameProblem } from '../../src/config/schema.js';
import { configErrorOf } from '../helpers/config-error.js';

/**
 * stack.backup: the schema's defaults and one-line refusals naming the field, the paths the loader
 * resolves (against the stack file's folder or the working directory), and the secrets read on the
 * operator's machine (the generated password's file, references by env and file, refused names).
 */
const root = mkdtempSync(join(tmpdir(), 'mi-config-backup-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GOOD = { tier: 'mvp', domain: 'chat.example.com', email: 'ops@example.com' } as const;
const SFTP = 'sftp:backup@backup.example.com:/srv/restic/chat';
const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n';
const KNOWN_HOSTS = 'backup.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureFixtureFixtureFixtureFixture\n';

let n = 0;
/** A file under the temp root with this text (each call its own folder). */
function file(name: string, text: string, mode = 0o600): string {
  const dir = join(root, `f${++n}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  return path;
}

/** A known_hosts file that exists, for rows that test another field. */
const HOSTS_FILE = file('known_hosts', KNOWN_HOSTS);

function load(backup: unknown, options: Partial<LoadOptions> = {}): ReturnType<typeof loadStack> {
  return loadStack({ ...options, overrides: { ...GOOD, backup } as LoadOptions['overrides'] });
}

/** The one-line ConfigError (exit 2) `fn` throws. */
const refused = configErrorOf;

const REPOSITORY_RULE =
  'must be a restic repository like sftp:backup@backup.example.com:/srv/restic/chat, rest:https://user:pass@host:8000/chat, s3:https://s3.example.com/bucket/chat or an absolute path';

describe('stack.backup: the schema', () => {
  it('is optional, and takes a repository with every default filled in', () => {
    expect(loadStack({ overrides: GOOD }).backup).toBeUndefined();
    expect(load({ repository: SFTP }).backup).toEqual({
      repository: SFTP,
      schedule: '03:30',
      randomizedDelayMinutes: 30,
      drill: 'Sun 04:30',
      keep: { daily: 7, weekly: 4, monthly: 6 },
      env: {},
    });
  });

  it.each([
    'sftp:backup@backup.example.com:/srv/restic/chat',
    'sftp://backup@backup.example.com:2222//srv/restic/chat',
    'rest:https://user:pass@backup.example.com:8000/chat',
    'rest:http://127.0.0.1:8000/chat',
    's3:https://s3.example.com/bucket/chat',
    'b2:bucket:chat',
    'azure:container:/chat',
    'gs:bucket:/chat',
    'swift:container:/chat',
    'rclone:remote:chat',
    '/mnt/backup/restic',
  ])('takes the repository %s', (repository) => {
    expect(load({ repository }).backup?.repository).toBe(repository);
  });

  it.each([
    ['ftp://backup.example.com/chat'],
    ['backup.example.com:/srv/restic'],
    ['relative/path'],
    ['rest:ftp://host/chat'],
    ['sftp:backup@host:/srv/restic chat'],
    ['sftp:backup@host:/srv/restic\0'],
  ])('refuses the repository %j, naming the field and the forms it takes', (repository) => {
    const e = refused(() => load({ repository }));
    expect(e.field).toBe('stack.backup.repository');
    expect(e.message).toBe(`stack.backup.repository: ${JSON.stringify(repository)} ${REPOSITORY_RULE}`);
  });

  it('requires the repository, saying what it must be', () => {
    expect(refused(() => load({})).message).toBe(`stack.backup.repository: is required; it ${REPOSITORY_RULE}`);
    expect(refused(() => load({ repository: 42 })).message).toBe(`stack.backup.repository: 42 ${REPOSITORY_RULE}`);
  });

  it('takes a schedule, delay, drill and retention of its own', () => {
    const b = load({ repository: SFTP, schedule: '23:59', randomizedDelayMinutes: 0, drill: 'Wed 00:00', keep: { daily: 0, weekly: 0, monthly: 1 } }).backup;
    expect(b).toMatchObject({ schedule: '23:59', randomizedDelayMinutes: 0, drill: 'Wed 00:00', keep: { daily: 0, weekly: 0, monthly: 1 } });
    // A partial keep keeps the other defaults.
    expect(load({ repository: SFTP, keep: { daily: 14 } }).backup?.keep).toEqual({ daily: 14, weekly: 4, monthly: 6 });
  });

  it.each([
    [{ schedule: '3:30' }, 'stack.backup.schedule: "3:30" must be a time of day like 03:30 (24 h, host time)'],
    [{ schedule: '24:00' }, 'stack.backup.schedule: "24:00" must be a time of day like 03:30 (24 h, host time)'],
    [{ schedule: '03:60' }, 'stack.backup.schedule: "03:60" must be a time of day like 03:30 (24 h, host time)'],
    [{ schedule: '03:30:00' }, 'stack.backup.schedule: "03:30:00" must be a time of day like 03:30 (24 h, host time)'],
    [{ drill: 'Sunday 04:30' }, 'stack.backup.drill: "Sunday 04:30" must be a weekday and time like "Sun 04:30"'],
    [{ drill: 'sun 04:30' }, 'stack.backup.drill: "sun 04:30" must be a weekday and time like "Sun 04:30"'],
    [{ drill: '04:30' }, 'stack.backup.drill: "04:30" must be a weekday and time like "Sun 04:30"'],
    [{ randomizedDelayMinutes: 181 }, 'stack.backup.randomizedDelayMinutes: 181 must be a whole number of minutes from 0 to 180'],
    [{ randomizedDelayMinutes: -1 }, 'stack.backup.randomizedDelayMinutes: -1 must be a whole number of minutes from 0 to 180'],
    [{ randomizedDelayMinutes: 1.5 }, 'stack.backup.randomizedDelayMinutes: 1.5 must be a whole number of minutes from 0 to 180'],
    [{ keep: { daily: -1 } }, 'stack.backup.keep.daily: -1 must be a whole number from 0 to 1000'],
    [{ keep: { weekly: 1001 } }, 'stack.backup.keep.weekly: 1001 must be a whole number from 0 to 1000'],
    [{ keep: { monthly: 2.5 } }, 'stack.backup.keep.monthly: 2.5 must be a whole number from 0 to 1000'],
    [{ keep: { daily: '7' } }, 'stack.backup.keep.daily: "7" must be a whole number from 0 to 1000'],
    [{ keep: { daily: 0, weekly: 0, monthly: 0 } }, 'stack.backup.keep: {"daily":0,"weekly":0,"monthly":0} keeps nothing; keep at least one daily, weekly or monthly snapshot'],
    [{ keep: { hourly: 24 } }, 'stack.backup.keep: unknown field(s) hourly; remove them or check the spelling'],
    [{ retention: 7 }, 'stack.backup: unknown field(s) retention; remove them or check the spelling'],
    [{ password: 'hunter2' }, 'stack.backup.password: "hunter2" must be { env: NAME } or { file: PATH }'],
    [{ password: { env: 'restic_pw' } }, 'stack.backup.password.env: "restic_pw" must be an environment variable name'],
    [{ env: { AWS_SECRET_ACCESS_KEY: 'inline' } }, 'stack.backup.env.AWS_SECRET_ACCESS_KEY: "inline" must be { env: NAME } or { file: PATH }'],
    [{ env: { 'AWS-KEY': { env: 'X' } } }, 'stack.backup.env.AWS-KEY: "AWS-KEY" must be an environment variable name like DB_HOST'],
  ])('refuses %j with one line naming the field', (extra, message) => {
    expect(refused(() => load({ repository: SFTP, ...extra })).message).toBe(message);
  });

  it('takes sshKey and knownHosts with sftp: repositories only, and knownHosts whenever there is a key', () => {
    const key = file('id_ed25519', PRIVATE_KEY);
    const hosts = file('known_hosts', KNOWN_HOSTS);
    expect(load({ repository: SFTP, sshKey: { file: key }, knownHosts: hosts }).backup).toMatchObject({ sshKey: { file: key }, knownHosts: hosts });
    // knownHosts alone (the host's own key) is fine.
    expect(load({ repository: SFTP, knownHosts: hosts }).backup?.knownHosts).toBe(hosts);

    expect(refused(() => load({ repository: 's3:https://s3.example.com/b', sshKey: { file: key }, knownHosts: hosts })).message).toBe(
      `stack.backup.sshKey: {"file":${JSON.stringify(key)}} applies to sftp: repositories only; remove it`,
    );
    expect(refused(() => load({ repository: '/mnt/backup', knownHosts: hosts })).message).toBe(`stack.backup.knownHosts: ${JSON.stringify(hosts)} applies to sftp: repositories only; remove it`);
    expect(refused(() => load({ repository: SFTP, sshKey: { file: key } })).message).toBe(
      "stack.backup.knownHosts: is required with sshKey: a file with the backup server's known_hosts line (ssh-keyscan -p PORT HOST)",
    );
    expect(refused(() => load({ repository: SFTP, sshKey: {}, knownHosts: hosts })).message).toBe('stack.backup.sshKey.file: is required');
    expect(refused(() => load({ repository: SFTP, sshKey: key, knownHosts: hosts })).field).toBe('stack.backup.sshKey');
  });
});

describe('stack.backup: the files it names', () => {
  it('resolves relative paths of a stack file against its folder', () => {
    const dir = join(root, 'stack-dir');
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    for (const f of ['restic.pw', 'id_backup', 'known_hosts', 'b2.key']) writeFileSync(join(dir, 'secrets', f), 'x\n');
    writeFileSync(
      join(dir, 'prod.yaml'),
      [
        'tier: mvp',
        'domain: chat.example.com',
        'email: ops@example.com',
        'backup:',
        `  repository: ${SFTP}`,
        '  password: { file: secrets/restic.pw }',
        '  sshKey: { file: ./secrets/id_backup }',
        '  knownHosts: secrets/known_hosts',
        '  env:',
        '    B2_ACCOUNT_KEY: { file: secrets/b2.key }',
        '    B2_ACCOUNT_ID: { env: B2_ID }',
        '',
      ].join('\n'),
    );
    // The working directory is elsewhere: the file's folder is what counts.
    const b = loadStack({ file: join(dir, 'prod.yaml'), cwd: root }).backup;
    expect(b).toMatchObject({
      password: { file: join(dir, 'secrets/restic.pw') },
      sshKey: { file: join(dir, 'secrets/id_backup') },
      knownHosts: join(dir, 'secrets/known_hosts'),
      env: { B2_ACCOUNT_KEY: { file: join(dir, 'secrets/b2.key') }, B2_ACCOUNT_ID: { env: 'B2_ID' } },
    });
  });

  it('resolves relative paths given as overrides (flags) against the working directory', () => {
    const cwd = join(root, 'cwd');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'pw'), 'x\n');
    writeFileSync(join(cwd, 'hosts'), KNOWN_HOSTS);
    expect(load({ repository: SFTP, password: { file: 'pw' }, knownHosts: 'hosts' }, { cwd }).backup).toMatchObject({ password: { file: join(cwd, 'pw') }, knownHosts: join(cwd, 'hosts') });
  });

  it.each([
    [{ password: { file: 'missing.pw' } }, 'stack.backup.password.file', 'missing.pw'],
    [{ sshKey: { file: 'missing_key' }, knownHosts: HOSTS_FILE }, 'stack.backup.sshKey.file', 'missing_key'],
    [{ knownHosts: 'missing_hosts' }, 'stack.backup.knownHosts', 'missing_hosts'],
    [{ env: { AWS_SECRET_ACCESS_KEY: { file: 'missing.key' } } }, 'stack.backup.env.AWS_SECRET_ACCESS_KEY.file', 'missing.key'],
  ])('a missing file (%j) is refused naming its field', (extra, field, name) => {
    const cwd = join(root, 'empty');
    mkdirSync(cwd, { recursive: true });
    const e = refused(() => load({ repository: SFTP, ...extra }, { cwd }));
    expect(e.field).toBe(field);
    expect(e.message).toBe(`${field}: file ${join(cwd, name)} does not exist; give the path of an existing file`);
  });
});

describe('resolveBackupSecrets', () => {
  /** An environment with its own config folder, so nothing of this machine's is read or written. */
  const isolated = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ XDG_CONFIG_HOME: mkdtempSync(join(root, 'xdg-')), ...extra });

  it('is undefined when the stack has no backup section', () => {
    expect(resolveBackupSecrets(loadStack({ overrides: GOOD }), { env: isolated(), create: true })).toBeUndefined();
  });

  it('keeps a generated password under the config folder, one file per domain', () => {
    expect(generatedPasswordPath('chat.example.com', { XDG_CONFIG_HOME: '/x/config', HOME: '/home/ops' })).toBe('/x/config/messenger-infra/backup/chat.example.com.restic-password');
    expect(generatedPasswordPath('chat.example.com', { HOME: '/home/ops' })).toBe('/home/ops/.config/messenger-infra/backup/chat.example.com.restic-password');
    // An empty XDG_CONFIG_HOME counts as unset.
    expect(generatedPasswordPath('chat.example.com', { XDG_CONFIG_HOME: '', HOME: '/home/ops' })).toBe('/home/ops/.config/messenger-infra/backup/chat.example.com.restic-password');
  });

  it('with create, generates the password once: 48 random characters, 0600 in a 0700 folder', () => {
    const env = isolated();
    const stack = load({ repository: SFTP });
    const path = join(env.XDG_CONFIG_HOME!, 'messenger-infra', 'backup', 'chat.example.com.restic-password');
    expect(existsSync(path)).toBe(false);

    const first = resolveBackupSecrets(stack, { env, create: true })!;
    expect(first.passwordSource).toEqual({ kind: 'generated', path, created: true });
    expect(first.password).toMatch(/^[A-Za-z0-9_-]{48}$/);
    expect(readFileSync(path, 'utf8')).toBe(`${first.password}\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(env.XDG_CONFIG_HOME!, 'messenger-infra', 'backup')).mode & 0o777).toBe(0o700);
    expect(first.env).toEqual({});
    expect(first).not.toHaveProperty('sshKey');
    expect(first).not.toHaveProperty('knownHosts');

    // Again: the same password, read, not made.
    const second = resolveBackupSecrets(stack, { env, create: true })!;
    expect(second.password).toBe(first.password);
    expect(second.passwordSource).toEqual({ kind: 'generated', path, created: false });
    // Without create too, once it exists.
    expect(resolveBackupSecrets(stack, { env })!.password).toBe(first.password);

    // Another domain, another password.
    const other = resolveBackupSecrets(loadStack({ overrides: { ...GOOD, domain: 'chat2.example.com', backup: { repository: SFTP } } }), { env, create: true })!;
    expect(other.password).not.toBe(first.password);
  });

  it('without create, a missing generated password is an error naming the file, and nothing is written', () => {
    const env = isolated();
    const path = generatedPasswordPath('chat.example.com', env);
    const e = refused(() => resolveBackupSecrets(load({ repository: SFTP }), { env }));
    expect(e.field).toBe('stack.backup.password');
    expect(e.message).toBe(
      `stack.backup.password: is not set and ${path} does not exist; run \`messenger-infra up\` once (it generates it), or name the password with { env: NAME } or { file: PATH }`,
    );
    // A read-only command never invents a password: nothing was written.
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(env.XDG_CONFIG_HOME!, 'messenger-infra'))).toBe(false);
  });

  it('refuses an emptied generated password file', () => {
    const env = isolated();
    const path = generatedPasswordPath('chat.example.com', env);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '\n', { mode: 0o600 });
    expect(refused(() => resolveBackupSecrets(load({ repository: SFTP }), { env, create: true })).message).toBe(`stack.backup.password (generated, ${path}): is empty; give it a value`);
  });

  it('takes the password by env or file reference, trimmed, and never generates one then', () => {
    const env = isolated({ RESTIC_PW: '  correct horse battery staple \n' });
    const byEnv = resolveBackupSecrets(load({ repository: SFTP, password: { env: 'RESTIC_PW' } }), { env, create: true })!;
    expect(byEnv.password).toBe('correct horse battery staple');
    expect(byEnv.passwordSource).toEqual({ kind: 'stack' });
    const byFile = resolveBackupSecrets(load({ repository: SFTP, password: { file: file('pw', 'from-a-file\n') } }), { env, create: true })!;
    expect(byFile.password).toBe('from-a-file');
    expect(byFile.passwordSource).toEqual({ kind: 'stack' });
    expect(existsSync(join(env.XDG_CONFIG_HOME!, 'messenger-infra'))).toBe(false);
  });

  it('refuses an unset, empty or multi-line password reference, naming the field', () => {
    const stack = load({ repository: SFTP, password: { env: 'RESTIC_PW' } });
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated() })).message).toBe('stack.backup.password.env: environment variable RESTIC_PW is not set; export it or change the reference');
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: '   ' }) })).message).toBe('stack.backup.password: is empty; give it a value');
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'one\ntwo' }) })).message).toBe('stack.backup.password: holds a line break; give a one-line value');
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'one\rtwo' }) })).message).toBe('stack.backup.password: holds a line break; give a one-line value');
    const multi = load({ repository: SFTP, password: { file: file('pw', 'line one\nline two\n') } });
    expect(refused(() => resolveBackupSecrets(multi, { env: isolated() })).message).toBe('stack.backup.password: holds a line break; give a one-line value');
  });

  it('refuses a password file that cannot be read, naming the field', () => {
    const pw = file('pw', 'secret\n');
    const stack = load({ repository: SFTP, password: { file: pw } });
    rmSync(pw);
    const e = refused(() => resolveBackupSecrets(stack, { env: isolated() }));
    expect(e.message).toBe(`stack.backup.password.file: cannot read ${pw} (ENOENT); give a readable file holding the secret`);
  });

  it("reads the repository's credentials by env and by file, trimmed", () => {
    const env = isolated({ B2_ID: ' 0012ab34cd56 ', RESTIC_PW: 'pw' });
    const secrets = resolveBackupSecrets(
      load({ repository: 'b2:bucket:chat', password: { env: 'RESTIC_PW' }, env: { B2_ACCOUNT_ID: { env: 'B2_ID' }, B2_ACCOUNT_KEY: { file: file('b2.key', 'K001secretkey\n') } } }),
      { env },
    )!;
    expect(secrets.env).toEqual({ B2_ACCOUNT_ID: '0012ab34cd56', B2_ACCOUNT_KEY: 'K001secretkey' });
    expect(secrets.password).toBe('pw');
  });

  it('refuses an unset or multi-line credential, naming it', () => {
    const stack = load({ repository: 's3:https://s3.example.com/b', password: { env: 'RESTIC_PW' }, env: { AWS_SECRET_ACCESS_KEY: { env: 'AWS_SECRET' } } });
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw' }) })).message).toBe(
      'stack.backup.env.AWS_SECRET_ACCESS_KEY.env: environment variable AWS_SECRET is not set; export it or change the reference',
    );
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw', AWS_SECRET: 'a\nb' }) })).message).toBe(
      'stack.backup.env.AWS_SECRET_ACCESS_KEY: holds a line break; give a one-line value',
    );
  });

  it.each(['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'MI_INPUTS', 'MI_SFTP_COMMAND', 'MI_ANYTHING'])(
    'refuses backup.env.%s, which messenger-infra sets itself',
    (name) => {
      const stack = load({ repository: SFTP, password: { env: 'RESTIC_PW' }, env: { [name]: { env: 'VALUE' } } });
      const e = refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw', VALUE: 'v' }) }));
      expect(e.message).toBe(`stack.backup.env.${name}: is set by messenger-infra itself; use backup.repository / backup.password instead`);
    },
  );

  // remote/backup.sh (bk_load_env) refuses PATH, IFS, ENV and LD_* in the settings file: refused here
  // too, at load time with the field's name, not halfway through `up` on the host.
  it.each(['PATH', 'IFS', 'ENV', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_'])('refuses backup.env.%s, which the host refuses in its settings', (name) => {
    const stack = load({ repository: SFTP, password: { env: 'RESTIC_PW' }, env: { [name]: { env: 'VALUE' } } });
    const e = refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw', VALUE: '/usr/bin' }) }));
    expect(e.field).toBe(`stack.backup.env.${name}`);
    expect(e.message).toBe(`stack.backup.env.${name}: would change the programs the backup runs, not restic's settings; remove it`);
  });

  it('refuses them before reading their reference (an unset variable is not the problem)', () => {
    const stack = load({ repository: SFTP, password: { env: 'RESTIC_PW' }, env: { LD_PRELOAD: { env: 'NOT_SET' } } });
    expect(refused(() => resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw' }) })).field).toBe('stack.backup.env.LD_PRELOAD');
  });

  it.each(['PATHS', 'MY_PATH', 'ENVIRONMENT', 'AWS_ENV', 'XLD_PRELOAD', 'Ld_x', 'path'])('takes backup.env.%s, which only looks like a refused name', (name) => {
    const stack = load({ repository: SFTP, password: { env: 'RESTIC_PW' }, env: { [name]: { env: 'VALUE' } } });
    expect(resolveBackupSecrets(stack, { env: isolated({ RESTIC_PW: 'pw', VALUE: 'v' }) })!.env).toEqual({ [name]: 'v' });
  });

  it('reads the sftp key and the known_hosts text as they are', () => {
    const key = file('id_ed25519', PRIVATE_KEY);
    const hosts = file('known_hosts', KNOWN_HOSTS);
    const secrets = resolveBackupSecrets(load({ repository: SFTP, password: { env: 'RESTIC_PW' }, sshKey: { file: key }, knownHosts: hosts }), { env: isolated({ RESTIC_PW: 'pw' }) })!;
    expect(secrets.sshKey).toBe(PRIVATE_KEY);
    expect(secrets.knownHosts).toBe(KNOWN_HOSTS);
    // An RSA key in the PEM form is a private key too.
    const rsa = file('id_rsa', '-----BEGIN RSA PRIVATE KEY-----\nMIIfixture\n-----END RSA PRIVATE KEY-----\n');
    expect(resolveBackupSecrets(load({ repository: SFTP, password: { env: 'RESTIC_PW' }, sshKey: { file: rsa }, knownHosts: hosts }), { env: isolated({ RESTIC_PW: 'pw' }) })!.sshKey).toMatch(/RSA PRIVATE KEY/);
  });

  it.each([
    ['a public key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixture ops@laptop\n'],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nMIIfixture\n-----END CERTIFICATE-----\n'],
    ['empty', ''],
  ])('refuses an sshKey file that is %s, naming the field', (_, text) => {
    const key = file('id_backup.pub', text);
    const hosts = file('known_hosts', KNOWN_HOSTS);
    const e = refused(() => resolveBackupSecrets(load({ repository: SFTP, password: { env: 'RESTIC_PW' }, sshKey: { file: key }, knownHosts: hosts }), { env: isolated({ RESTIC_PW: 'pw' }) }));
    expect(e.message).toBe(`stack.backup.sshKey.file: ${key} is not a private key; give the key file the host logs in to the backup server with (ssh-keygen -t ed25519 -N "")`);
  });

  // Root reads a 0000 file anyway.
  it.skipIf(process.getuid?.() === 0)('refuses an sshKey file it cannot read', () => {
    const key = file('id_backup', PRIVATE_KEY);
    const hosts = file('known_hosts', KNOWN_HOSTS);
    chmodSync(key, 0o000);
    const e = refused(() => resolveBackupSecrets(load({ repository: SFTP, password: { env: 'RESTIC_PW' }, sshKey: { file: key }, knownHosts: hosts }), { env: isolated({ RESTIC_PW: 'pw' }) }));
    expect(e.message).toBe(`stack.backup.sshKey.file: cannot read ${key} (EACCES); give a readable file holding the secret`);
  });
});

describe('databaseNameProblem: the databases the toolkit may create, grant or replace', () => {
  const FORMAT = 'must be a database name of a-z, 0-9 and _ (at most 64), like messenger_chat';
  const SYSTEM = "is one of MariaDB's own schemas; give the app's database, like messenger_chat";
  const SCRATCH = 'starts like the scratch databases of imports and drills; pick another name';

  it.each(['messenger_chat', 'shop', 'a', 'shop_2', `a${'b'.repeat(63)}`, 'mysql2', 'mysql_app', 'sys_log', 'mi_loader', 'mi_old', 'mi_drill', 'mi_', 'my_mi_load_x'])('takes %j', (name) => {
    expect(databaseNameProblem(name)).toBeNull();
  });

  it.each(['', 'Shop', 'X-Y', '1shop', '_shop', 'shop db', 'shop;drop', 'shop`', 'caf\u00e9', `a${'b'.repeat(64)}`])('refuses %j by its form', (name) => {
    expect(databaseNameProblem(name)).toBe(FORMAT);
  });

  it.each(['mysql', 'sys', 'performance_schema', 'information_schema'])("refuses %s, one of MariaDB's own", (name) => {
    expect(databaseNameProblem(name)).toBe(SYSTEM);
  });

  it.each(['mi_load_1', 'mi_load_', 'mi_old_messenger_chat', 'mi_drill_0a1b2c'])('refuses %s, named like a scratch database', (name) => {
    expect(databaseNameProblem(name)).toBe(SCRATCH);
  });

  it('app.database.name is checked with it, naming the field', () => {
    const app = (name: unknown) => loadStack({ overrides: { ...GOOD, app: { database: { name } } } as LoadOptions['overrides'] });
    expect(app('shop_db').app.database.name).toBe('shop_db');
    expect(refused(() => app('mysql')).message).toBe(`stack.app.database.name: "mysql" ${SYSTEM}`);
    expect(refused(() => app('information_schema')).message).toBe(`stack.app.database.name: "information_schema" ${SYSTEM}`);
    expect(refused(() => app('mi_drill_x')).message).toBe(`stack.app.database.name: "mi_drill_x" ${SCRATCH}`);
    expect(refused(() => app('Bad-Name')).message).toBe(`stack.app.database.name: "Bad-Name" ${FORMAT}`);
    expect(refused(() => app(42)).field).toBe('stack.app.database.name');
  });
});
