import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StackOverrides } from '../../src/config/load.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { envQuote, execStartOf, renderHostFiles } from '../../src/core/render.js';
import { configErrorOf } from '../helpers/config-error.js';
import { block, fileAt, model } from './fixtures.js';

/** What a user's app (`app.source`) gets rendered, against the bundled chat server's files. */
const SOURCE = mkdtempSync(join(tmpdir(), 'mi-render-app-'));
writeFileSync(join(SOURCE, 'package.json'), '{"name":"shop","version":"2.3.0"}');
writeFileSync(join(SOURCE, 'package-lock.json'), '{"lockfileVersion":3}\n');
afterAll(() => rmSync(SOURCE, { recursive: true, force: true }));

const userApp = (app: StackOverrides['app'] = {}, tier: 'mvp' | 'growth' | 'scale' = 'growth') =>
  model(tier, 'debian12', { app: { source: SOURCE, start: 'node dist/main.js', health: '/api/health', ...app } });
const files = (m: ReturnType<typeof model>) => renderHostFiles(m, 'full');
const site = (m: ReturnType<typeof model>) => fileAt(files(m), HOST_PATHS.nginxSite).content;
const directives = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));


describe("a user's app behind the site: the security headers that cannot break its frontend", () => {
  it('nosniff, a referrer policy and same-origin framing, but no CSP (the app knows its own)', () => {
    const d = directives(site(userApp()));
    expect(d).toEqual(
      expect.arrayContaining([
        'add_header X-Content-Type-Options "nosniff" always;',
        'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
        'add_header X-Frame-Options "SAMEORIGIN" always;',
      ]),
    );
    expect(d.some((l) => l.includes('Content-Security-Policy'))).toBe(false);
  });
});

describe("a user's app site", () => {
  it('proxies its WebSocket paths with Upgrade (Socket.IO and /ws by default), everything else through `location /`', () => {
    const text = site(userApp());
    const locations = directives(text).filter((l) => l.startsWith('location '));
    expect(locations).toEqual([
      'location = /mi-live {',
      'location / {',
      'location ^~ /.well-known/acme-challenge/ {',
      'location / {',
      'location ^~ /ws {',
      'location ^~ /socket.io/ {',
      'location / {',
    ]);
    for (const path of ['/ws', '/socket.io/']) {
      expect(directives(block(text, `location ^~ ${path}`))).toEqual(
        expect.arrayContaining(['proxy_pass http://messenger_chat;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Connection $connection_upgrade;', 'proxy_buffering off;']),
      );
    }
    // The bundled server's own locations are not there: the app owns every path.
    expect(text).not.toMatch(/location \/api\/|location = \/healthz|location = \/readyz|location = \/metrics/);
    // nginx's live check asks the app's own health path.
    expect(directives(block(text, 'location = /mi-live'))).toContain('proxy_pass http://messenger_chat/api/health;');
  });

  it('takes the WebSocket paths the stack names', () => {
    const text = site(userApp({ websocket: ['/graphql', '/realtime/'] }));
    expect(directives(text).filter((l) => l.startsWith('location ^~ /') && !l.includes('acme'))).toEqual(['location ^~ /graphql {', 'location ^~ /realtime/ {']);
    expect(text).not.toContain('/socket.io/');
  });

  it('two instances: sticky by client address (Socket.IO long-polling); one instance or the bundled server: least_conn', () => {
    expect(directives(block(site(userApp({ instances: 2 })), 'upstream messenger_chat'))).toEqual([
      'upstream messenger_chat {',
      'hash $remote_addr consistent;',
      'include /etc/nginx/messenger-chat-upstream.inc;',
      'keepalive 32;',
      '}',
    ]);
    expect(directives(block(site(userApp()), 'upstream messenger_chat'))[1]).toBe('least_conn;');
    // The bundled server's instances share the Redis bus: no stickiness needed even with three.
    expect(directives(block(site(model('scale')), 'upstream messenger_chat'))[1]).toBe('least_conn;');
  });

  it('the bundled site keeps its own locations and only /ws upgrades', () => {
    const text = site(model('mvp'));
    expect(directives(text).filter((l) => l.startsWith('location ^~ /') && !l.includes('acme'))).toEqual(['location ^~ /ws {']);
    for (const loc of ['location /api/', 'location = /healthz', 'location = /readyz', 'location = /metrics']) expect(text).toContain(`${loc} {`);
  });

  it('nginx lets a drained release go after the drain plus the stop grace', () => {
    const main = (m: ReturnType<typeof model>) => directives(fileAt(files(m), HOST_PATHS.nginxMain).content);
    expect(main(userApp({ drainSeconds: 90 }))).toContain('worker_shutdown_timeout 120s;');
    expect(main(userApp({ drainSeconds: 0 }))).toContain('worker_shutdown_timeout 30s;');
  });
});

describe("a user's app env files", () => {
  it('app env: NODE_ENV, the heap, the database settings under the usual names (no password), every value quoted', () => {
    const env = fileAt(files(userApp()), HOST_PATHS.appEnvFile).content;
    expect(directives(env)).toEqual([
      'NODE_ENV="production"',
      // growth: 1600 MB for one instance, three quarters of it heap.
      'NODE_OPTIONS="--max-old-space-size=1200"',
      'DB_HOST="127.0.0.1"',
      'DB_PORT="3306"',
      'DB_USERNAME="messenger_chat"',
      'DB_NAME="messenger_chat"',
    ]);
    expect(env).toContain(`# Settings of every instance of the app. Its secrets and the database password are in ${HOST_PATHS.appSecretsFile}.`);
    expect(env).not.toMatch(/PASSWORD|MESSENGER_/);
  });

  it("the stack's env after them, sorted, quoted with \\ and \" escaped; it may override NODE_ENV", () => {
    const env = fileAt(files(userApp({ env: { NODE_ENV: 'staging', Z_LAST: 'z', GREETING: 'say "hi" \\ bye', EMPTY: '', PORT_HINT: 8080, DEBUG: false } })), HOST_PATHS.appEnvFile).content;
    expect(directives(env)).toEqual([
      'NODE_OPTIONS="--max-old-space-size=1200"',
      'DB_HOST="127.0.0.1"',
      'DB_PORT="3306"',
      'DB_USERNAME="messenger_chat"',
      'DB_NAME="messenger_chat"',
      'DEBUG="false"',
      'EMPTY=""',
      'GREETING="say \\"hi\\" \\\\ bye"',
      'NODE_ENV="staging"',
      'PORT_HINT="8080"',
      'Z_LAST="z"',
    ]);
    expect(envQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  it('database.env renames the variables (the rest keep their defaults); database.url leaves them all to the secrets file', () => {
    const renamed = fileAt(files(userApp({ database: { name: 'shop', env: { host: 'TYPEORM_HOST', name: 'TYPEORM_DATABASE' } } })), HOST_PATHS.appEnvFile).content;
    expect(directives(renamed).filter((l) => !l.startsWith('NODE_'))).toEqual(['TYPEORM_HOST="127.0.0.1"', 'DB_PORT="3306"', 'DB_USERNAME="messenger_chat"', 'TYPEORM_DATABASE="shop"']);
    const url = fileAt(files(userApp({ database: { url: 'DATABASE_URL' } })), HOST_PATHS.appEnvFile).content;
    expect(directives(url)).toEqual(['NODE_ENV="production"', 'NODE_OPTIONS="--max-old-space-size=1200"']);
  });

  it('the heap follows the instance count: the tier\'s app memory shared', () => {
    const two = userApp({ instances: 2 });
    expect(fileAt(files(two), HOST_PATHS.appEnvFile).content).toContain('NODE_OPTIONS="--max-old-space-size=576"\n');
    expect(directives(fileAt(files(two), HOST_PATHS.systemdUnit).content)).toContain('MemoryMax=768M');
  });

  it('instance env files for every port of both slots: PORT first; Redis for the app from two instances up', () => {
    const m = userApp({ instances: 2, port: 8000 });
    expect(m.app.slots).toEqual([[8000, 8001], [8002, 8003]]);
    const out = files(m);
    expect(out.filter((f) => f.path.includes('/instance-')).map((f) => f.path)).toEqual([8000, 8001, 8002, 8003].map((p) => `${HOST_PATHS.instanceEnvDir}/instance-${p}.env`));
    expect(directives(fileAt(out, `${HOST_PATHS.instanceEnvDir}/instance-8002.env`).content)).toEqual([
      'PORT=8002',
      'MESSENGER_PORT=8002',
      'MESSENGER_INSTANCE=2',
    ]);
    // The bus the bundled server uses is not in your app's env: it reads REDIS_URL (app-secrets).
    expect(fileAt(out, HOST_PATHS.appEnvFile).content).not.toContain('MESSENGER_REDIS');
    expect(m.sizing.redis.enabled).toBe(true);
    expect(userApp().sizing.redis.enabled).toBe(false);
  });

  it('the bundled chat.env takes the stack env too, quoted, after its own settings', () => {
    const env = fileAt(files(model('mvp', 'debian12', { app: { env: { APP_VERSION: '2026.12.1', NOTE: 'a "b"' } } })), HOST_PATHS.appEnvFile).content;
    expect(directives(env).slice(-3)).toEqual(['MESSENGER_REDIS_USER=messenger-chat', 'APP_VERSION="2026.12.1"', 'NOTE="a \\"b\\""']);
  });

  it('a short drain shortens the spread of closes (never beyond it)', () => {
    const env = fileAt(files(model('mvp', 'debian12', { app: { drainSeconds: 1 } })), HOST_PATHS.appEnvFile).content;
    expect(env).toContain('MESSENGER_DRAIN_SPREAD_MS=1000\n');
  });
});

describe('where the app may connect (IPAddressDeny / app.egress)', () => {
  const unitOf = (m: ReturnType<typeof model>) => directives(fileAt(files(m), HOST_PATHS.systemdUnit).content);
  it('the bundled server: loopback only', () => {
    const unit = unitOf(model('mvp'));
    expect(unit).toEqual(expect.arrayContaining(['IPAddressDeny=any', 'IPAddressAllow=localhost']));
  });
  it('your app: anywhere unless app.egress lists where (loopback always)', () => {
    expect(unitOf(userApp()).filter((l) => l.startsWith('IPAddress'))).toEqual([]);
    expect(unitOf(userApp({ egress: ['10.0.0.0/16', '203.0.113.10'] }))).toEqual(expect.arrayContaining(['IPAddressDeny=any', 'IPAddressAllow=localhost 10.0.0.0/16 203.0.113.10']));
  });
  it('app.egress takes addresses and CIDR ranges only, and only for your app', () => {
    for (const bad of [['example.com'], ['10.0.0.0/33'], ['::1/129'], ['10.0.0.0/8/1']]) {
      expect(configErrorOf(() => userApp({ egress: bad })).message).toMatch(/^stack\.app\.egress\.0: .*must list IP addresses or CIDR ranges/);
    }
    expect(configErrorOf(() => model('mvp', 'debian12', { app: { egress: ['10.0.0.0/8'] } })).message).toMatch(/^stack\.app\.egress: .*applies to your own app only/);
  });
});

describe("a user's app unit", () => {
  it('reads the app secrets file (not the generated secrets) and runs from its instance link', () => {
    const unit = directives(fileAt(files(userApp()), HOST_PATHS.systemdUnit).content);
    expect(unit.filter((l) => l.startsWith('EnvironmentFile='))).toEqual([
      `EnvironmentFile=${HOST_PATHS.appEnvFile}`,
      `EnvironmentFile=${HOST_PATHS.appSecretsFile}`,
      `EnvironmentFile=${HOST_PATHS.instanceEnvDir}/instance-%i.env`,
    ]);
    expect(unit).toEqual(
      expect.arrayContaining([
        'Description=messenger app node dist/main.js (port %i)',
        'WorkingDirectory=/srv/messenger-chat/instances/%i',
        'ExecStart=/srv/messenger-chat/instances/%i/.mi-node/bin/node dist/main.js',
        'KillSignal=SIGTERM',
        // SIGTERM comes after drainSeconds; then the usual 20 s grace, no spread of its own.
        'TimeoutStopSec=20',
      ]),
    );
  });

  it.each([
    ['node dist/main.js', '/srv/messenger-chat/instances/%i/.mi-node/bin/node dist/main.js'],
    ['node --enable-source-maps dist/main.js', '/srv/messenger-chat/instances/%i/.mi-node/bin/node --enable-source-maps dist/main.js'],
    ['npm run start:prod', '/usr/local/bin/npm run start:prod'],
    ['npx next start -p 3000', '/usr/local/bin/npx next start -p 3000'],
    ['./bin/x', '/srv/messenger-chat/instances/%i/bin/x'],
    ['bin/server --flag=1', '/srv/messenger-chat/instances/%i/bin/server --flag=1'],
    ['/usr/bin/env node server.js', '/usr/bin/env node server.js'],
    ['  node   dist/main.js  ', '/srv/messenger-chat/instances/%i/.mi-node/bin/node dist/main.js'],
  ])('ExecStart of `%s`: %s', (start, execStart) => {
    expect(execStartOf(userApp({ start }))).toBe(execStart);
  });

  it('the bundled server: node with the tier heap and a bounded new space on its entry, inside the instance link', () => {
    expect(execStartOf(model('scale'))).toBe('/srv/messenger-chat/instances/%i/.mi-node/bin/node --max-old-space-size=816 --max-semi-space-size=16 /srv/messenger-chat/instances/%i/messenger-chat.mjs');
  });
});
