import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { HOST_PATHS, type HostModel } from '../../src/core/host-model.js';
import { seedUpstreamFile } from '../../src/core/release.js';
import { freePort } from '../helpers/mariadb.js';
import { abuseLimits, NGINX_LIVE_PATH, NGINX_LIVE_PORT, NGINX_STATUS_PATH, NGINX_STATUS_PORT, renderHostFiles, type SitePhase } from '../../src/core/render.js';
import { DOMAIN, fileAt, model, run, tempDir, writeAt } from './fixtures.js';

/**
 * The rendered nginx tree run for real (host nginx 1.22, Debian 12 flavour), on loopback only: the
 * listeners move from *:80/*:443 to free ports on 127.0.0.1, paths into a temp prefix. The live
 * upstream file the full site includes is the one the web step seeds on the host, its server moved
 * to a small test backend (an HTTP + `ws` server recording what it receives). Everything else is as
 * rendered, so this shows the site behaves: ACME webroot, redirect, TLS 1.3 only, HSTS, forwarded
 * headers, body limit, WebSocket upgrade through the proxy, /metrics kept off the public site, the
 * loopback stub_status and live check (their ports moved too), and the bootstrap 503.
 */
const NGINX = '/usr/sbin/nginx';


function swap(text: string, from: string, to: string): string {
  expect(text, `expected ${from}`).toContain(from);
  return text.split(from).join(to);
}

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

interface Running {
  prefix: string;
  http: number;
  https: number;
  status: number;
  /** nginx's loopback live check (8082 on the host). */
  live: number;
  nginx: ChildProcess;
}

let backend: Server;
let backendPort: number;
const seen: Seen[] = [];
let cert: string;
const running: Running[] = [];

beforeAll(async () => {
  backend = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => res.end(`backend ${req.url}`));
  });
  const wss = new WebSocketServer({ noServer: true });
  backend.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as { port: number }).port;
});

afterAll(async () => {
  for (const r of running) await stopNginx(r);
  await new Promise((resolve) => backend.close(resolve));
});

async function stopNginx(r: Running): Promise<void> {
  if (r.nginx.exitCode !== null || r.nginx.signalCode !== null || r.nginx.pid === undefined) return;
  const done = new Promise((resolve) => r.nginx.once('exit', resolve));
  process.kill(r.nginx.pid, 'SIGTERM');
  await done;
  rmSync(r.prefix, { recursive: true, force: true });
}

async function startNginx(phase: SitePhase, m: HostModel = model('mvp', 'debian12')): Promise<Running> {
  const files = renderHostFiles(m, phase);
  const prefix = tempDir(`nginx-live-${phase}`);
  chmodSync(prefix, 0o755); // nginx workers run as www-data and read the webroot below
  const [http, https, status, live] = [await freePort(), await freePort(), await freePort(), await freePort()];
  let main = fileAt(files, HOST_PATHS.nginxMain).content;
  main = swap(main, `listen 127.0.0.1:${NGINX_STATUS_PORT};`, `listen 127.0.0.1:${status};`);
  main = swap(main, '/etc/nginx/conf.d/', `${prefix}/conf.d/`);
  main = swap(main, '/var/log/nginx/', `${prefix}/logs/`);
  main = swap(main, '/run/nginx.pid', `${prefix}/nginx.pid`);
  let site = fileAt(files, HOST_PATHS.nginxSite).content;
  site = swap(site, 'listen 80 ', `listen 127.0.0.1:${http} `);
  site = swap(site, 'listen [::]:80 ', `listen [::1]:${http} `);
  site = swap(site, HOST_PATHS.acmeWebroot, `${prefix}/acme`);
  if (phase === 'full') {
    site = swap(site, 'listen 443 ', `listen 127.0.0.1:${https} `);
    site = swap(site, 'listen [::]:443 ', `listen [::1]:${https} `);
    site = swap(site, `listen 127.0.0.1:${NGINX_LIVE_PORT};`, `listen 127.0.0.1:${live};`);
    // The live upstream as the host has it before the first release (seeded: the first slot), its server the backend.
    site = swap(site, `include ${HOST_PATHS.liveUpstream};`, `include ${prefix}/messenger-chat-upstream.inc;`);
    writeAt(prefix, 'messenger-chat-upstream.inc', swap(seedUpstreamFile(m).content, `server 127.0.0.1:${m.app.slots[0][0]} `, `server 127.0.0.1:${backendPort} `));
    site = swap(site, `/etc/letsencrypt/live/${DOMAIN}/`, `${prefix}/certs/`);
    const res = run([
      'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${DOMAIN}`, '-addext', `subjectAltName=DNS:${DOMAIN}`,
      '-keyout', writeAt(prefix, 'certs/privkey.pem', ''), '-out', writeAt(prefix, 'certs/fullchain.pem', ''),
    ]);
    expect(res.status, res.stderr).toBe(0);
    cert = readFileSync(join(prefix, 'certs/fullchain.pem'), 'utf8');
  }
  writeAt(prefix, 'nginx.conf', main);
  writeAt(prefix, 'conf.d/messenger-chat.conf', site);
  writeAt(prefix, 'acme/.well-known/acme-challenge/tok3n', 'tok3n.thumbprint');
  chmodSync(join(prefix, 'acme'), 0o755);
  chmodSync(join(prefix, 'acme/.well-known'), 0o755);
  chmodSync(join(prefix, 'acme/.well-known/acme-challenge'), 0o755);
  writeAt(prefix, 'logs/.keep', '');
  symlinkSync('/usr/share/nginx/modules', join(prefix, 'modules'));
  const nginx = spawn(NGINX, ['-p', `${prefix}/`, '-e', `${prefix}/logs/error.log`, '-c', `${prefix}/nginx.conf`, '-g', 'daemon off;'], { stdio: 'ignore' });
  const r = { prefix, http, https, status, live, nginx };
  running.push(r);
  // Ready when port 80's replacement answers (at most 10 s).
  for (let i = 0; ; i++) {
    try {
      await get(`http://127.0.0.1:${http}/.well-known/acme-challenge/tok3n`);
      return r;
    } catch (err) {
      if (i > 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${(err as Error).message}\n${readFileSync(join(prefix, 'logs/error.log'), 'utf8')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(url: string, opts: { method?: string; body?: Buffer; tls?: boolean; from?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const common = {
      host: '127.0.0.1', port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: { Host: DOMAIN },
      // Another loopback address stands for a client on the internet: only 127.0.0.1 and ::1 are the host.
      ...(opts.from ? { localAddress: opts.from } : {}),
    };
    const req = opts.tls
      ? httpsRequest({ ...common, servername: DOMAIN, ca: cert, agent: false })
      : httpRequest(common);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end(opts.body);
  });
}

describe('the full site served by a real nginx', () => {
  let r: Running;
  beforeAll(async () => {
    r = await startNginx('full');
  }, 30_000);

  it('port 80: ACME challenges from the webroot, everything else 301 to https://DOMAIN', async () => {
    const acme = await get(`http://127.0.0.1:${r.http}/.well-known/acme-challenge/tok3n`);
    expect([acme.status, acme.body]).toEqual([200, 'tok3n.thumbprint']);
    const redirect = await get(`http://127.0.0.1:${r.http}/rooms/general`);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://${DOMAIN}/rooms/general`);
    expect(redirect.headers.server).toBe('nginx'); // server_tokens off: no version
  });

  it('port 443: TLS 1.3 with HTTP/2 offered, HSTS, forwarded headers reach the app', async () => {
    const alpn = await new Promise<{ protocol: string | null; alpn: string | false | null }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: r.https, servername: DOMAIN, ca: cert, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve({ protocol: s.getProtocol(), alpn: s.alpnProtocol });
        s.end();
      });
      s.on('error', reject);
    });
    expect(alpn).toEqual({ protocol: 'TLSv1.3', alpn: 'h2' });

    const res = await get(`https://127.0.0.1:${r.https}/healthz`, { tls: true });
    expect([res.status, res.body]).toEqual([200, 'backend /healthz']);
    expect(res.headers['strict-transport-security']).toBe('max-age=63072000');
    const req = seen.filter((s) => s.url === '/healthz').at(-1);
    expect(req?.headers).toMatchObject({ host: DOMAIN, 'x-forwarded-proto': 'https', 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' });
    for (const path of ['/readyz', '/api/rooms', '/']) expect((await get(`https://127.0.0.1:${r.https}${path}`, { tls: true })).body).toBe(`backend ${path}`);
  });

  it('/metrics is not served through the public site: 404 from nginx, never proxied', async () => {
    const res = await get(`https://127.0.0.1:${r.https}/metrics`, { tls: true });
    expect(res.status).toBe(404);
    expect(seen.some((s) => s.url.startsWith('/metrics'))).toBe(false);
    // Neighbours of the path still reach the app (an exact match, not a prefix).
    expect((await get(`https://127.0.0.1:${r.https}/metrics2`, { tls: true })).body).toBe('backend /metrics2');
  });

  it('stub_status answers on the loopback status port, nothing else there', async () => {
    const res = await get(`http://127.0.0.1:${r.status}${NGINX_STATUS_PATH}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: \d+ Writing: \d+ Waiting: \d+ \n$/);
    expect((await get(`http://127.0.0.1:${r.status}/`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${r.status}/metrics`)).status).toBe(404);
  });

  it("the loopback live check answers through the upstream from the health path, naming the instance (the release program's switch confirmation)", async () => {
    const res = await get(`http://127.0.0.1:${r.live}${NGINX_LIVE_PATH}`);
    expect([res.status, res.body]).toEqual([200, 'backend /readyz']);
    expect(res.headers['x-mi-upstream']).toBe(`127.0.0.1:${backendPort}`);
    expect((await get(`http://127.0.0.1:${r.live}/readyz`)).status).toBe(404);
  });

  it('refuses TLS 1.2', async () => {
    const err = await new Promise<Error | null>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: r.https, servername: DOMAIN, ca: cert, maxVersion: 'TLSv1.2' }, () => {
        s.end();
        resolve(null);
      });
      s.on('error', resolve);
    });
    expect(err?.message).toMatch(/protocol version|alert/i);
  });

  it('abuse limits per client address (issue 14, finding 4): the API answers 429 past its burst, the host itself is never limited, sockets per address are capped', async () => {
    const limits = abuseLimits(model('mvp', 'debian12').sizing.nginx.clients);
    const burst = limits.apiBurst + 40;
    const statuses = async (from: string) => {
      const all = await Promise.all(Array.from({ length: burst }, () => get(`https://127.0.0.1:${r.https}/api/rooms`, { tls: true, from }).then((x) => x.status)));
      return { ok: all.filter((s) => s === 200).length, limited: all.filter((s) => s === 429).length };
    };
    const client = await statuses('127.0.0.2');
    expect(client.limited).toBeGreaterThan(0);
    expect(client.ok).toBeGreaterThanOrEqual(limits.apiBurst);
    expect(await statuses('127.0.0.1')).toEqual({ ok: burst, limited: 0 });

    // Sockets held at once from one address: the one past the cap is refused with 429.
    const options = (from: string): ClientOptions & { servername: string; localAddress: string } => ({ ca: cert, servername: DOMAIN, headers: { Host: DOMAIN }, localAddress: from });
    const open = (from: string) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`wss://127.0.0.1:${r.https}/ws`, options(from));
        ws.on('open', () => resolve(ws));
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(0));
      });
    const held: WebSocket[] = [];
    try {
      // Opened in rounds below the upgrade burst, so only the socket cap can refuse.
      let refused: number | undefined;
      for (let n = 0; n <= limits.connPerIp && refused === undefined; n += 1) {
        const got = await open('127.0.0.3');
        if (typeof got === 'number') refused = got;
        else held.push(got);
        if (n % 100 === 99) await new Promise((res) => setTimeout(res, 1100 * Math.ceil(100 / limits.upgradeRatePerS)));
      }
      expect(refused).toBe(429);
      expect(held).toHaveLength(limits.connPerIp);
    } finally {
      for (const ws of held) ws.terminate();
    }
  }, 120_000);

  it('bodies above the 64 KB payload limit get 413', async () => {
    const res = await get(`https://127.0.0.1:${r.https}/api/messages`, { tls: true, method: 'POST', body: Buffer.alloc(100 * 1024, 'a') });
    expect(res.status).toBe(413);
  });

  it('WebSockets upgrade through /ws', async () => {
    // `servername` is passed on to tls.connect (SNI and the certificate check); ws's types omit it.
    const options: ClientOptions & { servername: string } = { ca: cert, servername: DOMAIN, headers: { Host: DOMAIN } };
    const ws = new WebSocket(`wss://127.0.0.1:${r.https}/ws`, options);
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo in 5 s')), 5000);
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (data) => {
        clearTimeout(timer);
        resolve(data.toString());
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo:hello');
    const up = seen.filter((s) => s.url === '/ws').at(-1);
    expect(up?.headers).toMatchObject({ upgrade: 'websocket', connection: 'upgrade', 'x-forwarded-proto': 'https', host: DOMAIN });
  });

  it('the access log never keeps a token: a query carrying one is dropped, the subprotocol is not logged (issue 14, finding 1)', async () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNob3VsZC1uZXZlci1iZS1sb2dnZWQ';
    await get(`https://127.0.0.1:${r.https}/ws?room=lobby&token=${token}`, { tls: true });
    await get(`https://127.0.0.1:${r.https}/rooms?token=${token}`, { tls: true });
    await get(`https://127.0.0.1:${r.https}/api/rooms/lobby/messages?after=5`, { tls: true });
    const options: ClientOptions & { servername: string } = { ca: cert, servername: DOMAIN, headers: { Host: DOMAIN } };
    const ws = new WebSocket(`wss://127.0.0.1:${r.https}/ws`, ['messenger', `bearer.${token}`], options);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    ws.close();
    // The token did reach the app (as a subprotocol), so this is a real request, not a refused one.
    expect(seen.filter((s) => s.url === '/ws').at(-1)?.headers['sec-websocket-protocol']).toBe(`messenger,bearer.${token}`);
    let log = '';
    for (let i = 0; i < 50 && !log.includes('/api/rooms/lobby/messages'); i++) {
      await new Promise((res) => setTimeout(res, 100));
      log = readFileSync(join(r.prefix, 'logs/access.log'), 'utf8');
    }
    expect(log).not.toContain(token);
    const uris = log.trim().split('\n').map((l) => (JSON.parse(l) as { uri: string }).uri);
    expect(uris, uris.join('\n')).toContain('/ws?[query with a token removed]');
    expect(uris).toContain('/rooms?[query with a token removed]');
    // Other queries are logged as they came.
    expect(uris).toContain('/api/rooms/lobby/messages?after=5');
  });
});

describe('the bootstrap site served by a real nginx', () => {
  it('serves ACME challenges and answers 503 "TLS pending" to everything else', async () => {
    const r = await startNginx('bootstrap');
    const acme = await get(`http://127.0.0.1:${r.http}/.well-known/acme-challenge/tok3n`);
    expect([acme.status, acme.body]).toEqual([200, 'tok3n.thumbprint']);
    const other = await get(`http://127.0.0.1:${r.http}/`);
    expect([other.status, other.body]).toEqual([503, 'TLS pending\n']);
    const missing = await get(`http://127.0.0.1:${r.http}/.well-known/acme-challenge/unknown`);
    expect(missing.status).toBe(404);
    // The status server lives in the main config, so it answers before the certificate exists too.
    expect((await get(`http://127.0.0.1:${r.status}${NGINX_STATUS_PATH}`)).body).toMatch(/^Active connections: \d+/);
  }, 30_000);
});

describe("a user's app site served by a real nginx", () => {
  let r: Running;
  let source: string;
  beforeAll(async () => {
    source = tempDir('nginx-live-app');
    writeAt(source, 'package.json', '{"name":"shop","version":"1.0.0"}');
    writeAt(source, 'package-lock.json', '{"lockfileVersion":3}');
    r = await startNginx('full', model('mvp', 'debian12', { app: { source, start: 'node dist/main.js', health: '/api/health' } }));
  }, 30_000);
  afterAll(() => rmSync(source, { recursive: true, force: true }));

  it('upgrades Socket.IO WebSockets under /socket.io/ and checks liveness on its own health path', async () => {
    const options: ClientOptions & { servername: string } = { ca: cert, servername: DOMAIN, headers: { Host: DOMAIN } };
    const ws = new WebSocket(`wss://127.0.0.1:${r.https}/socket.io/?EIO=4&transport=websocket`, options);
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo in 5 s')), 5000);
      ws.on('open', () => ws.send('40'));
      ws.on('message', (data) => {
        clearTimeout(timer);
        resolve(data.toString());
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo:40');
    const live = await get(`http://127.0.0.1:${r.live}${NGINX_LIVE_PATH}`);
    expect([live.status, live.body]).toEqual([200, 'backend /api/health']);
  });

  it('has no bundled-server locations: /metrics and /api/ reach the app like any path', async () => {
    expect((await get(`https://127.0.0.1:${r.https}/metrics`, { tls: true })).body).toBe('backend /metrics');
    expect((await get(`https://127.0.0.1:${r.https}/api/orders`, { tls: true })).body).toBe('backend /api/orders');
  });
});
