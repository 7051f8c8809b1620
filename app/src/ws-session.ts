/**
 * The life of one accepted WebSocket: per-connection rate limiting, frame parsing, close and error
 * logging, and the ping/pong heartbeat that finds dead peers.
 */
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Conn, ServerContext } from './context.js';
import { handleFrame, reply } from './frames.js';
import { CloseCode, ErrorCode, errorFrame, parseClientFrame } from './protocol.js';
import { TokenBucket } from './rate-limit.js';

export interface WsSessions {
  /** Adopts a socket that passed the upgrade checks (ws and the socket under it) as `user` from `addr`. */
  onConnection(ws: WebSocket, socket: Duplex, user: string, addr: string, exp: number): void;
  /** One heartbeat tick for slice `slice` of `slices`: terminate its sockets that missed the last ping, ping the others. */
  heartbeat(slice: number, slices: number): void;
}

/** Creates the session handlers for one server; connection ids count from 1 per server. */
export function createWsSessions(ctx: ServerContext): WsSessions {
  const { limits, log, conns, hub } = ctx;
  let nextConnId = 1;

  function onMessage(c: Conn, data: WebSocket.RawData, isBinary: boolean): void {
    if (!c.bucket.take()) {
      c.violations += 1;
      if (c.violations > limits.maxRateViolations) {
        log.warn('rate limit abuse; closing', { conn: c.id, user: c.user, addr: c.addr });
        c.ws.close(CloseCode.POLICY_VIOLATION, 'rate limit exceeded');
        return;
      }
      // Echo the frame's ref without a full parse, so a client can match the refusal to its request.
      let ref: string | number | undefined;
      if (!isBinary) {
        const m = /"ref"\s*:\s*("(?:[^"\\]|\\.){1,128}"|-?\d{1,15})/.exec(data.toString());
        if (m?.[1]) {
          try {
            ref = JSON.parse(m[1]) as string | number;
          } catch {
            ref = undefined;
          }
        }
      }
      reply(ctx, c, errorFrame(ErrorCode.RATE_LIMITED, `more than ${limits.ratePerSec} frames/s; slow down`, ref));
      return;
    }
    if (isBinary) {
      reply(ctx, c, errorFrame(ErrorCode.BINARY_FRAME, 'binary frames are not supported; send JSON text frames'));
      return;
    }
    const parsed = parseClientFrame(data.toString());
    if (!parsed.ok) {
      reply(ctx, c, parsed.error);
      return;
    }
    const frame = parsed.frame;
    handleFrame(ctx, c, frame).catch((err: unknown) => {
      log.error('frame handling failed', { conn: c.id, type: frame.type, err });
      reply(ctx, c, errorFrame(ErrorCode.STORE_FAILED, 'database unavailable; retry', frame.ref));
    });
  }

  function onConnection(ws: WebSocket, socket: Duplex, user: string, addr: string, exp: number): void {
    const c: Conn = {
      id: nextConnId++,
      ws,
      socket,
      user,
      addr,
      rooms: new Set(),
      bucket: new TokenBucket(limits.ratePerSec, limits.rateBurst),
      alive: true,
      violations: 0,
    };
    conns.add(c);
    // Per connection at debug: nginx's access log already has each upgrade, and at 10,000 clients
    // two lines per connection cost journald alone 0.1 ms of CPU each connection, on top of our own.
    log.debug('ws connected', { conn: c.id, user, addr, connections: conns.size });
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      try {
        onMessage(c, data, isBinary);
      } catch (err) {
        log.error('message handler failed', { conn: c.id, err });
      }
    });
    ws.on('error', (err) => {
      // ws closes the socket itself (1009 for oversize, 1002 for protocol errors).
      log.info('ws error', { conn: c.id, err });
    });
    // A token is checked at the upgrade; the socket must not outlive it. 4001 tells the client to get a
    // fresh token before it reconnects. (Timers are at most ~24.8 days: a longer token is re-checked then.)
    let expiry: NodeJS.Timeout | undefined;
    const armExpiry = () => {
      const left = exp * 1000 - Date.now();
      if (left <= 0) {
        log.info('token expired; closing', { conn: c.id, user });
        ws.close(CloseCode.TOKEN_EXPIRED, 'token expired');
        return;
      }
      expiry = setTimeout(armExpiry, Math.min(left, 2 ** 31 - 1));
      expiry.unref();
    };
    armExpiry();
    ws.on('close', (code) => {
      clearTimeout(expiry);
      conns.delete(c);
      hub.leaveAll(c);
      log.debug('ws closed', { conn: c.id, user, code, connections: conns.size });
    });
  }

  function heartbeat(slice: number, slices: number): void {
    for (const c of conns) {
      if (c.id % slices !== slice) continue;
      // A socket closing (a drain's 1012 sent, its reply due) is left to finish: ping() would throw on it.
      if (c.ws.readyState !== c.ws.OPEN) continue;
      if (!c.alive) {
        log.info('heartbeat missed; terminating', { conn: c.id, user: c.user });
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  return { onConnection, heartbeat };
}

/**
 * Ticks per ping interval. Each tick pings one slice of the connections (by id), so every socket is
 * still pinged once per interval but 10,000 of them are not pinged in one go: a whole round is
 * 10,000 writes, over 100 ms in which no message goes out. Intervals under 200 ms (tests) keep
 * about 100 ms per tick.
 */
export function heartbeatSlices(intervalMs: number): number {
  return Math.max(1, Math.min(30, Math.floor(intervalMs / 100)));
}
