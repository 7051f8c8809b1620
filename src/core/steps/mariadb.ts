import { remote } from '../command.js';
import { factValue, queryFact, unitFact } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import type { RenderedFile } from '../render.js';
import type { DesiredState } from '../desired-state.js';
import { APP_DB_USER, HOST_PATHS } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import { ensureRunning, mergePlans, noChange, type Step } from '../step.js';

const mariadbUnit = unitFact('mariadb');

function mariadbFiles(files: readonly RenderedFile[]): RenderedFile[] {
  return files.filter((f) => f.path === HOST_PATHS.mariadbConf);
}

/** The server option file, validated by mariadbd itself before a restart, and the unit running. */
export const mariadbConfigStep: Step = {
  id: 'mariadb-config',
  roles: ['db'],
  title: 'MariaDB server config',
  facts: (desired) => [mariadbUnit, ...fileFacts(mariadbFiles(desired.files.full))],
  plan(facts, desired) {
    const unit = factValue(facts, mariadbUnit);
    // mariadbd parses the option files before the restart; a failed restart brings the old file back.
    const files = planFileGroup(mariadbFiles(desired.files.full), facts, 'activate MariaDB config');
    // A config change restarts (and enables) the unit anyway.
    return mergePlans(files, files.commands.length > 0 ? noChange() : ensureRunning('mariadb', unit));
  },
};

/**
 * What the app's user may do, on its own database only: what a migration tool needs (tables, indexes,
 * keys, views, triggers, routines) and nothing outside it.
 */
export const GRANTS = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'ALTER', 'INDEX', 'DROP', 'REFERENCES', 'CREATE VIEW', 'SHOW VIEW',
  'TRIGGER', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EXECUTE', 'LOCK TABLES', 'CREATE TEMPORARY TABLES',
].join(', ');
const DB_PASSWORD_KEY = 'MESSENGER_DB_PASSWORD';
/**
 * Where the app's user may log in from: the socket (the bundled server) and 127.0.0.1 (a user's app
 * usually dials it; skip-name-resolve), plus each app server elsewhere by its private address.
 */
function accountHosts(desired: DesiredState): string[] {
  return ['localhost', '127.0.0.1', ...desired.model.placement.dbClients];
}

/** Anonymous users, test database, app database, app user, its grants, and whether it can log in. */
export function databaseFact(dbName: string) {
  return queryFact(`database:${dbName}`, ['database', dbName, APP_DB_USER, HOST_PATHS.secretsEnvFile, DB_PASSWORD_KEY]);
}

/** A SQL string literal (MariaDB's default sql_mode treats backslash as an escape). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const account = (host: string) => `${sqlString(APP_DB_USER)}@${sqlString(host)}`;

export const databaseStep: Step = {
  id: 'database',
  roles: ['db'],
  title: 'database and least-privilege user',
  facts: (desired) => [databaseFact(desired.model.app.dbName)],
  plan(facts, desired) {
    const dbName = desired.model.app.dbName;
    const lines = factValue(facts, databaseFact(dbName)).stdout.split('\n').map((l) => l.trim());
    const anon = lines.filter((l) => l.startsWith('anon ')).map((l) => l.slice(5));
    const hasTest = lines.includes('db test');
    const hasDb = lines.includes(`db ${dbName}`);
    // MariaDB prints privileges in its own order; compare them as sets.
    const sorted = (list: string) => list.split(', ').sort().join(', ');
    const hosts = accountHosts(desired);
    const found = lines.filter((l) => l.startsWith(`user ${APP_DB_USER}@`)).map((l) => l.slice(`user ${APP_DB_USER}@`.length));
    // An app server that left the stack keeps no way in.
    const staleUsers = found.filter((h) => !hosts.includes(h));
    const missingUsers = hosts.filter((h) => !found.includes(h));
    const wrongGrants = hosts.filter((h) => sorted(lines.find((l) => l.startsWith(`grants@${h} `))?.slice(`grants@${h} `.length) ?? '') !== sorted(GRANTS));
    const loginOk = lines.includes('login-ok');
    const changes = [
      ...anon.map((h) => `drop anonymous user ''@'${h}'`),
      ...(hasTest ? ['drop database test'] : []),
      ...(hasDb ? [] : [`create database ${dbName}`]),
      ...staleUsers.map((h) => `drop user ${APP_DB_USER}@${h} (no app server there any more)`),
      ...missingUsers.map((h) => `create user ${APP_DB_USER}@${h}`),
      ...wrongGrants.map((h) => `grant ${GRANTS} on ${dbName}.* (only) to ${APP_DB_USER}@${h}`),
      ...(missingUsers.length < hosts.length && !loginOk ? [`reset ${APP_DB_USER}'s password to the one in ${HOST_PATHS.secretsEnvFile}`] : []),
    ];
    if (changes.length === 0) return noChange();
    // @db_password is defined by `mi-remote sql` from the 0600 secrets file on the host: the password
    // never crosses the wire, and the SQL reaches the client exactly as written here.
    const setPassword = (verb: string, host: string) => `EXECUTE IMMEDIATE CONCAT(${sqlString(`${verb} ${account(host)} IDENTIFIED BY `)}, QUOTE(@db_password));`;
    const sql = [
      ...anon.map((h) => `DROP USER IF EXISTS ''@${sqlString(h)};`),
      'DROP DATABASE IF EXISTS test;',
      `CREATE DATABASE IF NOT EXISTS ${dbName} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      ...staleUsers.map((h) => `DROP USER IF EXISTS ${account(h)};`),
      ...hosts.flatMap((h) => [
        setPassword('CREATE USER IF NOT EXISTS', h),
        setPassword('ALTER USER', h),
        // Grants on any other database (an old database.name) go: only the named one is the app's.
        `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${account(h)};`,
        `GRANT ${GRANTS} ON ${dbName}.* TO ${account(h)};`,
      ]),
      '',
    ].join('\n');
    return {
      commands: [
        remote('configure database and user', ['sql', '--secret', `db_password=${HOST_PATHS.secretsEnvFile}:${DB_PASSWORD_KEY}`], {
          stdin: sql,
          errors: { [REMOTE_EXIT.FAILED]: 'MI_ERR_DATABASE' },
        }),
      ],
      changes,
      diffs: [],
    };
  },
};
