// The WebSocket upgrade through the proxy: 101 with extensions, ping/pong, and the refusals
// (no token, a bad token, a foreign Origin) that must happen before the socket opens.
import { randomBytes } from 'node:crypto';
import { CheckFailure, UNREACHABLE_CODES } from './errors.js';
import { closeSocket, handshake, type HandshakeResult } from './handshake.js';
import { proxyName, statusCause } from './http-client.js';
import { pass, type CheckDef, type CheckOutcome, type VerifyContext } from './runner.js';
import { deadline, ms } from './timing.js';

/** An Origin no deployment allows: `.invalid` is reserved (RFC 2606). */
export const FOREIGN_ORIGIN = 'https://foreign-origin.verify.invalid';

/** A handshake that never got an HTTP answer on `path`: unreachable, or the upgrade broke. */
export function handshakeError(ctx: VerifyContext, path: string, r: Extract<HandshakeResult, { kind: 'error' }>): CheckOutcome {
  const unreachable = UNREACHABLE_CODES.has(r.code);
  return {
    status: 'fail',
    code: unreachable ? 'MI_ERR_VERIFY_CONNECT' : 'MI_ERR_VERIFY_UPGRADE',
    cause: `the WebSocket handshake on ${path} failed (${r.code}): ${r.message}`,
    // For wss:// the TLS check already reached the server; only ws:// learns it here.
    unreachable: unreachable && !ctx.target.secure,
  };
}

/** Fails the calling check with the likely cause of a handshake that did not open. */
export function handshakeFailure(ctx: VerifyContext, r: Exclude<HandshakeResult, { kind: 'open' }>): CheckOutcome {
  const path = ctx.target.url.pathname;
  if (r.kind === 'error') return handshakeError(ctx, path, r);
  const { status, headers } = r;
  if (status === 401) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_AUTH', cause: `the server refused the token (401): it is not signed with the server's MESSENGER_JWT_SECRET or has expired; check --token / --jwt-secret-file` };
  }
  if (status === 403) {
    const origin = ctx.opts.origin;
    return {
      status: 'fail',
      code: 'MI_ERR_VERIFY_ORIGIN',
      cause: origin ? `the server refused Origin ${origin} (403): add it to MESSENGER_ALLOWED_ORIGINS` : `403 on ${path} although no Origin was sent: something in front of the app forbids the request`,
    };
  }
  if (status === 502 || status === 503 || status === 504) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_UPSTREAM', cause: statusCause(status, headers, path) };
  }
  if (status >= 500 || status === 429) {
    return {
      status: 'fail',
      code: 'MI_ERR_VERIFY_UPSTREAM',
      cause:
        status === 429
          ? `429 Too Many Requests on ${path}: a rate limit in front of the app refused the connection`
          : `${proxyName(headers)} answered ${status} on ${path}: an error in the proxy or the app; its error log says why (e.g. "worker_connections are not enough")`,
      data: { status },
    };
  }
  // A 404 in the proxy's own words means the path is not routed; anything else (the app's 404/426 for a
  // plain GET, a 400) means the request reached the app without its Upgrade header.
  const fromProxy = status === 404 && !/^\s*\{/.test(r.body) && proxyName(headers) === 'nginx';
  if (fromProxy) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_UPGRADE', cause: `nginx answered 404 on ${path}: it does not route ${path} to the chat server`, data: { status } };
  }
  return {
    status: 'fail',
    code: 'MI_ERR_VERIFY_UPGRADE',
    cause:
      `${proxyName(headers)} is not forwarding the Upgrade header: got ${status} instead of 101 on ${path} ` +
      `(the site needs proxy_http_version 1.1, proxy_set_header Upgrade $http_upgrade and Connection $connection_upgrade)`,
    data: { status },
  };
}

export const wsUpgrade: CheckDef = {
  id: 'ws.upgrade',
  title: 'WebSocket upgrade returns 101 through the proxy',
  needs: ['dns.resolve', 'tls.chain'],
  async run(ctx) {
    const r = await handshake(ctx, { token: ctx.token, ...(ctx.opts.origin ? { origin: ctx.opts.origin } : {}) });
    if (r.kind !== 'open') return handshakeFailure(ctx, r);
    await closeSocket(r.ws);
    const extensions = r.extensions || 'none';
    return pass(`101 in ${ms(r.ms)} ms, extensions: ${extensions}`, { ms: ms(r.ms), extensions });
  },
};

export const wsPing: CheckDef = {
  id: 'ws.ping',
  title: 'ping answered by pong',
  needs: ['ws.upgrade'],
  async run(ctx) {
    const r = await handshake(ctx, { token: ctx.token });
    if (r.kind !== 'open') return handshakeFailure(ctx, r);
    const ws = r.ws;
    try {
      const payload = randomBytes(8);
      const started = performance.now();
      const pong = new Promise<void>((resolve) => {
        const onPong = (data: Buffer) => {
          if (data.equals(payload)) {
            ws.off('pong', onPong);
            resolve();
          }
        };
        ws.on('pong', onPong);
      });
      ws.ping(payload);
      await deadline(pong, ctx.opts.timeoutMs, 'MI_ERR_VERIFY_PING', `no pong within ${ctx.opts.timeoutMs} ms: the server or proxy drops control frames`);
      const rtt = ms(performance.now() - started);
      return pass(`pong in ${rtt} ms`, { ms: rtt });
    } finally {
      await closeSocket(ws);
    }
  },
};

/** Opens with the given credentials and expects `want` instead of 101; returns the status seen. */
async function expectRefused(ctx: VerifyContext, token: string | null, origin: string | undefined, want: number, what: string): Promise<number> {
  const r = await handshake(ctx, { token, ...(origin ? { origin } : {}) });
  if (r.kind === 'open') {
    await closeSocket(r.ws);
    throw new CheckFailure('MI_ERR_VERIFY_NOT_REFUSED', `the server accepted a WebSocket with ${what}: it must answer ${want} before upgrading`);
  }
  if (r.kind === 'error') throw new CheckFailure('MI_ERR_VERIFY_UPGRADE', `handshake with ${what} failed (${r.code}): ${r.message}`);
  if (r.status !== want) {
    throw new CheckFailure('MI_ERR_VERIFY_NOT_REFUSED', `a WebSocket with ${what} got ${r.status}, expected ${want}`, { status: r.status });
  }
  return r.status;
}

export const wsRejectToken: CheckDef = {
  id: 'ws.reject-token',
  title: 'missing and bad tokens are refused',
  needs: ['ws.upgrade'],
  async run(ctx) {
    const none = await expectRefused(ctx, null, undefined, 401, 'no token');
    const bad = await expectRefused(ctx, ctx.badToken, undefined, 401, 'a token signed with another secret');
    return pass(`no token → ${none}, bad token → ${bad}`, { missing: none, bad });
  },
};

export const wsRejectOrigin: CheckDef = {
  id: 'ws.reject-origin',
  title: 'a foreign Origin is refused',
  needs: ['ws.upgrade'],
  async run(ctx) {
    const status = await expectRefused(ctx, ctx.token, FOREIGN_ORIGIN, 403, `Origin ${FOREIGN_ORIGIN}`);
    return pass(`foreign Origin → ${status}`, { status });
  },
};
