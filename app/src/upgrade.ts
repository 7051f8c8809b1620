/**
 * The HTTP upgrade gate: admits `/ws` only for an allowed
 * Origin and a valid token, refusing everything else with a plain HTTP answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { WebSocketServer } from 'ws';
import type { ServerContext } from './context.js';
import { clientAddress, rejectUpgrade, tokenOf } from './net-util.js';
import { isOriginAllowed } from './origin.js';
import { ErrorCode } from './protocol.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

/** Creates the `upgrade` handler; `onConnection` adopts the sockets it admits. */
export function createUpgradeHandler(
  ctx: ServerContext,
  wss: WebSocketServer,
  onConnection: (ws: WebSocket, socket: Duplex, user: string, addr: string, exp: number) => void,
): UpgradeHandler {
  const { log, state, allowedOrigins, verifyToken } = ctx;
  return async (req, socket, head) => {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return rejectUpgrade(socket, 404, ErrorCode.NOT_FOUND, 'WebSocket endpoint is /ws');
    if (state.shuttingDown) return rejectUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting');
    const addr = clientAddress(req);
    const origin = req.headers.origin;
    if (!isOriginAllowed(allowedOrigins, origin)) {
      log.warn('upgrade refused: origin', { addr, origin });
      return rejectUpgrade(socket, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
    }
    const check = await verifyToken(tokenOf(req, url));
    if (!check.ok) {
      log.warn('upgrade refused: token', { addr, reason: check.reason });
      return rejectUpgrade(socket, 401, ErrorCode.UNAUTHORIZED, `token ${check.reason}`);
    }
    // Checked again: shutdown may have begun while the token was being verified.
    if (state.shuttingDown) return rejectUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting');
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket, check.sub, addr, check.exp));
  };
}
