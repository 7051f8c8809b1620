/**
 * A local stack for the verify tests: the host's real nginx (run as root with its own prefix, on free
 * 127.0.0.1 ports, never 80/443) terminating TLS with certificates from a throwaway openssl CA, in front
 * of the real chat server (`node --import tsx app/src/main.ts`, or the bundle) on a throwaway MariaDB.
 *
 *   const backend = await startChatBackend();            // MariaDB + chat server, one per test file
 *   const proxy = await startProxy(backend, { readTimeoutS: 3 });   // an nginx variant in front of it
 *   ... runVerify({ url: proxy.url, resolve: proxy.resolve, caPaths: [backend.pki.caPath], ... })
 *   await proxy.stop(); await backend.stop();
 *
 * The nginx config mirrors templates/nginx/site.conf.hbs (proxy_http_version 1.1, the Upgrade/Connection
 * map, proxy_read_timeout on /ws, TLS 1.3, the port-80 redirect); variants break one thing each.
 * Needs the Debian packages nginx, openssl and mariadb-server.
 */
import type { VerifyOptions } from '../../src/verify/index.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startMariaDb, tcpOpen, type ThrowawayMariaDb } from './mariadb.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NGINX = '/usr/sbin/nginx';

/** The name the certificates are for; tests reach it with `--resolve chat.verify.test:PORT:127.0.0.1`. */
export const STACK_HOST = 'chat.verify.test';
/** The browser origin the chat server allows. */
export const STACK_ORIGIN = `https://${STACK_HOST}`;

// ---------- PKI ----------

export type CertName = 'good' | 'wrong-name' | 'untrusted' | 'expiring-5d' | 'expiring-15d';

export interface Pki {
  dir: string;
  /** The trusted test root (pass as --ca). */
  caPath: string;
  /** A second root nobody trusts. */
  untrustedCaPath: string;
  cert(name: CertName): { certPath: string; keyPath: string };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd, timeout: 30_000 });
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
}

async function makeLeaf(dir: string, name: string, ca: string, sans: string[], days: number): Promise<void> {
  await writeFile(
    join(dir, `${name}.ext`),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
  );
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${sans[0]!.replace(/^DNS:/, '')}`], dir);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-out', `${name}.pem`, '-days', String(days), '-extfile', `${name}.ext`], dir);
}

/** A throwaway CA, a second untrusted one, and one leaf certificate per variant (about 0.5 s). */
export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  await makeCa(dir, 'ca', 'messenger-infra test root');
  await makeCa(dir, 'rogue-ca', 'rogue test root');
  const sans = [`DNS:${STACK_HOST}`, 'DNS:localhost', 'IP:127.0.0.1'];
  await Promise.all([
    makeLeaf(dir, 'good', 'ca', sans, 90),
    makeLeaf(dir, 'wrong-name', 'ca', ['DNS:wrong.verify.test'], 90),
    makeLeaf(dir, 'untrusted', 'rogue-ca', sans, 90),
    makeLeaf(dir, 'expiring-5d', 'ca', sans, 5),
    makeLeaf(dir, 'expiring-15d', 'ca', sans, 15),
  ]);
  return {
    dir,
    caPath: join(dir, 'ca.pem'),
    untrustedCaPath: join(dir, 'rogue-ca.pem'),
    cert: (name) => ({ certPath: join(dir, `${name}.pem`), keyPath: join(dir, `${name}.key`) }),
  };
}

// ---------- processes ----------

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Stops a child we started, by its own PID: SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  process.kill(pid, 'SIGTERM');
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  }, graceMs);
  await exited(child);
  clearTimeout(t);
}

async function waitFor(what: string, child: ChildProcess, probe: () => Promise<boolean>, logPath: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`MI_ERR_TEST_STACK: ${what} exited (${child.exitCode ?? child.signalCode})\n${log.slice(-2000)}`);
    }
    if (await probe()) return;
    if (Date.now() > until) throw new Error(`MI_ERR_TEST_STACK: ${what} not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}


// ---------- chat backend ----------

export interface ChatBackend {
  dir: string;
  pki: Pki;
  db: ThrowawayMariaDb;
  /** The chat server's loopback port (nginx's upstream). */
  appPort: number;
  jwtSecret: string;
  /** True while the chat server runs. */
  readonly appRunning: boolean;
  /** Stops the chat server (SIGTERM), leaving MariaDB and any nginx running. */
  stopApp(): Promise<void>;
  /** Starts the chat server again on the same port. */
  startApp(): Promise<void>;
  /**
   * A second chat server on the same database with some variables changed (e.g. a permissive
   * MESSENGER_ALLOWED_ORIGINS); point a proxy at it with `startProxy({ ...backend, appPort }, ...)`.
   * Stopped by `stop()` at the latest.
   */
  startExtraApp(env: Record<string, string>, readyPath?: '/readyz' | '/healthz'): Promise<{ appPort: number; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface BackendOptions {
  /**
   * MESSENGER_PING_INTERVAL_MS, default 30 s. The server pings a slice of its connections each thirtieth
   * of it, so a connection's first ping may come a second after it opened; a test that needs none for a
   * while passes an interval whose thirtieth is longer than that.
   */
  pingIntervalMs?: number;
}

/** The chat server's command line: the bundle when MI_TEST_APP=bundle and it is built, else the sources. */
function appArgv(): string[] {
  const bundle = join(ROOT, 'dist', 'app', 'messenger-chat.mjs');
  if (process.env.MI_TEST_APP === 'bundle' && existsSync(bundle)) return [bundle];
  return ['--import', 'tsx', join(ROOT, 'app', 'src', 'main.ts')];
}

/** MariaDB + the chat server on 127.0.0.1, plus the PKI the proxies use (about 5 s). */
export async function startChatBackend(opts: BackendOptions = {}): Promise<ChatBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-local-stack-'));
  const started = await Promise.allSettled([makePki(join(dir, 'pki')), startMariaDb(), freePort()] as const);
  const [pkiR, dbR, portR] = started;
  if (pkiR.status === 'rejected' || dbR.status === 'rejected' || portR.status === 'rejected') {
    if (dbR.status === 'fulfilled') await dbR.value.stop();
    await rm(dir, { recursive: true, force: true });
    throw [pkiR, dbR, portR].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))[0];
  }
  const [pki, db, appPort] = [pkiR.value, dbR.value, portR.value];
  const jwtSecret = randomBytes(32).toString('hex');
  const logPath = join(dir, 'app.log');
  let child: ChildProcess | undefined;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...db.env(),
    MESSENGER_HOST: '127.0.0.1',
    MESSENGER_PORT: String(appPort),
    MESSENGER_JWT_SECRET: jwtSecret,
    MESSENGER_ALLOWED_ORIGINS: STACK_ORIGIN,
    MESSENGER_PING_INTERVAL_MS: String(opts.pingIntervalMs ?? 30_000),
  };
  const startApp = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logPath, 'a');
    child = spawn(process.execPath, appArgv(), { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const c = child;
    await waitFor('chat server', c, async () => (await httpStatus(appPort, '/readyz')) === 200, logPath, 60_000);
  };
  const stopApp = async () => {
    if (child) await stopChild(child);
  };
  const extraApps: ChildProcess[] = [];
  const startExtraApp = async (overrides: Record<string, string>, readyPath: '/readyz' | '/healthz' = '/readyz') => {
    const port = await freePort();
    const { openSync, closeSync } = await import('node:fs');
    const extraLog = join(dir, `app-${port}.log`);
    const fd = openSync(extraLog, 'a');
    const c = spawn(process.execPath, appArgv(), { cwd: ROOT, env: { ...env, ...overrides, MESSENGER_PORT: String(port) }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    extraApps.push(c);
    await waitFor('chat server', c, async () => (await httpStatus(port, readyPath)) === 200, extraLog, 60_000);
    return { appPort: port, stop: () => stopChild(c) };
  };
  try {
    await startApp();
  } catch (err) {
    await stopApp();
    await db.stop();
    throw err;
  }
  return {
    dir,
    pki,
    db,
    appPort,
    jwtSecret,
    get appRunning() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stopApp,
    startApp,
    startExtraApp,
    async stop() {
      await Promise.all(extraApps.map((c) => stopChild(c)));
      await stopApp();
      await db.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------- nginx ----------

export interface ProxyVariant {
  /** Forward Upgrade/Connection on /ws (default true); false is the classic broken site. */
  upgradeHeaders?: boolean;
  /** proxy_read_timeout/proxy_send_timeout on /ws in seconds (default 3600, as the product sets). */
  readTimeoutS?: number;
  /** The certificate served (default 'good'). */
  cert?: CertName;
  /** The port-80 server redirects to https (default true); false serves the app over plain http. */
  redirect?: boolean;
  /** nginx worker_connections (default 1024); each proxied WebSocket holds two. */
  workerConnections?: number;
}

export interface Proxy {
  httpsPort: number;
  httpPort: number;
  /** `wss://chat.verify.test:PORT/ws` */
  url: string;
  /** For runVerify's `resolve`. */
  resolve: { host: string; port: number; address: string };
  /** For the CLI: `chat.verify.test:PORT:127.0.0.1`. */
  resolveArg: string;
  pid: number;
  configPath: string;
  stop(): Promise<void>;
}

/** The proxy lines of a location (to `upstream`), and the Upgrade pair unless a variant leaves it out. */
export function proxyLines(upstream: string, upgradeHeaders = true): { forwarded: string; upgrade: string } {
  const forwarded = [
    `proxy_pass http://${upstream};`,
    'proxy_http_version 1.1;',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
  ].join('\n        ');
  const upgrade = upgradeHeaders ? 'proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $connection_upgrade;' : '# (variant) Upgrade and Connection are not forwarded';
  return { forwarded, upgrade };
}

/** A test nginx's main part, everything in PREFIX, up to the upgrade map inside `http {`. */
export function nginxHead(prefix: string, workerConnections = 1024): string {
  return `user root;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
    access_log ${prefix}/access.log;
    client_body_temp_path ${prefix}/tmp/body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
    server_tokens off;

    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }`;
}

/** The nginx configuration of one variant: the product's site template, reduced to what is tested. */
export function nginxConfig(prefix: string, backend: Pick<ChatBackend, 'appPort' | 'pki'>, ports: { http: number; https: number }, v: ProxyVariant): string {
  const cert = backend.pki.cert(v.cert ?? 'good');
  const timeout = v.readTimeoutS ?? 3600;
  const { forwarded, upgrade } = proxyLines('messenger_chat', v.upgradeHeaders !== false);
  const httpRoot = v.redirect === false ? `${forwarded}\n        proxy_set_header Connection "";` : `return 301 https://$host:${ports.https}$request_uri;`;
  return `# local-stack variant: ${JSON.stringify(v)}
${nginxHead(prefix, v.workerConnections ?? 1024)}
    upstream messenger_chat {
        least_conn;
        server 127.0.0.1:${backend.appPort} max_fails=3 fail_timeout=10s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${ports.http};
        server_name ${STACK_HOST};
        location / {
        ${httpRoot}
        }
    }
    server {
        listen 127.0.0.1:${ports.https} ssl;
        server_name ${STACK_HOST};
        ssl_certificate ${cert.certPath};
        ssl_certificate_key ${cert.keyPath};
        ssl_protocols TLSv1.3;
        client_max_body_size 64k;
        location /ws {
        ${forwarded}
        ${upgrade}
        proxy_read_timeout ${timeout}s;
        proxy_send_timeout ${timeout}s;
        proxy_buffering off;
        }
        location / {
        ${forwarded}
        proxy_set_header Connection "";
        }
    }
}
`;
}

/** Starts nginx (foreground, by PID) with one variant in front of the backend (about 0.1 s). */
export async function startProxy(backend: Pick<ChatBackend, 'appPort' | 'pki' | 'dir'>, variant: ProxyVariant = {}): Promise<Proxy> {
  const prefix = await mkdtemp(join(backend.dir, 'nginx-'));
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const configPath = join(prefix, 'nginx.conf');
  await writeFile(configPath, nginxConfig(prefix, backend, { http: httpPort, https: httpsPort }, variant));
  const logPath = join(prefix, 'error.log');
  const child = spawn(NGINX, ['-p', prefix, '-c', configPath, '-e', logPath, '-g', 'daemon off;'], { stdio: 'ignore' });
  try {
    await waitFor('nginx', child, async () => (await tcpOpen(httpsPort)) && (await tcpOpen(httpPort)), logPath, 15_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    httpsPort,
    httpPort,
    url: `wss://${STACK_HOST}:${httpsPort}/ws`,
    resolve: { host: STACK_HOST, port: httpsPort, address: '127.0.0.1' },
    resolveArg: `${STACK_HOST}:${httpsPort}:127.0.0.1`,
    pid: child.pid!,
    configPath,
    stop: () => stopChild(child),
  };
}

/** verify options against a running proxy in front of `backend`: quick and small unless patched. */
export function verifyOptionsFor(backend: Pick<ChatBackend, 'pki' | 'jwtSecret'>, proxy: Proxy, patch: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    url: proxy.url,
    resolve: proxy.resolve,
    caPaths: [backend.pki.caPath],
    jwtSecret: backend.jwtSecret,
    room: 'verify',
    origin: STACK_ORIGIN,
    idleSeconds: 0,
    connections: 10,
    messages: 10,
    timeoutMs: 5000,
    quick: true,
    httpPort: proxy.httpPort,
    ...patch,
  };
}
