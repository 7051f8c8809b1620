// The raw WebSocket handshake against the target: either an open socket with its 101 response, or the
// status the proxy/app answered instead. Protocol frames are not spoken here (that is the app's client).
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket, { type ClientOptions } from 'ws';
import type { VerifyContext } from './runner.js';
import { connectOptions } from './target.js';

export type HandshakeResult =
  | { kind: 'open'; ws: WebSocket; ms: number; extensions: string; headers: IncomingHttpHeaders }
  | { kind: 'refused'; status: number; headers: IncomingHttpHeaders; body: string; ms: number }
  | { kind: 'error'; code: string; message: string; ms: number };

export interface HandshakeAsk {
  /** The token to present, or null for none. */
  token: string | null;
  /** Origin header; omitted when undefined (a non-browser client). */
  origin?: string;
  /** Another path (and query) on the target's host and port; default the target URL itself. */
  path?: string;
  /**
   * Called with the socket before it connects: a server that speaks first (Engine.IO's open packet)
   * may have its first frame in the same read as the 101, emitted before `handshake()` resolves.
   */
  onSocket?: (ws: WebSocket) => void;
}

/** ws client options for the target: pinned lookup, trusted roots, handshake bound, auth header. */
export function wsOptions(ctx: VerifyContext, ask: HandshakeAsk): ClientOptions {
  const { target, opts } = ctx;
  const headers: Record<string, string> = { 'user-agent': 'messenger-infra-verify' };
  if (ask.token) headers.authorization = `Bearer ${ask.token}`;
  return {
    ...connectOptions(target, opts.timeoutMs),
    handshakeTimeout: opts.timeoutMs,
    headers,
    ...(ask.origin ? { origin: ask.origin } : {}),
  };
}

export function handshake(ctx: VerifyContext, ask: HandshakeAsk): Promise<HandshakeResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: HandshakeResult) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const url = ask.path === undefined ? ctx.target.url : new URL(ask.path, ctx.target.url);
    const ws = new WebSocket(url, wsOptions(ctx, ask));
    ask.onSocket?.(ws);
    let headers: IncomingHttpHeaders = {};
    ws.once('upgrade', (res) => {
      headers = res.headers;
    });
    ws.once('open', () => done({ kind: 'open', ws, ms: elapsed(), extensions: String(headers['sec-websocket-extensions'] ?? ''), headers }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 16 && chunks.push(c));
      const finish = () => {
        done({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8').slice(0, 500), ms: elapsed() });
        ws.terminate();
      };
      res.once('end', finish);
      res.once('error', finish);
      res.once('close', finish);
    });
    ws.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? (/timed out/i.test(err.message) ? 'MI_ERR_VERIFY_TIMEOUT' : 'error');
      done({ kind: 'error', code, message: err.message, ms: elapsed() });
    });
  });
}

/** Closes a socket and waits for it to be gone (bounded), so checks leave nothing open behind them. */
export function closeSocket(ws: WebSocket, waitMs = 1000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, waitMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(1000, 'verify done');
  });
}
