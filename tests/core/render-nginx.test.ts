import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import { buildHostModel, HOST_PATHS } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { placementsOf } from '../../src/core/topology.js';
import { seedUpstreamFile } from '../../src/core/release.js';
import { renderHostFiles, type SitePhase } from '../../src/core/render.js';
import { TIER_NAMES } from '../../src/core/tiers.js';
import { fileAt, model, run, tempDir, writeAt } from './fixtures.js';

/**
 * The rendered nginx tree checked by the real nginx (`nginx -t`, Debian package `nginx`; 1.22 here).
 * The files are written under a temp prefix; only the paths that point at the live host (our conf.d,
 * logs, pid file, the Let's Encrypt certificate, the live upstream file) are redirected there, every
 * directive stays as rendered. The full site includes the live upstream, which the host has once the
 * site goes live: the web step seeds it (the first slot), later each release rewrites it. mime.types and modules-enabled are the host package's own, as on a VPS.
 */
const NGINX = '/usr/sbin/nginx';
let certs: string;
/** A user's app as app.source wants it. */
let SOURCE: string;

beforeAll(() => {
  certs = tempDir('nginx-cert');
  const res = run([
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=chat.messenger.test', '-keyout', join(certs, 'privkey.pem'), '-out', join(certs, 'fullchain.pem'),
  ]);
  expect(res.status, res.stderr).toBe(0);
  SOURCE = tempDir('nginx-app');
  writeAt(SOURCE, 'package.json', '{"name":"shop","version":"1.0.0"}');
  writeAt(SOURCE, 'package-lock.json', '{"lockfileVersion":3}');
});

afterAll(() => {
  rmSync(certs, { recursive: true, force: true });
  rmSync(SOURCE, { recursive: true, force: true });
});

/** Replaces `from` by `to` everywhere, failing if `from` is absent (so a rewrite can never silently miss). */
function redirect(text: string, from: string, to: string): string {
  expect(text, `expected ${from} in the rendered file`).toContain(from);
  return text.split(from).join(to);
}

/** Writes main + site (and the live upstream file the full site includes) under a temp prefix and runs `nginx -t` on it. */
function nginxTest(main: string, site: string, upstream?: string): { status: number | null; output: string } {
  const prefix = tempDir('nginx');
  try {
    let conf = redirect(main, '/etc/nginx/conf.d/', `${prefix}/conf.d/`);
    conf = redirect(conf, '/var/log/nginx/', `${prefix}/logs/`);
    conf = redirect(conf, '/run/nginx.pid', `${prefix}/nginx.pid`);
    writeAt(prefix, 'nginx.conf', conf);
    let s = site.includes('/etc/letsencrypt/') ? redirect(site, '/etc/letsencrypt/live/chat.messenger.test/', `${certs}/`) : site;
    if (upstream !== undefined) {
      s = redirect(s, HOST_PATHS.liveUpstream, `${prefix}/messenger-chat-upstream.inc`);
      writeAt(prefix, 'messenger-chat-upstream.inc', upstream);
    }
    writeAt(prefix, 'conf.d/messenger-chat.conf', s);
    writeAt(prefix, 'logs/.keep', '');
    // Debian's module snippets load `modules/NAME.so` relative to the prefix, as /usr/share/nginx does.
    symlinkSync('/usr/share/nginx/modules', join(prefix, 'modules'));
    const res = run([NGINX, '-t', '-p', `${prefix}/`, '-e', `${prefix}/logs/error.log`, '-c', `${prefix}/nginx.conf`]);
    return { status: res.status, output: res.stdout + res.stderr };
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

function rendered(tier: (typeof TIER_NAMES)[number], os: 'debian12' | 'debian13', phase: SitePhase): { main: string; site: string; upstream: string } {
  const m = model(tier, os);
  const files = renderHostFiles(m, phase);
  return { main: fileAt(files, HOST_PATHS.nginxMain).content, site: fileAt(files, HOST_PATHS.nginxSite).content, upstream: seedUpstreamFile(m).content };
}

describe.each(TIER_NAMES)('nginx -t accepts the %s tier', (tier) => {
  it('full site, nginx <= 1.24 flavour (listen ... http2)', () => {
    const { main, site, upstream } = rendered(tier, 'debian12', 'full');
    const res = nginxTest(main, site, upstream);
    expect(res.output).toContain('syntax is ok');
    expect(res.output).toContain('test is successful');
    expect(res.status, res.output).toBe(0);
    // Nothing to warn about either (a duplicated MIME type or a deprecated directive would show here).
    expect(res.output).not.toMatch(/\[warn\]/);
  });

  it('bootstrap site (port 80 only, no certificate needed)', () => {
    const { main, site } = rendered(tier, 'debian12', 'bootstrap');
    expect(site).not.toContain('/etc/letsencrypt/');
    // Before the certificate there is no upstream: nothing to include.
    expect(site).not.toContain(HOST_PATHS.liveUpstream);
    const res = nginxTest(main, site);
    expect(res.status, res.output).toBe(0);
    expect(res.output).not.toMatch(/\[warn\]/);
  });

  it('full site, nginx >= 1.25.1 flavour (`http2 on;`): differs only in the http2 lines, the rest passes 1.22', () => {
    const old = rendered(tier, 'debian12', 'full').site.split('\n');
    const modern = rendered(tier, 'debian13', 'full');
    const lines = modern.site.split('\n');
    // The only changed lines are the two 443 listeners and the http2 directive.
    expect(lines.filter((l) => !old.includes(l)).map((l) => l.trim())).toEqual([
      'listen 443 ssl reuseport backlog=4096;',
      'listen [::]:443 ssl reuseport backlog=4096;',
      'http2 on;',
    ]);
    // nginx 1.22 does not know `http2 on;` (the real 1.26 check runs in the Debian 13 sandbox e2e test);
    // without that one line the file must be valid here.
    const res = nginxTest(modern.main, redirect(modern.site, '    http2 on;\n', ''), modern.upstream);
    expect(res.status, res.output).toBe(0);
  });
});

describe('nginx -t catches a broken tree (the check is real)', () => {
  it('fails on an unknown directive', () => {
    const { main, site, upstream } = rendered('mvp', 'debian12', 'full');
    const res = nginxTest(main, site.replace('proxy_buffering off;', 'proxy_bufering off;'), upstream);
    expect(res.status).not.toBe(0);
    expect(res.output).toContain('unknown directive "proxy_bufering"');
  });

  it('fails when the live upstream file is missing (why the web step seeds it before the full site)', () => {
    const { main, site } = rendered('mvp', 'debian12', 'full');
    const res = nginxTest(main, site);
    expect(res.status).not.toBe(0);
    expect(res.output).toContain(`open() "${HOST_PATHS.liveUpstream}" failed`);
  });

  it('fails on an upstream file with no server (nginx refuses an empty upstream)', () => {
    const { main, site } = rendered('mvp', 'debian12', 'full');
    const res = nginxTest(main, site, '');
    expect(res.status).not.toBe(0);
    expect(res.output).toContain('no servers are inside upstream');
  });

  it("a user's app site passes too: its WebSocket paths, sticky with two instances, no bundled locations", () => {
    const m = model('growth', 'debian12', { app: { source: SOURCE, start: 'node dist/main.js', health: '/api/health', instances: 2 } });
    const files = renderHostFiles(m, 'full');
    const res = nginxTest(fileAt(files, HOST_PATHS.nginxMain).content, fileAt(files, HOST_PATHS.nginxSite).content, seedUpstreamFile(m).content);
    expect(res.status, res.output).toBe(0);
    expect(res.output).not.toMatch(/\[warn\]/);
  });
});

describe('nginx -t accepts the sites of a stack of several servers', () => {
  const stack = loadStack({
    overrides: {
      tier: 'growth',
      domain: 'chat.messenger.test',
      email: 'ops@messenger.test',
      servers: { web: { privateAddress: '10.0.1.2' }, app2: { privateAddress: '10.0.1.4' }, db: { privateAddress: '10.0.1.3' } },
      hosts: { edge: 'web', app: ['web', 'app2'], db: 'db' },
    } as StackOverrides,
  });
  const site = (name: string) => {
    const placement = placementsOf(stack).find((p) => p.name === name)!;
    const m = buildHostModel(stack, OS_PROFILES.debian12, undefined, undefined, placement);
    const files = renderHostFiles(m, 'full');
    return { main: fileAt(files, HOST_PATHS.nginxMain).content, site: fileAt(files, HOST_PATHS.nginxSite).content, upstream: seedUpstreamFile(m).content };
  };

  it('the edge balances over its own instances and the other app server, and checks a switch on its own only', () => {
    const edge = site('web');
    expect(edge.site).toMatch(/^ {4}include \/etc\/nginx\/messenger-chat-upstream\.inc;\n(?: {4}#.*\n)+ {4}server 10\.0\.1\.4:8088 weight=1 max_fails=1 fail_timeout=10s;$/m);
    expect(edge.site).toMatch(/^upstream messenger_chat_here \{\n {4}include \/etc\/nginx\/messenger-chat-upstream\.inc;\n\}$/m);
    expect(edge.site).toContain('proxy_pass http://messenger_chat_here/readyz;');
    expect(edge.site).toContain('listen 443 ssl');
    // An app server whose instances are down answers 502 from its own nginx: the edge tries the next.
    expect(edge.site).toContain('proxy_next_upstream error timeout http_502 http_503 http_504;');
    const res = nginxTest(edge.main, edge.site, edge.upstream);
    expect(res.status, res.output).toBe(0);
    expect(res.output).not.toMatch(/\[warn\]/);
  });

  it('an app server behind it serves plain HTTP on its private address, trusting the edge for the client address', () => {
    const app = site('app2');
    expect(app.site).toContain('listen 10.0.1.4:8088 reuseport backlog=4096;');
    expect(app.site).toMatch(/^ {4}set_real_ip_from 10\.0\.1\.2;\n {4}real_ip_header X-Forwarded-For;$/m);
    expect(app.site).toContain('proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;');
    // No TLS, no ACME, no headers of its own (the edge adds them), no balancing over others.
    for (const absent of ['ssl', 'listen 80', 'acme-challenge', 'Strict-Transport-Security', 'weight=', 'messenger_chat_here', 'proxy_next_upstream']) expect(app.site).not.toContain(absent);
    // nginx -t binds the listeners: this machine has no 10.0.1.4, so the check listens on loopback.
    const res = nginxTest(app.main, redirect(app.site, 'listen 10.0.1.4:8088', 'listen 127.0.0.1:18088'), app.upstream);
    expect(res.status, res.output).toBe(0);
    expect(res.output).not.toMatch(/\[warn\]/);
  });
});
