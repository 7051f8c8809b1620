/** Small helpers about peers and HTTP requests. */
import type { IncomingMessage } from 'node:http';
import { WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX } from './protocol.js';
import type { Duplex } from 'node:stream';

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/**
 * True for a request made on this host straight to the app: from loopback and not through nginx,
 * which connects from loopback too but always sets X-Forwarded-For and X-Real-IP
 * (templates/nginx/partials/proxy-forwarded.hbs). Guards /metrics and the local /readyz fields.
 */
export function isDirectLocal(req: IncomingMessage): boolean {
  return isLoopback(req.socket.remoteAddress) && req.headers['x-forwarded-for'] === undefined && req.headers['x-real-ip'] === undefined;
}

/**
 * The client's address for logs: the peer, or — when the peer is the local nginx (loopback) — the last
 * X-Forwarded-For entry, which is the address nginx itself saw.
 */
export function clientAddress(req: IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const xff = req.headers['x-forwarded-for'];
  if (isLoopback(peer) && typeof xff === 'string' && xff.length > 0) {
    const last = xff.split(',').map((s) => s.trim()).filter(Boolean).pop();
    if (last) return last;
  }
  return peer;
}

/**
 * The bearer token: `Authorization`, else the `bearer.<JWT>` subprotocol (what browsers send), else the
 * `token` query parameter (older clients; nginx's access log drops such a query).
 */
export function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m) return m[1];
  }
  const offered = req.headers['sec-websocket-protocol'];
  const fromProtocol = (typeof offered === 'string' ? offered.split(',') : [])
    .map((p) => p.trim())
    .find((p) => p.startsWith(WS_TOKEN_PROTOCOL_PREFIX));
  if (fromProtocol) return fromProtocol.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
  return url.searchParams.get('token') ?? undefined;
}

/** The subprotocol the server answers with: `messenger` when offered, none otherwise (never the token). */
export function selectProtocol(offered: Set<string>): string | false {
  return offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

/** Answers a refused upgrade with a plain HTTP response and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
