/**
 * The socket phase of a graceful shutdown: every open WebSocket is closed with 1012 "service restart", each
 * at its own uniformly random moment within the spread, so the clients of a draining instance reconnect
 * spread out rather than in one stampede. Until its moment a socket is served as usual (broadcasts, what
 * arrives over the bus, history, pings). Bounded: whatever has not finished its close handshake by the
 * end of the spread plus the grace is terminated.
 */
import WebSocket from 'ws';
import type { Member } from './hub.js';
import { CloseCode } from './protocol.js';

/**
 * How long the closes of `connections` sockets spread: long enough that their reconnects arrive at no
 * more than `ratePerSec` (each one a TLS handshake, an upgrade and a join at the new release), at least
 * `minMs`, at most `maxMs` (the configured spread, which systemd's stop timeout allows for).
 */
export function spreadFor(connections: number, ratePerSec: number, maxMs: number, minMs = 2_000): number {
  if (maxMs <= 0) return 0;
  return Math.min(maxMs, Math.max(Math.min(minMs, maxMs), Math.ceil((connections / ratePerSec) * 1000)));
}

/** Resolves with true when `p` settles within `ms`, false otherwise; never leaves a timer behind. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the sockets of `members` (a snapshot is taken) over `spreadMs` (0 = all at once) and resolves once
 * all are closed, terminating the rest after `spreadMs + graceMs`.
 */
export async function closeSpread(members: Iterable<Member>, spreadMs: number, graceMs: number, random: () => number = Math.random): Promise<void> {
  const sockets = [...members].map((m) => m.ws);
  const closed = sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.once('close', () => resolve());
  }));
  const close = (ws: WebSocket) => ws.close(CloseCode.SERVICE_RESTART, 'service restart');
  const timers = spreadMs > 0 ? sockets.map((ws) => setTimeout(close, random() * spreadMs, ws)) : [];
  if (spreadMs <= 0) sockets.forEach(close);
  await settlesWithin(Promise.all(closed), spreadMs + graceMs);
  for (const t of timers) clearTimeout(t);
  for (const ws of sockets) ws.terminate();
}
