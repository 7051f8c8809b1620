import { sh } from '../command.js';
import { commandFact, factValue, unitFact } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import type { RenderedFile } from '../render.js';
import { APP_DB_NAME, APP_DB_USER, HOST_PATHS } from '../host-model.js';
import { ensureRunning, mergePlans, noChange, type Step } from '../step.js';

const mariadbUnit = unitFact('mariadb');

function mariadbFiles(files: readonly RenderedFile[]): RenderedFile[] {
  return files.filter((f) => f.path === HOST_PATHS.mariadbConf);
}

/** The server option file, validated by mariadbd itself before a restart, and the unit running. */
export const mariadbConfigStep: Step = {
  id: 'mariadb-config',
  title: 'MariaDB server config',
  facts: (desired) => [mariadbUnit, ...fileFacts(mariadbFiles(desired.files.full))],
  plan(facts, desired) {
    const unit = factValue(facts, mariadbUnit);
    const files = planFileGroup(mariadbFiles(desired.files.full), facts, {
      label: 'activate MariaDB config',
      // mariadbd parses every option file and fails on an unknown or malformed option.
      validate: 'mariadbd --help --verbose >/dev/null',
      activate: 'systemctl enable --quiet mariadb && systemctl restart mariadb',
      recover: 'systemctl restart mariadb',
    });
    // A config change restarts (and enables) the unit anyway.
    return mergePlans(files, files.commands.length > 0 ? noChange() : ensureRunning('mariadb', unit));
  },
};

const GRANTS = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX';

/** The password alone, read from the secrets file: the file is data, never sourced as shell. */
const READ_DB_PASSWORD = `sed -n 's/^MESSENGER_DB_PASSWORD=//p' ${HOST_PATHS.secretsEnvFile} | head -n1`;

/** Anonymous users, test database, app database, app user, and whether the app user can log in. */
export const databaseFact = commandFact(
  'database',
  [
    'command -v mariadb >/dev/null || { echo absent; exit 0; }',
    `mariadb -N -B -e "SELECT CONCAT('anon ', host) FROM mysql.user WHERE user=''; SELECT CONCAT('db ', schema_name) FROM information_schema.schemata WHERE schema_name IN ('test', '${APP_DB_NAME}'); SELECT CONCAT('user ', user) FROM mysql.user WHERE user='${APP_DB_USER}' AND host='localhost'" 2>/dev/null || { echo down; exit 0; }`,
    `mariadb -N -B -e "SHOW GRANTS FOR '${APP_DB_USER}'@'localhost'" 2>/dev/null | sed -n 's/^GRANT \\(.*\\) ON .${APP_DB_NAME}.\\..*/grants \\1/p'`,
    `MYSQL_PWD="$(${READ_DB_PASSWORD})" mariadb -u ${APP_DB_USER} -N -e 'SELECT 1' ${APP_DB_NAME} >/dev/null 2>&1 && echo login-ok || echo login-failed`,
  ].join('\n'),
);

export const databaseStep: Step = {
  id: 'database',
  title: 'database and least-privilege user',
  facts: () => [databaseFact],
  plan(facts) {
    const lines = factValue(facts, databaseFact).stdout.split('\n').map((l) => l.trim());
    const anon = lines.filter((l) => l.startsWith('anon ')).map((l) => l.slice(5));
    const hasTest = lines.includes('db test');
    const hasDb = lines.includes(`db ${APP_DB_NAME}`);
    const hasUser = lines.includes(`user ${APP_DB_USER}`);
    // MariaDB prints privileges in its own order; compare them as sets.
    const sorted = (list: string) => list.split(', ').sort().join(', ');
    const grants = sorted(lines.find((l) => l.startsWith('grants '))?.slice(7) ?? '');
    const loginOk = lines.includes('login-ok');
    const changes = [
      ...anon.map((h) => `drop anonymous user ''@'${h}'`),
      ...(hasTest ? ['drop database test'] : []),
      ...(hasDb ? [] : [`create database ${APP_DB_NAME}`]),
      ...(hasUser ? [] : [`create user ${APP_DB_USER}@localhost`]),
      ...(grants === sorted(GRANTS) ? [] : [`grant ${GRANTS} on ${APP_DB_NAME}.* (only)`]),
      ...(hasUser && !loginOk ? [`reset ${APP_DB_USER}'s password to the one in ${HOST_PATHS.secretsEnvFile}`] : []),
    ];
    if (changes.length === 0) return noChange();
    // The password is expanded on the host from the 0600 secrets file (generated alphanumeric, so
    // safe inside SQL quotes); it never crosses the wire.
    const sql = [
      ...anon.map((h) => `DROP USER IF EXISTS ''@'${h.replace(/'/g, '')}';`),
      'DROP DATABASE IF EXISTS test;',
      `CREATE DATABASE IF NOT EXISTS ${APP_DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER IF NOT EXISTS '${APP_DB_USER}'@'localhost' IDENTIFIED BY '$MESSENGER_DB_PASSWORD';`,
      `ALTER USER '${APP_DB_USER}'@'localhost' IDENTIFIED BY '$MESSENGER_DB_PASSWORD';`,
      `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${APP_DB_USER}'@'localhost';`,
      `GRANT ${GRANTS} ON ${APP_DB_NAME}.* TO '${APP_DB_USER}'@'localhost';`,
    ].join('\n');
    return {
      commands: [sh('configure database and user', `set -e; MESSENGER_DB_PASSWORD="$(${READ_DB_PASSWORD})"; [ -n "$MESSENGER_DB_PASSWORD" ]; mariadb <<SQL\n${sql}\nSQL`)],
      changes,
      diffs: [],
    };
  },
};
