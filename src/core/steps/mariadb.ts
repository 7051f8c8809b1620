import { remote } from '../command.js';
import { factValue, queryFact, unitFact } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import type { RenderedFile } from '../render.js';
import { APP_DB_NAME, APP_DB_USER, HOST_PATHS } from '../host-model.js';
import { REMOTE_EXIT } from '../remote-exit.js';
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
    // mariadbd parses the option files before the restart; a failed restart brings the old file back.
    const files = planFileGroup(mariadbFiles(desired.files.full), facts, 'activate MariaDB config');
    // A config change restarts (and enables) the unit anyway.
    return mergePlans(files, files.commands.length > 0 ? noChange() : ensureRunning('mariadb', unit));
  },
};

const GRANTS = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX';
const DB_PASSWORD_KEY = 'MESSENGER_DB_PASSWORD';

/** Anonymous users, test database, app database, app user, its grants, and whether it can log in. */
export const databaseFact = queryFact('database', ['database', APP_DB_NAME, APP_DB_USER, HOST_PATHS.secretsEnvFile, DB_PASSWORD_KEY]);

/** A SQL string literal (MariaDB's default sql_mode treats backslash as an escape). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const APP_ACCOUNT = `${sqlString(APP_DB_USER)}@'localhost'`;

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
    // @db_password is defined by `mi-remote sql` from the 0600 secrets file on the host: the password
    // never crosses the wire, and the SQL reaches the client exactly as written here.
    const setPassword = (verb: string) => `EXECUTE IMMEDIATE CONCAT(${sqlString(`${verb} ${APP_ACCOUNT} IDENTIFIED BY `)}, QUOTE(@db_password));`;
    const sql = [
      ...anon.map((h) => `DROP USER IF EXISTS ''@${sqlString(h)};`),
      'DROP DATABASE IF EXISTS test;',
      `CREATE DATABASE IF NOT EXISTS ${APP_DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      setPassword('CREATE USER IF NOT EXISTS'),
      setPassword('ALTER USER'),
      `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${APP_ACCOUNT};`,
      `GRANT ${GRANTS} ON ${APP_DB_NAME}.* TO ${APP_ACCOUNT};`,
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
