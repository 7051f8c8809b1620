import { DEFAULT_DATABASE_ENV } from '../../config/schema.js';
import { cmd, remote, type Command } from '../command.js';
import type { DesiredState } from '../desired-state.js';
import { factValue, queryFact } from '../facts.js';
import { sha256 } from '../file-plan.js';
import { APP_DB_USER, HOST_PATHS, REDIS_PORT, REDIS_USER } from '../host-model.js';
import { REDIS_PASSWORD_KEY, REDIS_URL_ENV } from '../redis.js';
import { MARIADB_TCP_PORT } from '../render.js';
import { MiError } from '../../errors/index.js';
import { noChange } from '../step.js';
import type { Step } from '../step.js';

/** Secrets kept on the host in the unit's EnvironmentFile: generated once, never printed. */
export const SECRET_KEYS = ['MESSENGER_DB_PASSWORD', 'MESSENGER_JWT_SECRET', REDIS_PASSWORD_KEY] as const;

/** Per key, the sha256 of its value (never the value), plus the file's mode and owner. */
export const secretsFact = queryFact('secrets', ['secrets', HOST_PATHS.secretsEnvFile, ...SECRET_KEYS]);

export function parseSecrets(stdout: string): { mode: string | null; hashes: Map<string, string> } {
  const hashes = new Map<string, string>();
  let mode: string | null = null;
  for (const line of stdout.split('\n')) {
    const [key = '', ...rest] = line.trim().split(' ');
    if (key === 'mode') mode = rest.join(' ');
    else if (key) hashes.set(key, rest[0] ?? '');
  }
  return { mode, hashes };
}

/** A user's app secrets file: per key the sha256 of its value; MI_INPUTS says what it was composed from. */
const APP_SECRETS_INPUTS = 'MI_INPUTS';
export const appSecretsFact = queryFact('app-secrets', ['secrets', HOST_PATHS.appSecretsFile, APP_SECRETS_INPUTS]);

/**
 * What the app's secrets file derives from the host's secrets: the database password (its own
 * variable, or a mysql:// URL holding it) and, with Redis, REDIS_URL. The generated passwords are 48
 * alphanumerics: they need no escaping inside a URL.
 */
function derivedSecrets(desired: DesiredState): string[][] {
  const db = desired.stack.app.database;
  const src = [HOST_PATHS.secretsEnvFile, 'MESSENGER_DB_PASSWORD'];
  const database = db.url
    ? ['--derive', db.url, ...src, `mysql://${APP_DB_USER}:`, `@${desired.model.placement.dbAddress}:${MARIADB_TCP_PORT}/${db.name}`]
    : ['--derive', db.env?.password ?? DEFAULT_DATABASE_ENV.password, ...src, '', ''];
  const redis = desired.model.sizing.redis.enabled
    ? [['--derive', REDIS_URL_ENV, HOST_PATHS.secretsEnvFile, REDIS_PASSWORD_KEY, `redis://${REDIS_USER}:`, `@${desired.model.placement.dbAddress}:${REDIS_PORT}`]]
    : [];
  return [database, ...redis];
}

/**
 * A user's app: its secrets (app.secrets, resolved and checked on the operator's machine) and the database
 * password (or URL) in one 0600 file, written whole so a secret removed from the stack goes too.
 * The database password is composed on the host from the secrets file: it never leaves the host.
 */
export const appSecretsStep: Step = {
  id: 'app-secrets',
  roles: ['app'],
  title: "app secrets (the app's own, database credentials)",
  applies: (desired) => desired.bundle.kind === 'source',
  facts: () => [appSecretsFact, secretsFact],
  plan(facts, desired) {
    const hostSecrets = parseSecrets(factValue(facts, secretsFact).stdout).hashes;
    const dbPassword = hostSecrets.get('MESSENGER_DB_PASSWORD') ?? '';
    const derived = derivedSecrets(desired);
    const derive = derived.flat();
    const keys = Object.keys(desired.appSecrets).sort();
    // The composition's inputs, hashed: values only as hashes, so the fact can say whether it changed.
    const inputs = sha256(JSON.stringify({
      secrets: keys.map((k) => [k, sha256(desired.appSecrets[k] ?? '')]),
      derive,
      dbPassword,
      ...(derived.length > 1 ? { redisPassword: hostSecrets.get(REDIS_PASSWORD_KEY) ?? '' } : {}),
    }));
    const { mode, hashes } = parseSecrets(factValue(facts, appSecretsFact).stdout);
    if (hashes.get(APP_SECRETS_INPUTS) === sha256(inputs) && mode === '600 root:root') return noChange();
    const stdin = [...keys.map((k) => `${k}=${desired.appSecrets[k]}`), `${APP_SECRETS_INPUTS}=${inputs}`, ''].join('\n');
    return {
      commands: [remote('write the app secrets', ['secret', 'write', HOST_PATHS.appSecretsFile, ...derive], { stdin })],
      changes: [`write ${HOST_PATHS.appSecretsFile} (${[...keys, ...derived.map((d) => d[1])].join(', ')}; 0600)`],
      diffs: [],
    };
  },
};

/** KEY=VALUE into the secrets file, 0600 root; the value is generated on the host or comes on stdin. */
function setSecret(label: string, key: string, value?: string): Command {
  const path = HOST_PATHS.secretsEnvFile;
  return value === undefined
    ? remote(label, ['secret', 'set', path, key, 'generate'])
    : remote(label, ['secret', 'set', path, key, 'stdin'], { stdin: value });
}

/** The secrets the db server generates and app servers elsewhere get a copy of (over SSH, never argv). */
export function dbSecretKeys(desired: DesiredState): string[] {
  return ['MESSENGER_DB_PASSWORD', ...(desired.model.sizing.redis.enabled ? [REDIS_PASSWORD_KEY] : [])];
}

export const secretsStep: Step = {
  id: 'secrets',
  title: 'secrets (DB password, JWT secret, Redis password)',
  facts: () => [secretsFact],
  plan(facts, desired) {
    const { mode, hashes } = parseSecrets(factValue(facts, secretsFact).stdout);
    const plan = { commands: [] as Command[], changes: [] as string[], diffs: [] as string[] };
    const path = HOST_PATHS.secretsEnvFile;
    const roles = desired.model.placement.roles;
    // The db server's secrets: generated there; an app server whose database is elsewhere holds the
    // db server's value, read from it this run.
    const dbSecret = (key: string) => {
      if (roles.has('db')) {
        if (hashes.has(key)) return;
        plan.commands.push(setSecret(key === REDIS_PASSWORD_KEY ? "generate Redis' password" : 'generate the database password', key));
        plan.changes.push(`generate ${key} (kept on the host, 0600)`);
        return;
      }
      const value = desired.peerSecrets?.[key];
      if (value === undefined) throw new MiError('MI_ERR_PEER_SECRET', `${key} did not come from the db server; run up for the whole stack, the db server first`);
      if (hashes.get(key) === sha256(value)) return;
      plan.commands.push(setSecret(`install ${key} from the db server`, key, value));
      plan.changes.push(`${hashes.has(key) ? 'replace' : 'install'} ${key} with the db server's (0600)`);
    };
    const [dbKey, ...redisKey] = dbSecretKeys(desired);
    dbSecret(dbKey!);
    const jwtFromEdge = roles.has('app') && !roles.has('edge') ? desired.peerSecrets?.MESSENGER_JWT_SECRET : undefined;
    if (!roles.has('app')) {
      // A db-only server runs no app: no JWT secret to keep there.
    } else if (desired.jwtSecret === undefined && !roles.has('edge')) {
      // An app server behind the edge verifies the tokens the edge's secret signs: the edge's, read this run.
      if (jwtFromEdge === undefined) throw new MiError('MI_ERR_PEER_SECRET', 'MESSENGER_JWT_SECRET did not come from the edge; run up for the whole stack, the edge before the other app servers');
      if (hashes.get('MESSENGER_JWT_SECRET') !== sha256(jwtFromEdge)) {
        plan.commands.push(setSecret('install MESSENGER_JWT_SECRET from the edge', 'MESSENGER_JWT_SECRET', jwtFromEdge));
        plan.changes.push(`${hashes.has('MESSENGER_JWT_SECRET') ? 'replace' : 'install'} MESSENGER_JWT_SECRET with the edge's (0600)`);
      }
    } else if (desired.jwtSecret !== undefined) {
      if (hashes.get('MESSENGER_JWT_SECRET') !== sha256(desired.jwtSecret)) {
        plan.commands.push(setSecret('install the supplied JWT secret', 'MESSENGER_JWT_SECRET', desired.jwtSecret));
        // Without app.jwtSecret in the stack the value came from the operator's shell: a variable left
        // set there must not replace the host's secret unnoticed (every token signed with it dies).
        plan.changes.push(
          desired.stack.app.jwtSecret === undefined && hashes.has('MESSENGER_JWT_SECRET')
            ? "replace the host's MESSENGER_JWT_SECRET with $MESSENGER_JWT_SECRET from the operator's shell (the stack names no app.jwtSecret): tokens signed with the old one stop working"
            : 'set MESSENGER_JWT_SECRET to the supplied secret',
        );
      }
    } else if (!hashes.has('MESSENGER_JWT_SECRET')) {
      plan.commands.push(setSecret('generate the JWT secret', 'MESSENGER_JWT_SECRET'));
      plan.changes.push('generate MESSENGER_JWT_SECRET (kept on the host, 0600)');
    }
    redisKey.forEach(dbSecret);
    if (plan.commands.length === 0 && mode !== null && mode !== '600 root:root') {
      plan.commands.push(cmd('secrets file owner', 'chown', 'root:root', path), cmd('secrets file mode', 'chmod', '600', path));
      plan.changes.push(`set ${path} to 0600 root:root (was ${mode})`);
    }
    return plan;
  },
};
