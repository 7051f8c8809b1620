// verify against a user's app (app.source): real nginx (TLS from a throwaway CA, shaped like the product's
// site for app.source) in front of a Socket.IO protocol double on loopback. The declared health path,
// Socket.IO's handshake over WebSocket and long-polling (and its heartbeat), plain WebSocket paths
// (101, 401 = reachable but needs auth, 404 = fail), stickiness with two instances, and the bundled
// chat server's checks reported as not applying.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_ONLY, runVerify, type CheckResult, type VerifyOptions, type VerifyReport } from '../../src/verify/index.js';
import { renderTable } from '../../src/verify/report.js';
import type { Pki } from '../helpers/local-stack.js';
import { STACK_HOST } from '../helpers/local-stack.js';
import { appPki, startAppProxy, type AppProxy, type AppProxyOptions } from './app-proxy.js';
import { startSocketIoDouble, type DoubleOptions, type SocketIoDouble } from './socketio-double.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WS_PATHS = ['/socket.io/', '/live', '/private'];
const BUNDLED_IDS = ['http.healthz', 'http.readyz', 'ws.upgrade', 'ws.reject-token', 'ws.reject-origin', 'ws.ping', 'msg.broadcast', 'msg.history', 'ws.reconnect', 'ws.latency', 'ws.concurrency', 'ws.idle'];

let pki: Pki;
let dir: string;
let cleanup: () => Promise<void>;
const running: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  const p = await appPki();
  [pki, dir, cleanup] = [p.pki, p.dir, p.rm];
});
afterAll(async () => {
  for (const r of running.reverse()) await r.stop().catch(() => undefined);
  await cleanup?.();
});

async function double(opts: DoubleOptions = {}): Promise<SocketIoDouble> {
  const d = await startSocketIoDouble({ wsPaths: ['/live'], authPaths: ['/private'], ...opts });
  running.push(d);
  return d;
}

async function proxy(upstreams: SocketIoDouble[], o: Partial<AppProxyOptions> = {}): Promise<AppProxy> {
  const p = await startAppProxy(pki, dir, { upstreams: upstreams.map((u) => u.port), websocketPaths: WS_PATHS, ...o });
  running.push(p);
  return p;
}

function options(p: AppProxy, patch: Partial<VerifyOptions> = {}, app: Partial<NonNullable<VerifyOptions['app']>> = {}): VerifyOptions {
  return {
    url: `wss://${STACK_HOST}:${p.httpsPort}/socket.io/`,
    resolve: p.resolve,
    caPaths: [pki.caPath],
    room: 'verify',
    idleSeconds: 0,
    connections: 10,
    messages: 10,
    timeoutMs: 5000,
    quick: true,
    httpPort: p.httpPort,
    app: { kind: 'source', health: '/api/health', websocket: WS_PATHS, ...app },
    ...patch,
  };
}

async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const report = await runVerify(opts);
  process.stdout.write(`${renderTable(report)}\n`);
  return report;
}

const check = (r: VerifyReport, id: string): CheckResult => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};
const failed = (r: VerifyReport) => r.checks.filter((c) => c.status === 'fail').map((c) => c.id);

describe('the Socket.IO double', () => {
  it('is accepted by socket.io-client over WebSocket and over long-polling, and keeps answering pings', async () => {
    const d = await double({ pingIntervalMs: 150, pingTimeoutMs: 1000 });
    for (const transport of ['websocket', 'polling'] as const) {
      const socket = io(`http://127.0.0.1:${d.port}`, { transports: [transport], reconnection: false, timeout: 3000 });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        expect(socket.id).toEqual(expect.any(String));
        expect(socket.io.engine.transport.name).toBe(transport);
        // Several ping intervals later the client (answering 2 with 3) is still connected.
        await new Promise((r) => setTimeout(r, 600));
        expect(socket.connected).toBe(true);
      } finally {
        socket.disconnect();
      }
    }
    expect(d.opened).toEqual({ polling: 1, websocket: 1 });
    expect(d.pongs).toBeGreaterThanOrEqual(4);
  });
});

describe('verify against a user app behind nginx', () => {
  it('passes the health path, Socket.IO over WebSocket and polling, the heartbeat, a 101 path and a 401 path; chat checks are skipped', async () => {
    const d = await double({ pingIntervalMs: 300 });
    const p = await proxy([d]);
    const report = await verify(options(p, { quick: false }));
    expect(report.exitCode).toBe(0);
    expect(report.app).toEqual({ kind: 'source', health: '/api/health', websocket: WS_PATHS });
    expect(report.checks.map((c) => c.id)).toEqual([
      'dns.resolve',
      'tls.chain',
      'tls.expiry',
      'http.redirect',
      'app.health',
      'app.sio.websocket:/socket.io/',
      'app.sio.polling:/socket.io/',
      'app.sio.ping:/socket.io/',
      'app.ws:/live',
      'app.ws:/private',
      ...BUNDLED_IDS,
    ]);
    const notSkipped = report.checks.filter((c) => c.status !== 'skip').map((c) => [c.id, c.status]);
    expect(notSkipped.every(([, s]) => s === 'pass')).toBe(true);
    for (const id of BUNDLED_IDS) expect(check(report, id)).toMatchObject({ status: 'skip', cause: BUNDLED_ONLY });
    expect(check(report, 'dns.resolve').status).toBe('skip');
    expect(check(report, 'http.redirect').figure).toMatch(/^301 → https:\/\/chat\.verify\.test:\d+\/api\/health/);
    expect(check(report, 'app.health').figure).toMatch(/^200 in /);
    expect(check(report, 'app.sio.websocket:/socket.io/')).toMatchObject({ data: { pingInterval: 300, pingTimeout: 20000 } });
    expect(check(report, 'app.sio.websocket:/socket.io/').figure).toMatch(/^101 in [\d.]+ ms, open packet \(pingInterval 300 ms\), connect ack in [\d.]+ ms$/);
    expect(check(report, 'app.sio.polling:/socket.io/').figure).toMatch(/^open in [\d.]+ ms, POST 40 → ok, connect ack in [\d.]+ ms: one session across 3 requests$/);
    const ping = check(report, 'app.sio.ping:/socket.io/');
    expect(ping.figure).toMatch(/^first server ping after [\d.]+ ms \(pingInterval 300 ms, [+-][\d.]+ ms\), answered with 3$/);
    expect(Number(ping.data!.afterMs)).toBeGreaterThanOrEqual(250);
    expect(check(report, 'app.ws:/live').figure).toMatch(/^101 in /);
    expect(check(report, 'app.ws:/private')).toMatchObject({ status: 'pass', data: { status: 401, needsAuth: true } });
    expect(check(report, 'app.ws:/private').figure).toBe('reachable, needs auth: the upgrade on /private answered 401 (verify has no credentials for your app)');
    expect(d.pongs).toBe(1);
    // The table says what was checked and that the chat checks do not apply.
    const table = renderTable(report).split('\n');
    expect(table[0]).toMatch(/^verify wss:\/\/chat\.verify\.test:\d+\/socket\.io\/ via 127\.0\.0\.1 \(your app: health \/api\/health, WebSocket \/socket\.io\/, \/live, \/private\)$/);
    expect(table).toContain(`  SKIP  ws.upgrade                     ${BUNDLED_ONLY}`);
  });

  it('--quick does not await the server ping; no JWT secret or token is needed', async () => {
    const d = await double();
    const p = await proxy([d]);
    const report = await verify(options(p));
    expect(report.exitCode).toBe(0);
    expect(check(report, 'app.sio.ping:/socket.io/')).toMatchObject({ status: 'skip', cause: "--quick: the server's first ping is not awaited" });
    expect(report.summary).toEqual({ pass: 8, fail: 0, warn: 0, skip: 14 });
  });

  it('a pingInterval over 30 s is not awaited even without --quick', async () => {
    const d = await double({ pingIntervalMs: 45_000 });
    const p = await proxy([d]);
    const report = await verify(options(p, { quick: false }, { websocket: ['/socket.io/'] }));
    expect(check(report, 'app.sio.ping:/socket.io/')).toMatchObject({ status: 'skip', cause: 'pingInterval 45000 ms is over 30 s: the first ping is not awaited' });
    expect(report.exitCode).toBe(0);
  });

  it('a path nothing serves fails naming the path (404)', async () => {
    const d = await double();
    const p = await proxy([d], { websocketPaths: [...WS_PATHS, '/missing'] });
    const report = await verify(options(p, {}, { websocket: ['/live', '/missing'] }));
    expect(failed(report)).toEqual(['app.ws:/missing']);
    expect(check(report, 'app.ws:/missing')).toMatchObject({
      code: 'MI_ERR_VERIFY_UPGRADE',
      cause: "404 on /missing: nothing serves a WebSocket there; the stack's app.websocket must list the path your app listens on, and nginx forward the Upgrade header on it",
      data: { status: 404 },
    });
    expect(report.exitCode).toBe(4);
  });

  it('the health path answering 503 fails app.health; the WebSocket checks still pass', async () => {
    const d = await double();
    d.health.status = 503;
    const p = await proxy([d]);
    const report = await verify(options(p));
    expect(failed(report)).toEqual(['app.health']);
    expect(check(report, 'app.health')).toMatchObject({
      code: 'MI_ERR_VERIFY_HTTP',
      cause: '503 Service Unavailable on /api/health: your app is up but not ready (a database or another dependency down?)',
      data: { status: 503 },
    });
    expect(check(report, 'app.sio.websocket:/socket.io/').status).toBe('pass');
    expect(report.exitCode).toBe(4);
  });

  it('the app stopped behind nginx: health and every path fail with 502, TLS passes', async () => {
    const d = await startSocketIoDouble({ wsPaths: ['/live'] });
    const p = await proxy([d]);
    await d.stop();
    const report = await verify(options(p, {}, { websocket: ['/socket.io/', '/live'] }));
    expect(failed(report)).toEqual(['app.health', 'app.sio.websocket:/socket.io/', 'app.sio.polling:/socket.io/', 'app.ws:/live']);
    expect(check(report, 'tls.chain').status).toBe('pass');
    expect(check(report, 'app.health').cause).toBe('nginx answered 502 Bad Gateway on /api/health: your app is not running or not listening on the port nginx proxies to');
    expect(check(report, 'app.ws:/live')).toMatchObject({ code: 'MI_ERR_VERIFY_UPSTREAM' });
    expect(check(report, 'app.sio.polling:/socket.io/')).toMatchObject({ code: 'MI_ERR_VERIFY_UPSTREAM' });
    expect(report.reachable).toBe(true);
  });

  it('nginx without the Upgrade headers: the Socket.IO upgrade fails with the status the app saw, polling still works', async () => {
    const d = await double();
    const p = await proxy([d], { upgradeHeaders: false });
    const report = await verify(options(p, {}, { websocket: ['/socket.io/', '/live'] }));
    expect(failed(report)).toEqual(['app.sio.websocket:/socket.io/', 'app.ws:/live']);
    expect(check(report, 'app.sio.websocket:/socket.io/')).toMatchObject({ code: 'MI_ERR_VERIFY_UPGRADE', data: { status: 400 } });
    expect(check(report, 'app.sio.websocket:/socket.io/').cause).toMatch(/^got 400 instead of 101 on \/socket\.io\/: the upgrade did not reach a WebSocket server \(nginx needs proxy_http_version 1\.1 and the Upgrade\/Connection headers on \/socket\.io\//);
    expect(check(report, 'app.sio.polling:/socket.io/').status).toBe('pass');
    expect(check(report, 'app.sio.ping:/socket.io/').cause).toBe('not run: app.sio.websocket:/socket.io/ failed');
  });

  it('two instances without sticky sessions: polling fails naming stickiness; with hash $remote_addr it passes', async () => {
    const [a, b] = [await double(), await double()];
    const loose = await proxy([a, b]);
    const r1 = await verify(options(loose, {}, { websocket: ['/socket.io/'] }));
    expect(failed(r1)).toEqual(['app.sio.polling:/socket.io/']);
    expect(check(r1, 'app.sio.polling:/socket.io/')).toMatchObject({ code: 'MI_ERR_VERIFY_STICKY', data: { status: 400 } });
    expect(check(r1, 'app.sio.polling:/socket.io/').cause).toMatch(
      /^POST \/socket\.io\/\?transport=polling with the sid answered 400 "Session ID unknown": the request reached an instance that does not hold the session; .*hash \$remote_addr consistent/,
    );
    const sticky = await proxy([a, b], { sticky: true });
    const r2 = await verify(options(sticky, {}, { websocket: ['/socket.io/'] }));
    expect(failed(r2)).toEqual([]);
    expect(check(r2, 'app.sio.polling:/socket.io/').status).toBe('pass');
  });

  it('a connect middleware refusing verify (44): reachable, passes with a note; the heartbeat is not awaited', async () => {
    const d = await double({ refuseConnect: true, pingIntervalMs: 300 });
    const p = await proxy([d]);
    const report = await verify(options(p, { quick: false }, { websocket: ['/socket.io/'] }));
    expect(report.exitCode).toBe(0);
    expect(check(report, 'app.sio.websocket:/socket.io/')).toMatchObject({
      status: 'pass',
      figure: 'reachable, needs auth: the namespace / refused the connect (44 "not authorized") (verify has no credentials for your app)',
    });
    expect(check(report, 'app.sio.polling:/socket.io/')).toMatchObject({ status: 'pass', data: { needsAuth: true } });
    expect(check(report, 'app.sio.ping:/socket.io/')).toMatchObject({ status: 'skip', cause: 'no Socket.IO session was opened over WebSocket (app.sio.websocket:/socket.io/ says why)' });
  });

  it('a server offering only the websocket transport: polling is skipped with the reason', async () => {
    const d = await double({ transports: ['websocket'] });
    const p = await proxy([d]);
    const report = await verify(options(p, {}, { websocket: ['/socket.io/'] }));
    expect(report.exitCode).toBe(0);
    expect(check(report, 'app.sio.polling:/socket.io/')).toMatchObject({
      status: 'skip',
      cause: "Socket.IO on /socket.io/ does not offer long-polling (400 \"Transport unknown\"): clients must use transports: ['websocket']",
    });
  });

  it('speaks plain ws:// straight to the app (no proxy): TLS and the redirect are skipped', async () => {
    const d = await double();
    const report = await verify({
      url: `ws://127.0.0.1:${d.port}/socket.io`,
      room: 'verify',
      idleSeconds: 0,
      connections: 1,
      messages: 1,
      timeoutMs: 5000,
      quick: true,
      app: { kind: 'source', health: '/api/health', websocket: ['/socket.io', '/live'] },
    });
    expect(report.exitCode).toBe(0);
    expect(report.checks.filter((c) => c.status === 'pass').map((c) => c.id)).toEqual(['app.health', 'app.sio.websocket:/socket.io', 'app.sio.polling:/socket.io', 'app.ws:/live']);
  });

  it('nothing listening on ws://: the run is unreachable (exit 3)', async () => {
    const { freePort } = await import('../helpers/mariadb.js');
    const port = await freePort();
    const report = await verify({
      url: `ws://127.0.0.1:${port}/socket.io/`,
      room: 'verify',
      idleSeconds: 0,
      connections: 1,
      messages: 1,
      timeoutMs: 2000,
      quick: true,
      app: { kind: 'source', health: '/api/health', websocket: ['/socket.io/'] },
    });
    expect(report.reachable).toBe(false);
    expect(report.exitCode).toBe(3);
    expect(check(report, 'app.health')).toMatchObject({ status: 'fail', code: 'MI_ERR_VERIFY_CONNECT' });
  });
});

describe('the verify CLI for a user app', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'tests/verify/cli-entry.ts'), 'verify', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  };

  it('--health and --websocket check a user app without a stack or credentials (JSON report, exit 0)', async () => {
    const d = await double();
    const p = await proxy([d]);
    const url = `wss://${STACK_HOST}:${p.httpsPort}/socket.io/`;
    const r = await cli([url, '--resolve', p.resolveArg, '--ca', pki.caPath, '--http-port', String(p.httpPort), '--health', '/api/health', '--websocket', '/socket.io/', '--websocket', '/private', '--quick', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as VerifyReport;
    const statuses = Object.fromEntries(doc.checks.map((c) => [c.id, c.status]));
    expect(statuses).toMatchObject({ 'app.health': 'pass', 'app.sio.websocket:/socket.io/': 'pass', 'app.sio.polling:/socket.io/': 'pass', 'app.ws:/private': 'pass', 'msg.broadcast': 'skip' });
  });
});
