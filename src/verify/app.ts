// A user's app (the stack's `app.source`): its declared health path answers 2xx, and each declared
// WebSocket path works through the proxy. A path that looks like Socket.IO's gets Socket.IO's real
// handshake, spoken here without socket.io-client (Engine.IO v4 open packet, the `40` connect and its
// ack, over WebSocket and over long-polling, and the server's heartbeat); any other path a plain upgrade.
// verify has no credentials for a user's app: a path that refuses it for want of them (401/403, or
// Socket.IO's "Forbidden" / a connect error) is reachable, which is what is checked, and passes with a note.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import {
  ENGINE_ERRORS,
  decodePollingBody,
  engineIoPath,
  looksLikeSocketIo,
  parseConnectAnswer,
  parseEngineError,
  parseOpenPacket,
  shown,
  type ConnectAnswer,
  type EngineOpen,
} from './engine-io.js';
import { CheckFailure, UNREACHABLE_CODES, errorCode, errorMessage } from './errors.js';
import { closeSocket, handshake, type HandshakeAsk, type HandshakeResult } from './handshake.js';
import { httpAsk, proxyName, type HttpAnswer, type HttpAsk } from './http-client.js';
import { pass, type CheckDef, type CheckOutcome, type VerifyContext } from './runner.js';
import { ms } from './timing.js';
import { handshakeError } from './upgrade.js';
import type { CheckId, CheckResult, VerifyApp } from './types.js';

const REDIRECTS = new Set([301, 302, 307, 308]);

/** The skip reason of every check that speaks the bundled server's chat protocol or its endpoints. */
export const BUNDLED_ONLY = 'applies to the bundled chat server only';

/** Over this pingInterval the first server ping is not awaited (it would dominate the run time). */
export const MAX_AWAITED_PING_INTERVAL_MS = 30_000;

/** What a user's app is asked with: only a token the user gave (`--token`), the `--origin` if any. */
function appAsk(ctx: VerifyContext): HandshakeAsk {
  return { token: ctx.opts.token ?? null, ...(ctx.opts.origin ? { origin: ctx.opts.origin } : {}) };
}

function appHeaders(ctx: VerifyContext): Record<string, string> {
  const h: Record<string, string> = {};
  if (ctx.opts.token) h.authorization = `Bearer ${ctx.opts.token}`;
  if (ctx.opts.origin) h.origin = ctx.opts.origin;
  return h;
}

/** The note of a path that answered but wants credentials verify does not have. */
function needsAuth(ctx: VerifyContext, what: string, data: CheckResult['data']): CheckOutcome {
  if (ctx.opts.token) {
    return { status: 'warn', cause: `${what} although --token was given: your app does not accept that token`, figure: 'reachable', data: { ...data, needsAuth: true } };
  }
  return pass(`reachable, needs auth: ${what} (verify has no credentials for your app)`, { ...data, needsAuth: true });
}

/** The likely cause of an unexpected status on a user's app path, in one line. */
function appStatusCause(status: number, headers: IncomingHttpHeaders, path: string, what: string): string {
  const proxy = proxyName(headers);
  switch (status) {
    case 502:
      return `${proxy} answered 502 Bad Gateway on ${path}: your app is not running or not listening on the port nginx proxies to`;
    case 503:
      return `503 Service Unavailable on ${path}: your app is up but not ready (a database or another dependency down?)`;
    case 504:
      return `${proxy} answered 504 Gateway Timeout on ${path}: your app accepted the connection but did not answer in time`;
    case 404:
      return `404 on ${path}: nothing serves ${what} there; check that the stack names the path your app serves`;
    case 301:
    case 302:
    case 307:
    case 308:
      return `${status} redirect on ${path} to ${headers.location ?? '?'}: ${what} must answer itself, not redirect`;
    default:
      return `unexpected ${status} on ${path}`;
  }
}

/** The outcome of a request that threw (nothing answered, a timeout, a TLS error). */
function requestFailure(ctx: VerifyContext, err: unknown, what: string): CheckOutcome {
  const code = errorCode(err) ?? 'error';
  if (code === 'MI_ERR_VERIFY_TIMEOUT') return { status: 'fail', code: 'MI_ERR_VERIFY_TIMEOUT', cause: `${what}: no answer within ${ctx.opts.timeoutMs} ms` };
  const unreachable = UNREACHABLE_CODES.has(code);
  return {
    status: 'fail',
    code: unreachable ? 'MI_ERR_VERIFY_CONNECT' : 'MI_ERR_VERIFY_HTTP',
    cause: `${what} failed (${code}): ${errorMessage(err)}`,
    // For wss:// the TLS check already reached the server; only ws:// learns it here.
    unreachable: unreachable && !ctx.target.secure,
  };
}

// ---------- health ----------

export function appHealth(path: string): CheckDef {
  return {
    id: 'app.health',
    title: `GET ${path} answers 2xx (your app's health)`,
    needs: ['dns.resolve', 'tls.chain'],
    async run(ctx) {
      const { target, opts } = ctx;
      let answer: HttpAnswer;
      try {
        answer = await httpAsk(target, { secure: target.secure, port: target.port, path, headers: appHeaders(ctx) }, opts.timeoutMs);
      } catch (err) {
        return requestFailure(ctx, err, `GET ${path}`);
      }
      const data = { status: answer.status, ms: ms(answer.ms) };
      if (answer.status >= 200 && answer.status < 300) return pass(`${answer.status} in ${data.ms} ms`, data);
      const cause =
        answer.status === 401 || answer.status === 403
          ? `${answer.status} on ${path}: the health path requires credentials; it must answer unauthenticated requests (nginx and the deploy's health gate ask it too)`
          : appStatusCause(answer.status, answer.headers, path, 'the health check');
      throw new CheckFailure('MI_ERR_VERIFY_HTTP', cause, data);
    },
  };
}

// ---------- WebSocket handshakes ----------

/**
 * The outcome of a WebSocket handshake on a user's path that did not open: unreachable/timeout/5xx
 * fail, 401/403 and Engine.IO's "Forbidden" pass as "needs auth", 404 and anything else fail naming
 * the path.
 */
function refusedUpgrade(ctx: VerifyContext, path: string, r: Exclude<HandshakeResult, { kind: 'open' }>, socketIo: boolean): CheckOutcome {
  if (r.kind === 'error') {
    if (r.code === 'MI_ERR_VERIFY_TIMEOUT') {
      return { status: 'fail', code: 'MI_ERR_VERIFY_TIMEOUT', cause: `no answer to the WebSocket upgrade on ${path} within ${ctx.opts.timeoutMs} ms` };
    }
    return handshakeError(ctx, path, r);
  }
  const { status, headers } = r;
  const data = { status };
  if (status === 401 || status === 403) return needsAuth(ctx, `the upgrade on ${path} answered ${status}`, data);
  if (socketIo && status === 400) {
    const e = parseEngineError(r.body);
    if (e?.code === ENGINE_ERRORS.FORBIDDEN) return needsAuth(ctx, `Socket.IO refused the connection on ${path} (400 "${e.message}")`, data);
    if (e?.code === ENGINE_ERRORS.UNSUPPORTED_PROTOCOL_VERSION) {
      throw new CheckFailure('MI_ERR_VERIFY_SOCKETIO', `the server on ${path} does not speak Engine.IO v4 (400 "${e.message}"): Socket.IO 2.x? verify speaks Socket.IO 3/4`, data);
    }
    if (e?.code === ENGINE_ERRORS.UNKNOWN_TRANSPORT) {
      return { status: 'warn', cause: `Socket.IO on ${path} does not offer the websocket transport (400 "${e.message}"): clients stay on long-polling`, data };
    }
  }
  if (status === 502 || status === 503 || status === 504) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_UPSTREAM', cause: appStatusCause(status, headers, path, 'a WebSocket'), data };
  }
  if (status === 404) {
    const hint = socketIo ? " (Socket.IO's `path` option)" : '';
    return {
      status: 'fail',
      code: 'MI_ERR_VERIFY_UPGRADE',
      cause: `404 on ${path}: nothing serves a WebSocket there; the stack's app.websocket must list the path your app listens on${hint}, and nginx forward the Upgrade header on it`,
      data,
    };
  }
  return {
    status: 'fail',
    code: 'MI_ERR_VERIFY_UPGRADE',
    cause:
      `got ${status} instead of 101 on ${path}: the upgrade did not reach a WebSocket server ` +
      `(nginx needs proxy_http_version 1.1 and the Upgrade/Connection headers on ${path}, and your app a WebSocket there)`,
    data,
  };
}

export function appWebSocket(path: string): CheckDef {
  return {
    id: `app.ws:${path}`,
    title: `WebSocket upgrade on ${path} returns 101`,
    needs: ['dns.resolve', 'tls.chain'],
    async run(ctx) {
      const r = await handshake(ctx, { ...appAsk(ctx), path });
      if (r.kind !== 'open') return refusedUpgrade(ctx, path, r, false);
      await closeSocket(r.ws);
      const extensions = r.extensions || 'none';
      return pass(`101 in ${ms(r.ms)} ms, extensions: ${extensions}`, { ms: ms(r.ms), extensions });
    },
  };
}

// ---------- Socket.IO over WebSocket ----------

/** Text messages of a socket in arrival order, awaited one at a time with a bound. */
class Inbox {
  private readonly queue: string[] = [];
  private waiter: (() => void) | undefined;
  closed: { code: number; at: number } | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.queue.push(isBinary ? '<binary frame>' : data.toString('utf8'));
      this.waiter?.();
    });
    ws.once('close', (code: number) => {
      this.closed = { code, at: performance.now() };
      this.waiter?.();
    });
  }

  /** The next message, or a CheckFailure with `cause` after `timeoutMs` or when the socket closes. */
  async next(timeoutMs: number, code: CheckFailure['code'], cause: (closed?: number) => string): Promise<string> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) return m;
      if (this.closed) throw new CheckFailure(code, cause(this.closed.code));
      const left = until - performance.now();
      if (left <= 0) throw new CheckFailure(code, cause());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiter = done;
      });
      this.waiter = undefined;
    }
  }
}

interface SioSession {
  inbox: Inbox;
  open: EngineOpen;
  answer: ConnectAnswer;
  /** When the open packet arrived (performance.now()). */
  openedAt: number;
  upgradeMs: number;
  openMs: number;
  connectMs: number;
}

const closedWhy = (code: number | undefined) => (code === undefined ? '' : ` (the connection closed with ${code})`);

/** Upgrades on the Engine.IO path, reads the open packet, connects the main namespace. */
async function openSioSocket(ctx: VerifyContext, path: string): Promise<SioSession | CheckOutcome> {
  const timeout = ctx.opts.timeoutMs;
  let inbox: Inbox | undefined;
  const r = await handshake(ctx, { ...appAsk(ctx), path: `${engineIoPath(path)}?EIO=4&transport=websocket`, onSocket: (ws) => (inbox = new Inbox(ws)) });
  if (r.kind !== 'open') return refusedUpgrade(ctx, path, r, true);
  if (!inbox) throw new Error('handshake() did not hand over its socket');
  try {
    const upgradedAt = performance.now();
    const first = await inbox.next(timeout, 'MI_ERR_VERIFY_SOCKETIO', (c) => `no Engine.IO open packet within ${timeout} ms after the upgrade on ${path}${closedWhy(c)}: is Socket.IO serving ${path}?`);
    const openedAt = performance.now();
    const open = parseOpenPacket(first);
    if (!open) {
      throw new CheckFailure('MI_ERR_VERIFY_SOCKETIO', `expected the Engine.IO open packet 0{"sid":…,"pingInterval":…} on ${path}, got ${shown(first)}: is Socket.IO 3/4 serving ${path}?`);
    }
    r.ws.send('40');
    let answer: ConnectAnswer | undefined;
    while (!answer) {
      const packet = await inbox.next(timeout, 'MI_ERR_VERIFY_SOCKETIO', (c) => `no answer to the Socket.IO connect packet 40 on ${path} within ${timeout} ms${closedWhy(c)}`);
      if (packet === '2') r.ws.send('3');
      else if (packet.startsWith('4')) answer = parseConnectAnswer(packet);
      if (!answer && packet.startsWith('4') && !packet.startsWith('42')) {
        throw new CheckFailure('MI_ERR_VERIFY_SOCKETIO', `expected the connect ack 40{"sid":…} on ${path}, got ${shown(packet)}`);
      }
    }
    const connectedAt = performance.now();
    return { inbox, open, answer, openedAt, upgradeMs: ms(r.ms), openMs: ms(openedAt - upgradedAt), connectMs: ms(connectedAt - openedAt) };
  } catch (err) {
    await closeSocket(r.ws);
    throw err;
  }
}

export const sioWebsocketId = (path: string): CheckId => `app.sio.websocket:${path}`;

export function sioWebsocket(path: string): CheckDef {
  return {
    id: sioWebsocketId(path),
    title: `Socket.IO handshake over WebSocket on ${path}`,
    needs: ['dns.resolve', 'tls.chain'],
    async run(ctx) {
      const s = await openSioSocket(ctx, path);
      if ('status' in s) return s;
      try {
        const data = { upgradeMs: s.upgradeMs, connectMs: s.connectMs, pingInterval: s.open.pingInterval, pingTimeout: s.open.pingTimeout };
        if (s.answer.kind === 'refused') return needsAuth(ctx, `the namespace / refused the connect (44 "${s.answer.message}")`, data);
        (ctx.sio ??= new Map()).set(path, { pingInterval: s.open.pingInterval, pingTimeout: s.open.pingTimeout });
        return pass(`101 in ${s.upgradeMs} ms, open packet (pingInterval ${s.open.pingInterval} ms), connect ack in ${s.connectMs} ms`, data);
      } finally {
        await closeSocket(s.inbox.ws);
      }
    },
  };
}

export function sioPing(path: string): CheckDef {
  return {
    id: `app.sio.ping:${path}`,
    title: `Socket.IO heartbeat on ${path}: the server's ping is answered`,
    needs: [sioWebsocketId(path)],
    background: true,
    skipIf: (ctx) => {
      const info = ctx.sio?.get(path);
      if (ctx.opts.quick) return "--quick: the server's first ping is not awaited";
      if (!info) return `no Socket.IO session was opened over WebSocket (${sioWebsocketId(path)} says why)`;
      if (info.pingInterval > MAX_AWAITED_PING_INTERVAL_MS) return `pingInterval ${info.pingInterval} ms is over ${MAX_AWAITED_PING_INTERVAL_MS / 1000} s: the first ping is not awaited`;
      return undefined;
    },
    async run(ctx) {
      const s = await openSioSocket(ctx, path);
      if ('status' in s) return s;
      try {
        if (s.answer.kind === 'refused') return needsAuth(ctx, `the namespace / refused the connect (44 "${s.answer.message}")`, {});
        const interval = s.open.pingInterval;
        const bound = interval + ctx.opts.timeoutMs;
        const until = performance.now() + bound;
        for (;;) {
          const packet = await s.inbox.next(Math.max(0, until - performance.now()), 'MI_ERR_VERIFY_PING', (c) =>
            c === undefined
              ? `no Engine.IO ping on ${path} within ${bound} ms (pingInterval ${interval} ms + --timeout)`
              : `the connection on ${path} closed (${c}) after ${((performance.now() - s.openedAt) / 1000).toFixed(1)} s, before the server's first ping at pingInterval ${interval} ms: ` +
                `the proxy times out idle WebSockets sooner (nginx proxy_read_timeout on ${path})`,
          );
          if (packet !== '2') continue; // events the app emits meanwhile
          s.inbox.ws.send('3');
          const afterMs = ms(performance.now() - s.openedAt);
          const lateMs = ms(afterMs - interval);
          return pass(`first server ping after ${afterMs} ms (pingInterval ${interval} ms, ${lateMs >= 0 ? '+' : ''}${lateMs} ms), answered with 3`, { pingInterval: interval, afterMs, lateMs });
        }
      } finally {
        await closeSocket(s.inbox.ws);
      }
    },
  };
}

// ---------- Socket.IO over long-polling ----------

/** Cookies the server set (e.g. a load balancer's), sent back like a browser would. */
function cookiesOf(headers: IncomingHttpHeaders): string[] {
  return (headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!.trim()).filter(Boolean);
}

export function sioPolling(path: string): CheckDef {
  return {
    id: `app.sio.polling:${path}`,
    title: `Socket.IO long-polling session on ${path}`,
    needs: ['dns.resolve', 'tls.chain'],
    async run(ctx) {
      const { target, opts } = ctx;
      const base = `${engineIoPath(path)}?EIO=4&transport=polling`;
      const cookies: string[] = [];
      let requests = 0;
      const ask = async (method: 'GET' | 'POST', query: string, body?: string): Promise<HttpAnswer> => {
        const headers: Record<string, string> = { ...appHeaders(ctx), accept: '*/*' };
        if (cookies.length) headers.cookie = cookies.join('; ');
        if (body !== undefined) headers['content-type'] = 'text/plain;charset=UTF-8';
        const req: HttpAsk = { secure: target.secure, port: target.port, path: `${base}&t=${randomBytes(4).toString('hex')}${query}`, method, headers, ...(body !== undefined ? { body } : {}) };
        requests += 1;
        const answer = await httpAsk(target, req, opts.timeoutMs);
        for (const c of cookiesOf(answer.headers)) {
          const name = c.split('=')[0];
          const i = cookies.findIndex((k) => k.split('=')[0] === name);
          if (i >= 0) cookies[i] = c;
          else cookies.push(c);
        }
        return answer;
      };
      const what = (method: string, sid?: string) => `${method} ${path}?transport=polling${sid ? ` with the sid` : ''}`;

      // 1. The handshake: GET without a sid opens a session.
      let opened: HttpAnswer;
      try {
        opened = await ask('GET', '');
      } catch (err) {
        return requestFailure(ctx, err, what('GET'));
      }
      if (opened.status !== 200) return pollingRefused(ctx, path, opened, what('GET'));
      const open = parseOpenPacket(decodePollingBody(opened.body)[0]);
      if (!open) {
        throw new CheckFailure('MI_ERR_VERIFY_POLLING', `${what('GET')} answered 200 but not with the Engine.IO open packet 0{"sid":…}: got ${shown(opened.body)}; is Socket.IO serving ${path}?`, { status: 200 });
      }
      const sid = `&sid=${encodeURIComponent(open.sid)}`;
      const data: Record<string, number> = { openMs: ms(opened.ms) };
      try {
        // 2. The connect packet, POSTed into the session: "ok".
        let posted: HttpAnswer;
        try {
          posted = await ask('POST', sid, '40');
        } catch (err) {
          return requestFailure(ctx, err, what('POST', sid));
        }
        if (posted.status !== 200 || posted.body !== 'ok') return pollingRefused(ctx, path, posted, what('POST', sid));
        data.postMs = ms(posted.ms);
        // 3. The connect ack, read back with a GET in the same session (pings or app events may come first).
        let answer: ConnectAnswer | undefined;
        const started = performance.now();
        let ackMs = 0;
        while (!answer) {
          const left = opts.timeoutMs - (performance.now() - started);
          if (left <= 0) throw new CheckFailure('MI_ERR_VERIFY_POLLING', `no connect ack 40{…} in the polling session on ${path} within ${opts.timeoutMs} ms`, data);
          let got: HttpAnswer;
          try {
            got = await ask('GET', sid);
          } catch (err) {
            return requestFailure(ctx, err, what('GET', sid));
          }
          if (got.status !== 200) return pollingRefused(ctx, path, got, what('GET', sid));
          ackMs += got.ms;
          const packets = decodePollingBody(got.body);
          if (packets.includes('2')) await ask('POST', sid, '3').catch(() => undefined);
          if (packets.includes('1')) throw new CheckFailure('MI_ERR_VERIFY_POLLING', `the server closed the polling session on ${path} (packet 1) instead of acking the connect`, data);
          for (const p of packets) answer ??= parseConnectAnswer(p);
        }
        data.ackMs = ms(ackMs);
        data.requests = requests;
        if (answer.kind === 'refused') return needsAuth(ctx, `the namespace / refused the connect over polling (44 "${answer.message}")`, data);
        return pass(`open in ${data.openMs} ms, POST 40 → ok, connect ack in ${data.ackMs} ms: one session across ${requests} requests`, data);
      } finally {
        // Close the session (packet 1) so it does not linger until pingTimeout.
        await ask('POST', sid, '1').catch(() => undefined);
      }
    },
  };
}

/** A polling request that did not answer 200/"ok": the session unknown (not sticky), refused, not routed. */
function pollingRefused(ctx: VerifyContext, path: string, a: HttpAnswer, what: string): CheckOutcome {
  const e = parseEngineError(a.body);
  const data = { status: a.status };
  if (e?.code === ENGINE_ERRORS.UNKNOWN_SID) {
    throw new CheckFailure(
      'MI_ERR_VERIFY_STICKY',
      `${what} answered ${a.status} "${e.message}": the request reached an instance that does not hold the session; ` +
        `with several instances, nginx must send each client's requests to one instance (hash $remote_addr consistent in the upstream)`,
      data,
    );
  }
  if (e?.code === ENGINE_ERRORS.UNKNOWN_TRANSPORT) return { status: 'skip', cause: `Socket.IO on ${path} does not offer long-polling (${a.status} "${e.message}"): clients must use transports: ['websocket']` };
  if (e?.code === ENGINE_ERRORS.FORBIDDEN || a.status === 401 || a.status === 403) return needsAuth(ctx, `${what} answered ${a.status}${e ? ` "${e.message}"` : ''}`, data);
  if (e?.code === ENGINE_ERRORS.UNSUPPORTED_PROTOCOL_VERSION) {
    throw new CheckFailure('MI_ERR_VERIFY_SOCKETIO', `the server on ${path} does not speak Engine.IO v4 (${a.status} "${e.message}"): Socket.IO 2.x? verify speaks Socket.IO 3/4`, data);
  }
  if (a.status === 502 || a.status === 503 || a.status === 504) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_UPSTREAM', cause: appStatusCause(a.status, a.headers, path, 'Socket.IO'), data };
  }
  const detail =
    a.status === 200
      ? `200 with ${shown(a.body)} instead of "ok"`
      : a.status === 404
        ? `404: nothing serves Socket.IO on ${path}; the stack's app.websocket must list Socket.IO's path`
        : e
          ? `${a.status} "${e.message}"`
          : `${a.status}${REDIRECTS.has(a.status) ? ` (a redirect to ${a.headers.location ?? '?'})` : ''}`;
  return { status: 'fail', code: 'MI_ERR_VERIFY_POLLING', cause: `${what} answered ${detail}`, data };
}

// ---------- the list ----------

/** The checks of each declared WebSocket path, in declaration order (a path listed twice counts once). */
export function appPathChecks(app: VerifyApp): CheckDef[] {
  return [...new Set(app.websocket)].flatMap((path) => (looksLikeSocketIo(path) ? [sioWebsocket(path), sioPolling(path), sioPing(path)] : [appWebSocket(path)]));
}
