import { describe, expect, it } from 'vitest';
import { HOST_PATHS } from '../../src/core/host-model.js';
import {
  APP_PING_INTERVAL_MS,
  MANAGED_MARKER,
  NGINX_STATUS_PATH,
  NGINX_STATUS_PORT,
  WS_PROXY_TIMEOUT_S,
  assertCompleteView,
  redisConfFile,
  renderHostFiles,
  type RenderedFile,
  siteView,
} from '../../src/core/render.js';
import { redisUsersTemplate } from '../../src/core/redis.js';
import { deriveSizing } from '../../src/core/sizing.js';
import { renderTemplate } from '../../src/core/templates.js';
import { TIER_NAMES } from '../../src/core/tiers.js';
import { block, DOMAIN, fileAt, model } from './fixtures.js';

/** Directive-level assertions on the rendered files (no golden files), and the strict-rendering guarantees. */


/** The `server` block that listens as `listen` says (the site has several). */
function serverBlock(text: string, listen: string): string {
  const at = text.indexOf(`listen ${listen}`);
  if (at < 0) throw new Error(`no server listening on ${listen}`);
  return block(text.slice(text.lastIndexOf('server {', at)), 'server');
}

function directives(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('strict rendering', () => {
  it('a template field missing from the view throws instead of rendering empty', () => {
    const view: Partial<ReturnType<typeof siteView>> = { ...siteView(model('mvp')) };
    delete view.certDir;
    expect(() => renderTemplate('nginx/site.conf.hbs', view)).toThrow(/"certDir" not defined/);
  });

  it('a missing field inside a partial throws too', () => {
    const view = siteView(model('mvp'));
    const { acmeWebroot: _dropped, ...http } = view.http;
    expect(() => renderTemplate('nginx/site-bootstrap.conf.hbs', { ...view, http })).toThrow(/"acmeWebroot" not defined/);
  });

  it('a block helper on a field missing from the view throws too (strict mode alone would take the else branch)', () => {
    const view: Partial<ReturnType<typeof siteView>> = { ...siteView(model('mvp')) };
    delete view.http2Directive;
    expect(() => renderTemplate('nginx/site.conf.hbs', view)).toThrow(/\{\{#if\}\} on a field the view does not define/);
    const noPaths: Partial<ReturnType<typeof siteView>> = { ...siteView(model('mvp')) };
    delete noPaths.websocketPaths;
    expect(() => renderTemplate('nginx/site.conf.hbs', noPaths)).toThrow(/\{\{#each\}\} on a field/);
  });

  it('an undefined, NaN or multi-line value in a view model is refused before rendering', () => {
    expect(() => assertCompleteView({ a: { b: undefined } })).toThrow('view.a.b is missing');
    expect(() => assertCompleteView({ n: Number.NaN })).toThrow('view.n is NaN');
    expect(() => assertCompleteView({ s: 'x\nuser root;' })).toThrow('view.s contains a line break');
    expect(() => assertCompleteView({ list: [], ok: true, n: 1, s: 'x' })).not.toThrow();
  });

  it('renderHostFiles fails on an incomplete host model', () => {
    const m = model('mvp');
    const broken = { ...m, sizing: { ...m.sizing, app: { ...m.sizing.app, heapMb: undefined as unknown as number } } };
    expect(() => renderHostFiles(broken, 'full')).toThrow(/heapMb is missing/);
    const noSemi = { ...m, sizing: { ...m.sizing, app: { ...m.sizing.app, semiSpaceMb: undefined as unknown as number } } };
    expect(() => renderHostFiles(noSemi, 'full')).toThrow(/semiSpaceMb is missing/);
  });
});

describe.each(TIER_NAMES)('rendered files of the %s tier', (tier) => {
  const m = model(tier);
  const s = deriveSizing(tier);
  const files = renderHostFiles(m, 'full');
  const get = (path: string) => fileAt(files, path).content;

  it('is deterministic and marks every file as managed', () => {
    expect(renderHostFiles(model(tier), 'full')).toEqual(files);
    for (const f of files) {
      const lines = f.content.split('\n');
      expect(lines[0] === '#!/bin/sh' ? lines[1] : lines[0], f.path).toBe(MANAGED_MARKER);
      expect(f.content.endsWith('\n'), f.path).toBe(true);
      expect(f.content, f.path).not.toMatch(/undefined|NaN|\[object Object\]/);
    }
  });

  it('has the metadata the executor relies on', () => {
    const ports = m.appPorts;
    const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
    expect(files.map((f) => f.path)).toEqual([
      HOST_PATHS.sysctlConf,
      HOST_PATHS.mariadbConf,
      HOST_PATHS.systemdUnit,
      HOST_PATHS.appEnvFile,
      ...ports.map((p) => `${HOST_PATHS.instanceEnvDir}/instance-${p}.env`),
      HOST_PATHS.nginxMain,
      HOST_PATHS.nginxSite,
      HOST_PATHS.certbotDeployHook,
      HOST_PATHS.redisConf,
    ]);
    // nginx -t runs against the main config, which includes the site.
    expect(byPath[HOST_PATHS.nginxMain]).toMatchObject({ validate: `nginx:${HOST_PATHS.nginxMain}`, notify: [{ unit: 'nginx.service', action: 'reload' }], mode: 0o644 });
    expect(byPath[HOST_PATHS.nginxSite]).toMatchObject({ validate: `nginx:${HOST_PATHS.nginxMain}`, notify: [{ unit: 'nginx.service', action: 'reload' }] });
    // The release program restarts instances (on the other slot); a file change never does by itself.
    expect(byPath[HOST_PATHS.systemdUnit]).toMatchObject({
      // A template unit is verified through its first instance.
      validate: `systemd:messenger-chat@${ports[0]}.service`,
      notify: [{ unit: 'messenger-chat@.service', action: 'daemon-reload' }],
    });
    expect(byPath[HOST_PATHS.appEnvFile]).toMatchObject({ notify: [], mode: 0o644 });
    for (const p of ports) expect(byPath[`${HOST_PATHS.instanceEnvDir}/instance-${p}.env`]).toMatchObject({ notify: [], mode: 0o644 });
    // Both slots: the instances of the live release and of the next one.
    expect(ports).toEqual([...m.app.slots[0], ...m.app.slots[1]]);
    expect(ports).toHaveLength(2 * s.app.instances);
    expect(byPath[HOST_PATHS.mariadbConf]).toMatchObject({ validate: 'mariadb', notify: [{ unit: 'mariadb.service', action: 'restart' }] });
    expect(byPath[HOST_PATHS.sysctlConf]).toMatchObject({ kernelWide: true, validate: `sysctl:${HOST_PATHS.sysctlConf}`, notify: [] });
    expect(byPath[HOST_PATHS.certbotDeployHook]).toMatchObject({ mode: 0o755, notify: [] });
    // Root's, except redis.conf: redis:redis 0640 as the package's statoverride has it.
    for (const f of files) expect([f.owner, f.group]).toEqual(f.path === HOST_PATHS.redisConf ? ['redis', 'redis'] : ['root', 'root']);
    expect(byPath[HOST_PATHS.redisConf]).toMatchObject({ mode: 0o640, notify: [{ unit: 'redis-server.service', action: 'restart' }] });
    expect(files.filter((f) => f.kernelWide).map((f) => f.path)).toEqual([HOST_PATHS.sysctlConf]);
  });

  it('nginx.conf: sized per tier, JSON logs, only conf.d', () => {
    const d = directives(get(HOST_PATHS.nginxMain));
    expect(d).toContain(`worker_processes ${s.nginx.workerProcesses};`);
    expect(d).toContain(`worker_rlimit_nofile ${s.nginx.workerRlimitNofile};`);
    // Old workers after a reload let a drained release's sockets go: drain (30 s) + the unit's stop grace (20 s) + 10 s.
    expect(d).toContain('worker_shutdown_timeout 60s;');
    const events = directives(block(get(HOST_PATHS.nginxMain), 'events'));
    expect(events).toEqual(expect.arrayContaining([`worker_connections ${s.nginx.workerConnections};`, 'multi_accept on;', 'use epoll;']));
    expect(d).toEqual(expect.arrayContaining(['sendfile on;', 'server_tokens off;', 'gzip on;', 'include /etc/nginx/mime.types;', 'include /etc/nginx/conf.d/*.conf;']));
    expect(d).toContain('access_log /var/log/nginx/access.log json_lines;');
    expect(get(HOST_PATHS.nginxMain)).toMatch(/log_format json_lines escape=json/);
    expect(get(HOST_PATHS.nginxMain)).not.toMatch(/^\s*include .*sites-enabled/m);
  });

  it('nginx.conf: stub_status on a loopback-only server, nothing else served there', () => {
    const main = get(HOST_PATHS.nginxMain);
    const status = block(main, 'server');
    expect(directives(status)).toEqual([
      'server {',
      `listen 127.0.0.1:${NGINX_STATUS_PORT};`,
      'access_log off;',
      `location = ${NGINX_STATUS_PATH} {`,
      'stub_status;',
      '}',
      'location / {',
      'return 404;',
      '}',
      '}',
    ]);
    // The only listener of the main config, and the status page nowhere in the public site.
    expect(directives(main).filter((l) => l.startsWith('listen '))).toEqual([`listen 127.0.0.1:${NGINX_STATUS_PORT};`]);
    expect(get(HOST_PATHS.nginxSite)).not.toMatch(/stub_status|nginx_status/);
    // Below the ephemeral range, so an outgoing connection never holds the port nginx needs.
    expect(NGINX_STATUS_PORT).toBeLessThan(10_000);
    expect(m.appPorts).not.toContain(NGINX_STATUS_PORT);
  });

  it('site: upstream from the live file, live check, redirect, TLS 1.3, WebSocket proxying', () => {
    const site = get(HOST_PATHS.nginxSite);
    expect(directives(block(site, 'map $http_upgrade $connection_upgrade'))).toEqual(['map $http_upgrade $connection_upgrade {', 'default upgrade;', "'' close;", '}']);
    // The servers are the live release's, in the file each switch writes; none in the site itself.
    expect(directives(block(site, 'upstream messenger_chat'))).toEqual([
      'upstream messenger_chat {',
      'least_conn;',
      'include /etc/nginx/messenger-chat-upstream.inc;',
      'keepalive 32;',
      '}',
    ]);
    expect(site).not.toMatch(/server 127\.0\.0\.1:\d+/);
    // nginx's own check of a switch, on loopback: through the upstream to the health path, naming the instance.
    expect(directives(serverBlock(site, '127.0.0.1:8082;'))).toEqual([
      'server {',
      'listen 127.0.0.1:8082;',
      'access_log off;',
      'location = /mi-live {',
      'proxy_pass http://messenger_chat/readyz;',
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'add_header X-Mi-Upstream $upstream_addr always;',
      '}',
      'location / {',
      'return 404;',
      '}',
      '}',
    ]);

    const http = serverBlock(site, '80 default_server');
    expect(directives(http)).toEqual(
      expect.arrayContaining(['listen 80 default_server backlog=4096;', 'listen [::]:80 default_server backlog=4096;', 'root /var/www/acme;', `return 301 https://${DOMAIN}$request_uri;`]),
    );
    expect(http).toContain('location ^~ /.well-known/acme-challenge/ {');

    const https = block(site.slice(site.indexOf('listen 443') - 200), 'server');
    const d = directives(https);
    expect(d).toEqual(
      expect.arrayContaining([
        'listen 443 ssl http2 reuseport backlog=4096;',
        `ssl_certificate /etc/letsencrypt/live/${DOMAIN}/fullchain.pem;`,
        `ssl_certificate_key /etc/letsencrypt/live/${DOMAIN}/privkey.pem;`,
        'ssl_protocols TLSv1.3;',
        'add_header Strict-Transport-Security "max-age=63072000" always;',
        'add_header X-Content-Type-Options "nosniff" always;',
        // The token rides in the URL fragment; no referrer leaves the page at all.
        'add_header Referrer-Policy "no-referrer" always;',
        'add_header X-Frame-Options "DENY" always;',
        `add_header Content-Security-Policy "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' wss://${DOMAIN}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;`,
        'client_max_body_size 64k;',
      ]),
    );
    // Inherited by every location only while none sets add_header of its own.
    expect(https.slice(https.search(/^ *location /m)).match(/add_header/g) ?? []).toEqual([]);
    expect(https).not.toMatch(/ssl_stapling/);
    const ws = directives(block(https, 'location ^~ /ws'));
    expect(ws).toEqual(
      expect.arrayContaining([
        'proxy_pass http://messenger_chat;',
        'proxy_http_version 1.1;',
        'proxy_set_header Upgrade $http_upgrade;',
        'proxy_set_header Connection $connection_upgrade;',
        'proxy_set_header Host $host;',
        'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
        'proxy_set_header X-Forwarded-Proto $scheme;',
        'proxy_buffering off;',
        `proxy_read_timeout ${WS_PROXY_TIMEOUT_S}s;`,
        `proxy_send_timeout ${WS_PROXY_TIMEOUT_S}s;`,
      ]),
    );
    // The idle timeout must outlive several of the app's pings, or nginx would cut healthy sockets.
    expect(WS_PROXY_TIMEOUT_S * 1000).toBeGreaterThanOrEqual(3 * APP_PING_INTERVAL_MS);
    // The app's metrics are for the host only: the public site answers 404 itself, never proxying.
    expect(directives(block(https, 'location = /metrics'))).toEqual(['location = /metrics {', 'return 404;', '}']);
    expect(http).not.toContain('/metrics');
    for (const loc of ['location /api/', 'location = /healthz', 'location = /readyz', 'location /']) {
      expect(directives(block(https, loc)), loc).toEqual(expect.arrayContaining(['proxy_pass http://messenger_chat;', 'proxy_set_header Connection "";']));
    }
  });

  it('site for nginx >= 1.25.1 uses `http2 on;`', () => {
    const site = fileAt(renderHostFiles(model(tier, 'debian13'), 'full'), HOST_PATHS.nginxSite).content;
    expect(directives(site)).toEqual(expect.arrayContaining(['listen 443 ssl reuseport backlog=4096;', 'listen [::]:443 ssl reuseport backlog=4096;', 'http2 on;']));
    expect(site).not.toContain('ssl http2');
  });

  it('bootstrap site: the same port-80 server, everything but ACME answers 503, nothing on 443', () => {
    const boot = fileAt(renderHostFiles(m, 'bootstrap'), HOST_PATHS.nginxSite).content;
    const full = get(HOST_PATHS.nginxSite);
    expect(boot).not.toMatch(/listen 443|upstream|ssl_/);
    expect(boot).not.toContain('mi-live');
    const bootHttp = directives(serverBlock(boot, '80 default_server'));
    const fullHttp = directives(serverBlock(full, '80 default_server'));
    // Shared partial: identical apart from the fallback of `location /`.
    expect(bootHttp.filter((l) => !fullHttp.includes(l))).toEqual(['return 503 "TLS pending\\n";']);
    expect(fullHttp.filter((l) => !bootHttp.includes(l))).toEqual([`return 301 https://${DOMAIN}$request_uri;`]);
    // Every other file is the same in both phases.
    const others = (list: RenderedFile[]) => list.filter((f) => f.path !== HOST_PATHS.nginxSite);
    expect(others(renderHostFiles(m, 'bootstrap'))).toEqual(others(files));
  });

  it('unit: user, env files, heap, limits, sandboxing, no MemoryDenyWriteExecute', () => {
    const unit = get(HOST_PATHS.systemdUnit);
    const d = directives(unit);
    expect(d).toEqual(
      expect.arrayContaining([
        'User=messenger-chat',
        'Group=messenger-chat',
        `EnvironmentFile=${HOST_PATHS.appEnvFile}`,
        `EnvironmentFile=${HOST_PATHS.secretsEnvFile}`,
        `EnvironmentFile=${HOST_PATHS.instanceEnvDir}/instance-%i.env`,
        // Each instance runs the release its own link points at: two run side by side during a switch.
        `ExecStart=/srv/messenger-chat/instances/%i/.mi-node/bin/node --max-old-space-size=${s.app.heapMb} --max-semi-space-size=${s.app.semiSpaceMb} /srv/messenger-chat/instances/%i/messenger-chat.mjs`,
        'WorkingDirectory=/srv/messenger-chat/instances/%i',
        'Restart=on-failure',
        // A crash loop keeps trying every 5 s instead of stopping for good after a burst.
        'StartLimitIntervalSec=0',
        'RestartSec=5',
        'KillSignal=SIGTERM',
        `LimitNOFILE=${s.app.limitNofile}`,
        `MemoryMax=${s.app.memoryMaxMb}M`,
        'After=network-online.target mariadb.service redis-server.service',
        'Wants=network-online.target mariadb.service redis-server.service',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'PrivateDevices=yes',
        'ProtectKernelTunables=yes',
        'ProtectKernelModules=yes',
        'ProtectKernelLogs=yes',
        'ProtectControlGroups=yes',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
        'RestrictNamespaces=yes',
        'LockPersonality=yes',
        'SystemCallArchitectures=native',
        'CapabilityBoundingSet=',
        'StandardOutput=journal',
      ]),
    );
    expect(d.find((l) => l.startsWith('TimeoutStopSec='))).toMatch(/^TimeoutStopSec=\d+$/);
    expect(d.some((l) => l.startsWith('StartLimitBurst='))).toBe(false);
    expect(d.some((l) => l.startsWith('MemoryDenyWriteExecute'))).toBe(false);
    // The bundled server reads the generated secrets, never a user app's secrets file.
    expect(d.filter((l) => l.startsWith('EnvironmentFile='))).toHaveLength(3);
    expect(unit).not.toContain(HOST_PATHS.appSecretsFile);
    // The stop grace covers the longest spread of closes (drainSeconds, 30 s by default).
    expect(d).toContain('TimeoutStopSec=50');
    // The heap fits inside the cgroup limit with room for buffers and code.
    expect(s.app.heapMb).toBeLessThan(s.app.memoryMaxMb);
  });

  it('env files: shared settings with the Redis bus, one per instance, no secrets', () => {
    const env = directives(get(HOST_PATHS.appEnvFile));
    expect(env).toEqual([
      'NODE_ENV=production',
      'MESSENGER_HOST=127.0.0.1',
      `MESSENGER_ALLOWED_ORIGINS=https://${DOMAIN}`,
      'MESSENGER_DB_SOCKET=/run/mysqld/mysqld.sock',
      'MESSENGER_DB_USER=messenger_chat',
      'MESSENGER_DB_NAME=messenger_chat',
      `MESSENGER_DB_POOL=${s.app.dbPoolSize}`,
      `MESSENGER_PING_INTERVAL_MS=${APP_PING_INTERVAL_MS}`,
      'MESSENGER_DRAIN_SPREAD_MS=30000',
      // Every instance of both slots on one bus: while two releases overlap, messages reach both.
      'MESSENGER_REDIS=127.0.0.1:6379',
      'MESSENGER_REDIS_USER=messenger-chat',
    ]);
    m.appPorts.forEach((port, i) => {
      const inst = directives(get(`${HOST_PATHS.instanceEnvDir}/instance-${port}.env`));
      expect(inst).toEqual([`PORT=${port}`, `MESSENGER_PORT=${port}`, `MESSENGER_INSTANCE=${i}`]);
    });
    for (const f of files) expect(f.content, f.path).not.toMatch(/PASSWORD|JWT_SECRET=/);
  });

  it('mariadb cnf: loopback only and every sizing value', () => {
    const d = directives(get(HOST_PATHS.mariadbConf));
    const mm = s.mariadb;
    expect(d).toEqual(
      expect.arrayContaining([
        '[mysqld]',
        'bind-address = 127.0.0.1',
        'skip-name-resolve',
        'character-set-server = utf8mb4',
        `innodb_buffer_pool_size = ${mm.innodbBufferPoolMb}M`,
        `innodb_log_file_size = ${mm.innodbLogFileMb}M`,
        `max_connections = ${mm.maxConnections}`,
        `tmp_table_size = ${mm.tmpTableMb}M`,
        `max_heap_table_size = ${mm.maxHeapTableMb}M`,
        `table_open_cache = ${mm.tableOpenCache}`,
        `sort_buffer_size = ${mm.sortBufferKb}K`,
        `join_buffer_size = ${mm.joinBufferKb}K`,
        `read_buffer_size = ${mm.readBufferKb}K`,
        `read_rnd_buffer_size = ${mm.readRndBufferKb}K`,
        `thread_stack = ${mm.threadStackKb}K`,
        `aria_pagecache_buffer_size = ${mm.ariaPagecacheMb}M`,
        `key_buffer_size = ${mm.keyBufferMb}M`,
        'slow_query_log = 1',
      ]),
    );
  });

  it('sysctl and the certbot hook', () => {
    const d = directives(get(HOST_PATHS.sysctlConf));
    expect(d).toEqual(expect.arrayContaining(['net.core.somaxconn = 4096', 'vm.swappiness = 10']));
    const fileMax = Number(d.find((l) => l.startsWith('fs.file-max'))?.split('=')[1]);
    const held = s.nginx.workerProcesses * s.nginx.workerRlimitNofile + s.app.instances * s.app.limitNofile;
    expect(fileMax).toBeGreaterThan(2 * held);
    expect(d.some((l) => /^net\.ipv4\.tcp_max_syn_backlog = \d+$/.test(l))).toBe(true);
    const range = d.find((l) => l.startsWith('net.ipv4.ip_local_port_range'))?.split('=')[1]?.trim().split(' ').map(Number) ?? [];
    expect(range[0]).toBeGreaterThan(Math.max(...m.appPorts, 3306));
    expect(range[1]).toBe(65535);
    expect(directives(get(HOST_PATHS.certbotDeployHook)).at(-1)).toBe('nginx -t && systemctl reload nginx');
  });
});

describe('model variations', () => {
  it('allowed origins from the stack and a custom port flow into the env files and upstream', () => {
    const m = model('scale', 'debian12', { app: { port: 4100, allowedOrigins: ['https://a.example.com', 'https://b.example.com'] } });
    const files = renderHostFiles(m, 'full');
    expect(fileAt(files, HOST_PATHS.appEnvFile).content).toContain('MESSENGER_ALLOWED_ORIGINS=https://a.example.com,https://b.example.com\n');
    // scale: three instances a slot, 4100-4102 and 4103-4105.
    expect(m.app.slots).toEqual([[4100, 4101, 4102], [4103, 4104, 4105]]);
    expect(fileAt(files, `${HOST_PATHS.instanceEnvDir}/instance-4105.env`).content).toContain('PORT=4105\nMESSENGER_PORT=4105\nMESSENGER_INSTANCE=5\n');
    expect(files.map((f) => f.path).filter((p) => p.includes('/instance-'))).toHaveLength(6);
  });

  it('a private ACME CA is rendered too: its bundle, and the drop-in that makes renewals trust it', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const base = model('mvp');
    expect(renderHostFiles(base, 'full').map((f) => f.path)).not.toContain(HOST_PATHS.acmeCaBundle);
    const files = renderHostFiles({ ...base, acmeCaBundle: pem }, 'full');
    expect(fileAt(files, HOST_PATHS.acmeCaBundle)).toMatchObject({ content: pem, mode: 0o644, notify: [] });
    const dropIn = fileAt(files, HOST_PATHS.certbotCaDropIn);
    expect(dropIn.content).toContain(`[Service]\nEnvironment=REQUESTS_CA_BUNDLE=${HOST_PATHS.acmeCaBundle}\n`);
    expect(dropIn.content.startsWith(MANAGED_MARKER)).toBe(true);
    expect(dropIn.notify).toEqual([{ unit: 'certbot.service', action: 'daemon-reload' }]);
  });

  it('redis.enabled false: no bus in chat.env, no Redis in the budget or the unit\'s dependencies', () => {
    const m = model('mvp', 'debian12', { redis: { enabled: false } });
    const files = renderHostFiles(m, 'full');
    expect(fileAt(files, HOST_PATHS.appEnvFile).content).not.toContain('MESSENGER_REDIS');
    expect(directives(fileAt(files, HOST_PATHS.systemdUnit).content)).toContain('After=network-online.target mariadb.service');
    expect(m.sizing.budget.lines.map((l) => l.name)).not.toContain(expect.stringMatching(/^redis/));
    expect(directives(fileAt(renderHostFiles(model('mvp'), 'full'), HOST_PATHS.systemdUnit).content)).toContain('After=network-online.target mariadb.service redis-server.service');
  });

  it('redis.conf: loopback, no persistence, noeviction, maxmemory and pub/sub buffers from the tier, the composed users', () => {
    for (const [tier, mb] of [['mvp', 32], ['growth', 64], ['scale', 128]] as const) {
      const conf = redisConfFile(model(tier));
      expect(conf).toMatchObject({ path: '/etc/redis/redis.conf', mode: 0o640, owner: 'redis', group: 'redis', notify: [{ unit: 'redis-server.service', action: 'restart' }] });
      expect(directives(conf.content)).toEqual(expect.arrayContaining([
        'bind 127.0.0.1', 'protected-mode yes', 'port 6379', 'supervised systemd', 'save ""', 'appendonly no',
        `maxmemory ${mb}mb`, 'maxmemory-policy noeviction', 'client-output-buffer-limit pubsub 8mb 2mb 60', 'include /etc/redis/messenger-users.conf',
      ]));
    }
    // The bundled server's user: pub/sub on its own channels only; nobody without a password.
    const users = redisUsersTemplate(model('mvp'), 'hash').content;
    expect(directives(users)).toEqual([
      'user default off -@all',
      'user messenger-chat on >@MESSENGER_REDIS_PASSWORD@ resetchannels &messenger-chat:* -@all +@pubsub +ping +info +client|setname',
    ]);
    // Ubuntu 22.04's Redis 6.0 has no channel ACLs: the rule that would refuse to load is left out.
    expect(redisUsersTemplate(model('mvp', 'ubuntu2204'), 'hash').content).toMatch(/^user messenger-chat on >@MESSENGER_REDIS_PASSWORD@ -@all \+@pubsub /m);
    expect(users).toMatch(/^# MI_INPUTS=[0-9a-f]{64}$/m);
    expect(redisUsersTemplate(model('mvp'), 'other').inputs).not.toBe(redisUsersTemplate(model('mvp'), 'hash').inputs);
  });

  it('Ubuntu profiles render the same files as Debian 12 (so the real-program checks cover them)', () => {
    for (const tier of TIER_NAMES) {
      const debian = renderHostFiles(model(tier, 'debian12'), 'full');
      expect(renderHostFiles(model(tier, 'ubuntu2404'), 'full')).toEqual(debian);
      expect(renderHostFiles(model(tier, 'ubuntu2204'), 'full')).toEqual(debian);
    }
  });
});
