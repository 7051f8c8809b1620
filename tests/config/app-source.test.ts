import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { configErrorOf } from '../helpers/config-error.js';
import { resolveAppSecrets } from '../../src/config/jwt-secret.js';
import { loadStack, type LoadOptions } from '../../src/config/load.js';
import { jwtClaimsOf } from '../../src/config/jwt-secret.js';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { chatEnvView } from '../../src/core/render.js';

/**
 * A user's own app (`app.source`): the loader checks the folder is a project `npm ci` installs, fills
 * the build default from package.json, and refuses the new fields' bad values with one line naming
 * the field. Its secrets are read on the operator's machine, checked, never printed.
 */
const root = mkdtempSync(join(tmpdir(), 'mi-config-app-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A project folder under the temp root with these files. */
function project(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

const LOCK = '{"lockfileVersion":3}\n';
const APP = project('shop', { 'package.json': '{"name":"shop","version":"2.3.0","scripts":{"build":"nest build","start":"node dist/main.js"}}', 'package-lock.json': LOCK });
const NO_BUILD = project('plain', { 'package.json': '{"name":"plain","scripts":{"start":"node index.js"}}', 'npm-shrinkwrap.json': LOCK });
const GOOD = { tier: 'mvp', domain: 'chat.example.com', email: 'ops@example.com' } as const;
const USER_APP = { source: APP, start: 'node dist/main.js', health: '/api/health' } as const;

function load(app: Record<string, unknown>): ReturnType<typeof loadStack> {
  return loadStack({ overrides: { ...GOOD, app } as LoadOptions['overrides'] });
}

/** The one-line ConfigError (exit 2) loading `app` fails with. */
function refused(app: Record<string, unknown>, options: Partial<LoadOptions> = {}): ConfigError {
  return configErrorOf(() => (options.file ? loadStack(options) : load(app)));
}

describe('a user app that loads', () => {
  it('takes the folder, with the defaults of every new field', () => {
    const app = load(USER_APP).app;
    expect(app).toEqual({
      port: 3000,
      source: APP,
      start: 'node dist/main.js',
      health: '/api/health',
      // package.json has a build script: the host builds with it.
      build: 'npm run build',
      env: {},
      secrets: {},
      database: { name: 'messenger_chat' },
      drainSeconds: 30,
      strategy: 'zero-downtime',
      keepReleases: 5,
      healthTimeoutSeconds: 60,
    });
  });

  it('builds with npm run build only when package.json has that script; a build the stack names wins', () => {
    expect(load({ ...USER_APP, source: NO_BUILD }).app.build).toBeUndefined();
    expect(load({ ...USER_APP, build: 'npm run compile' }).app.build).toBe('npm run compile');
    expect(load({ ...USER_APP, source: NO_BUILD, build: 'make' }).app.build).toBe('make');
  });

  it('takes npm-shrinkwrap.json as the lock file too', () => {
    expect(load({ ...USER_APP, source: NO_BUILD }).app.source).toBe(NO_BUILD);
  });

  it('resolves a relative source against the stack file, and env values of any scalar as strings', () => {
    const file = join(root, 'stack.yaml');
    writeFileSync(file, 'tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  source: ./shop\n  start: node dist/main.js\n  health: /api/health\n  env:\n    LOG_LEVEL: debug\n    WORKERS: 4\n    FEATURE_X: true\n');
    const app = loadStack({ file, cwd: '/' }).app;
    expect(app.source).toBe(APP);
    expect(app.env).toEqual({ LOG_LEVEL: 'debug', WORKERS: '4', FEATURE_X: 'true' });
  });

  it('resolves and checks app.secrets files like every file the stack names', () => {
    const secret = join(root, 'stripe.key');
    writeFileSync(secret, 'sk_live_0123\n');
    const file = join(root, 'with-secret.yaml');
    writeFileSync(file, `tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  source: ./shop\n  start: node dist/main.js\n  health: /api/health\n  secrets:\n    STRIPE_KEY: { file: ./stripe.key }\n`);
    expect(loadStack({ file, cwd: '/' }).app.secrets).toEqual({ STRIPE_KEY: { file: secret } });
    const missing = refused({}, { file: (writeFileSync(file, `tier: mvp\ndomain: chat.example.com\nemail: ops@example.com\napp:\n  source: ./shop\n  start: node dist/main.js\n  health: /api/health\n  secrets:\n    STRIPE_KEY: { file: ./nope.key }\n`), file) });
    expect(missing.message).toBe(`stack.app.secrets.STRIPE_KEY.file: file ${join(root, 'nope.key')} does not exist; give the path of an existing file`);
  });
});

describe('a user app that is refused names the field', () => {
  it('start is required with source', () => {
    expect(refused({ source: APP, health: '/api/health' }).message).toBe('stack.app.start: is required with app.source; the command that serves, like `node dist/main.js`');
  });

  it('health is required with source', () => {
    expect(refused({ source: APP, start: 'node dist/main.js' }).message).toBe(
      'stack.app.health: is required with app.source; a path that answers 2xx when the app is ready, like /api/health',
    );
  });

  it.each([
    ['start', { start: 'node dist/main.js' }, 'stack.app.start: "node dist/main.js" applies to your own app only; set app.source too, or remove it'],
    ['build', { build: 'npm run build' }, 'stack.app.build: "npm run build" applies to your own app only; set app.source too, or remove it'],
    ['health', { health: '/api/health' }, 'stack.app.health: "/api/health" applies to your own app only; set app.source too, or remove it'],
    ['websocket', { websocket: ['/socket.io/'] }, 'stack.app.websocket: ["/socket.io/"] applies to your own app only; set app.source too, or remove it'],
    ['migrate', { migrate: 'npx prisma migrate deploy' }, 'stack.app.migrate: "npx prisma migrate deploy" applies to your own app only; set app.source too, or remove it'],
    ['instances', { instances: 2 }, 'stack.app.instances: 2 applies to your own app only; set app.source too, or remove it'],
    ['secrets', { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, 'stack.app.secrets: {"STRIPE_KEY":{"env":"STRIPE_KEY"}} applies to your own app only; set app.source too, or remove it'],
    ['database.url', { database: { url: 'DATABASE_URL' } }, 'stack.app.database: {"url":"DATABASE_URL"} env/url apply to your own app only; set app.source too'],
  ])('%s without source (the bundled server would ignore it)', (_name, app, message) => {
    expect(refused(app).message).toBe(message);
  });

  it('the bundled server still takes env, a database name and the release settings', () => {
    const app = load({ env: { APP_VERSION: '7' }, database: { name: 'chat' }, drainSeconds: 10, strategy: 'restart', keepReleases: 3 }).app;
    expect(app).toMatchObject({ env: { APP_VERSION: '7' }, database: { name: 'chat' }, drainSeconds: 10, strategy: 'restart', keepReleases: 3 });
  });

  it.each([
    ['an env name the database already uses', { env: { DB_HOST: 'db.internal' } }, 'stack.app.env.DB_HOST: "db.internal" DB_HOST is already app.database.host; use another name'],
    ['PORT, which each instance gets', { env: { PORT: '8080' } }, 'stack.app.env.PORT: "8080" PORT is already the instance port; use another name'],
    ['a secret with an env name', { env: { API_KEY: 'x' }, secrets: { API_KEY: { env: 'API_KEY' } } }, 'stack.app.secrets.API_KEY: {"env":"API_KEY"} API_KEY is already set elsewhere in the stack; use another name'],
    ['a renamed database variable', { env: { DATABASE_HOST: 'x' }, database: { env: { host: 'DATABASE_HOST' } } }, 'stack.app.env.DATABASE_HOST: "x" DATABASE_HOST is already app.database.host; use another name'],
    ['the database URL variable as PORT', { database: { url: 'PORT' } }, 'stack.app.database.url: "PORT" PORT is already the instance port; use another name'],
  ])('one name, one meaning: %s', (_name, app, message) => {
    expect(refused({ ...USER_APP, ...app }).message).toBe(message);
  });

  it.each([
    ['quotes', 'node "dist/main.js"'],
    ['a $ expansion', 'node $HOME/main.js'],
    ['a % specifier', 'node dist/main.js --instance=%i'],
    ['a shell operator', 'npm run build && node dist/main.js'],
  ])("a start command with %s (systemd's ExecStart would change it)", (_name, start) => {
    const err = refused({ ...USER_APP, start });
    expect(err.field).toBe('stack.app.start');
    expect(err.message).toBe(`stack.app.start: ${JSON.stringify(start)} must be words of letters, digits and ._/-=:@+, like \`node dist/main.js\` (no quotes, $ or %)`);
  });

  it.each([
    ['health', { health: 'api/health' }, 'stack.app.health: "api/health" must be a path like /api/health'],
    ['health with a query', { health: '/health?db=1' }, 'stack.app.health: "/health?db=1" must be a path like /api/health'],
    ['websocket, empty', { websocket: [] }, 'stack.app.websocket: [] must list at least one path'],
    ['websocket path', { websocket: ['/ws; return 200'] }, 'stack.app.websocket.0: "/ws; return 200" must be a path like /api/health'],
    ['build on two lines', { build: 'npm ci\nnpm run build' }, 'stack.app.build: "npm ci\\nnpm run build" must be one line'],
    ['migrate on two lines', { migrate: 'a\nb' }, 'stack.app.migrate: "a\\nb" must be one line'],
    ['an env value on two lines', { env: { MOTD: 'a\nb' } }, 'stack.app.env.MOTD: "a\\nb" must be one line'],
    ['an env name', { env: { 'BAD-NAME': 'x' } }, 'stack.app.env.BAD-NAME: "BAD-NAME" must be an environment variable name like DB_HOST'],
    ['a secret name', { secrets: { 'stripe key': { env: 'STRIPE' } } }, 'stack.app.secrets.stripe key: "stripe key" must be an environment variable name like DB_HOST'],
    ['a secret reference', { secrets: { STRIPE: { value: 'inline' } } }, 'stack.app.secrets.STRIPE: {"value":"inline"} must be { env: NAME } or { file: PATH }'],
    ['strategy', { strategy: 'blue-green' }, 'stack.app.strategy: "blue-green" must be zero-downtime or restart'],
    ['instances', { instances: 9 }, 'stack.app.instances: 9 must be a whole number from 1 to 8'],
    ['drainSeconds', { drainSeconds: 3601 }, 'stack.app.drainSeconds: 3601 must be a whole number of seconds from 0 to 3600'],
    ['keepReleases', { keepReleases: 0 }, 'stack.app.keepReleases: 0 must be a whole number from 1 to 50'],
    ['healthTimeoutSeconds', { healthTimeoutSeconds: 1 }, 'stack.app.healthTimeoutSeconds: 1 must be a whole number of seconds from 5 to 600'],
    ['database name', { database: { name: 'Shop-DB' } }, 'stack.app.database.name: "Shop-DB" must be a database name of a-z, 0-9 and _ (at most 64), like messenger_chat'],
    ['database env and url', { database: { env: { host: 'H' }, url: 'U' } }, 'stack.app.database: {"env":{"host":"H"},"url":"U"} takes env or url, not both'],
  ])('a bad %s', (_name, app, message) => {
    expect(refused({ ...USER_APP, ...app }).message).toBe(message);
  });
});

describe('the source folder must be a project npm ci installs', () => {
  it('a folder that does not exist', () => {
    expect(refused({ ...USER_APP, source: join(root, 'nowhere') }).message).toBe(`stack.app.source: folder ${join(root, 'nowhere')} does not exist; give the folder of your Node.js project`);
  });

  it('no package.json', () => {
    const dir = project('empty', { 'README.md': '# hi\n' });
    expect(refused({ ...USER_APP, source: dir }).message).toBe(`stack.app.source: ${dir} has no package.json; give the folder of your Node.js project`);
  });

  it('a package.json that is not JSON', () => {
    const dir = project('broken', { 'package.json': '{"name": ', 'package-lock.json': LOCK });
    expect(refused({ ...USER_APP, source: dir }).message).toMatch(new RegExp(`^stack\\.app\\.source: ${dir}/package\\.json is not valid JSON \\(.+\\)$`));
  });

  it('no lock file', () => {
    const dir = project('nolock', { 'package.json': '{"name":"x"}' });
    expect(refused({ ...USER_APP, source: dir }).message).toBe(
      `stack.app.source: ${dir} has no package-lock.json; run \`npm install\` there and commit the lock file, since the host installs with \`npm ci\``,
    );
  });

  it.each(['yarn.lock', 'pnpm-lock.yaml'])('only %s', (lock) => {
    const dir = project(`only-${lock}`, { 'package.json': '{"name":"x"}', [lock]: '' });
    expect(refused({ ...USER_APP, source: dir }).message).toBe(
      `stack.app.source: ${dir} has no package-lock.json (only ${lock}); run \`npm install\` there and commit the lock file, since the host installs with \`npm ci\``,
    );
  });
});

describe("the app's secrets, read on the operator's machine", () => {
  const base = load(USER_APP).app;
  const stack = (secrets: Record<string, { env: string } | { file: string }>) => ({ app: { ...base, secrets } });

  it('reads each from its environment variable or file, trimmed', () => {
    const file = join(root, 'token.txt');
    writeFileSync(file, '  tok_123  \n');
    expect(resolveAppSecrets(stack({ STRIPE_KEY: { env: 'MY_STRIPE' }, TOKEN: { file } }), { MY_STRIPE: 'sk_live_9\n' })).toEqual({ STRIPE_KEY: 'sk_live_9', TOKEN: 'tok_123' });
    expect(resolveAppSecrets(stack({}), {})).toEqual({});
  });

  it.each([
    ['an unset variable', { STRIPE_KEY: { env: 'MY_STRIPE' } }, {}, 'stack.app.secrets.STRIPE_KEY.env: environment variable MY_STRIPE is not set; export it or remove the secret'],
    ['an empty value', { STRIPE_KEY: { env: 'MY_STRIPE' } }, { MY_STRIPE: '  ' }, 'stack.app.secrets.STRIPE_KEY: is empty; give the secret a value'],
    ['a quote', { STRIPE_KEY: { env: 'MY_STRIPE' } }, { MY_STRIPE: 'a"b' }, "stack.app.secrets.STRIPE_KEY: holds a line break, quote or backslash, which systemd's EnvironmentFile would change; use another value"],
    ['a line break inside', { STRIPE_KEY: { env: 'MY_STRIPE' } }, { MY_STRIPE: 'a\nb' }, "stack.app.secrets.STRIPE_KEY: holds a line break, quote or backslash, which systemd's EnvironmentFile would change; use another value"],
  ] as const)('refuses %s, naming the secret but never its value', (_name, secrets, env, message) => {
    let error: unknown;
    try {
      resolveAppSecrets(stack(secrets), env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(message);
  });

  it('an unreadable file', () => {
    let error: unknown;
    try {
      resolveAppSecrets(stack({ TOKEN: { file: join(root, 'gone.txt') } }), {});
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).message).toBe(`stack.app.secrets.TOKEN.file: cannot read ${join(root, 'gone.txt')} (ENOENT); give a readable file holding the secret`);
  });
});

describe("the bundled server's token claims (app.jwtAudience / app.jwtIssuer)", () => {
  it('reach chat.env as MESSENGER_JWT_AUDIENCE / MESSENGER_JWT_ISSUER, quoted', () => {
    const stack = load({ jwtAudience: 'chat.example.com', jwtIssuer: 'https://api.example.com' });
    const env = chatEnvView(buildHostModel(stack, OS_PROFILES.debian13)).env;
    expect(env.slice(0, 2)).toEqual([
      { key: 'MESSENGER_JWT_AUDIENCE', value: '"chat.example.com"' },
      { key: 'MESSENGER_JWT_ISSUER', value: '"https://api.example.com"' },
    ]);
    expect(jwtClaimsOf(stack)).toEqual({ audience: 'chat.example.com', issuer: 'https://api.example.com' });
  });

  it('are refused with your own app (it checks its own tokens) and with spaces', () => {
    expect(refused({ ...USER_APP, jwtAudience: 'chat' }).message).toBe('stack.app.jwtAudience: "chat" applies to the bundled chat server only; check the claim in your app, or remove app.source');
    expect(refused({ jwtIssuer: 'an issuer' }).field).toBe('stack.app.jwtIssuer');
  });
});
