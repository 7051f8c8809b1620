/**
 * Relay between sibling instances on one host (the scale tier runs several behind nginx). Every instance
 * accepts relay sockets on /internal/relay (loopback only, HMAC of the JWT secret in a header) and dials
 * every peer in MESSENGER_PEERS. A message stored here is published on the outbound sockets only, and
 * what arrives inbound is broadcast locally only, so each message reaches each instance once. Loss (a
 * peer restarting) is recovered by clients through history.
 *
 * A deploy starts the new release beside the old one, each listing both as peers. The new one dials the old
 * at once; the old one's dial to the new one has been failing and sits in backoff, so accepting an inbound
 * peer redials every outbound that is down right away: both directions are up within milliseconds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { backoffDelay, type Backoff } from './backoff.js';
import type { PeerAddress } from './config.js';
import type { Logger } from './log.js';
import { isValidRoom, MAX_PAYLOAD_BYTES, type ChatMessage } from './protocol.js';
import { isDirectLocal, isLoopback, rejectUpgrade } from './net-util.js';

export const RELAY_PATH = '/internal/relay';
export const RELAY_AUTH_HEADER = 'x-messenger-relay-auth';
/** Accepted clock skew of a relay credential, seconds. */
const MAX_SKEW_S = 300;
/** A peer socket buffering more than this is skipped (its clients catch up through history). */
const MAX_RELAY_BUFFER = 8 * 1024 * 1024;

/** `instance.unixSeconds.hex(HMAC-SHA256(secret, "messenger-relay-v1.instance.unixSeconds"))`. */
export function relayCredential(secret: string, instance: string, nowS = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`messenger-relay-v1.${instance}.${nowS}`).digest('hex');
  return `${instance}.${nowS}.${mac}`;
}

/** Checks a relay credential; returns the sending instance id, or undefined. */
export function checkRelayCredential(secret: string, value: string | undefined, nowS = Math.floor(Date.now() / 1000)): string | undefined {
  if (!value) return undefined;
  const m = /^([A-Za-z0-9_.-]{1,64})\.(\d{1,12})\.([0-9a-f]{64})$/.exec(value);
  if (!m) return undefined;
  const [, instance, ts, mac] = m as unknown as [string, string, string, string];
  if (Math.abs(nowS - Number(ts)) > MAX_SKEW_S) return undefined;
  const want = createHmac('sha256', secret).update(`messenger-relay-v1.${instance}.${ts}`).digest();
  const got = Buffer.from(mac, 'hex');
  return got.length === want.length && timingSafeEqual(got, want) ? instance : undefined;
}

function isChatMessage(v: unknown): v is ChatMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return isValidRoom(m.room) && typeof m.id === 'number' && Number.isSafeInteger(m.id) &&
    (m.seq === undefined || (typeof m.seq === 'number' && Number.isSafeInteger(m.seq) && m.seq > 0)) &&
    typeof m.user === 'string' && typeof m.text === 'string' && typeof m.ts === 'string';
}

export interface RelayOptions {
  secret: string;
  instance: string;
  /** Own listening port, to skip self in the peer list. */
  ownPort: () => number;
  peers: PeerAddress[];
  log: Logger;
  /** Called for each message received from a peer. */
  onMessage: (m: ChatMessage) => void;
  /** Redial schedule of a lost or failed outbound socket (default RELAY_BACKOFF). */
  backoff?: Backoff;
}

/** A peer restarting is back within a second or so; one that is gone is tried about every 5 s. */
export const RELAY_BACKOFF: Backoff = { firstMaxMs: 100, baseMs: 200, maxMs: 10_000 };

/** One peer we dial: `ws` is the socket being dialled or open, undefined while waiting for `timer`. */
interface Outbound { peer: PeerAddress; ws: WebSocket | undefined; attempt: number; timer: NodeJS.Timeout | undefined }

export class Relay {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES * 2, perMessageDeflate: false });
  private readonly outbound: Outbound[] = [];
  private stopped = false;
  /** Messages received from peers / published to peers. */
  received = 0;
  published = 0;

  constructor(private readonly opts: RelayOptions) {}

  /** Dials every peer (except self) and keeps reconnecting with jittered, capped exponential backoff. */
  start(): void {
    const own = this.opts.ownPort();
    for (const peer of this.opts.peers) {
      if (peer.port === own && (isLoopback(peer.host) || peer.host === 'localhost')) continue;
      const o: Outbound = { peer, ws: undefined, attempt: 0, timer: undefined };
      this.outbound.push(o);
      this.dial(o);
    }
  }

  /** Number of peers with an open outbound relay socket. */
  get connectedPeers(): number {
    return this.outbound.filter((o) => o.ws?.readyState === WebSocket.OPEN).length;
  }

  /** Starts one dial (the only one of `o`: a pending retry is cancelled). */
  private dial(o: Outbound): void {
    if (this.stopped) return;
    clearTimeout(o.timer);
    o.timer = undefined;
    const host = o.peer.host.includes(':') ? `[${o.peer.host}]` : o.peer.host;
    const ws = new WebSocket(`ws://${host}:${o.peer.port}${RELAY_PATH}`, {
      headers: { [RELAY_AUTH_HEADER]: relayCredential(this.opts.secret, this.opts.instance) },
      perMessageDeflate: false,
      handshakeTimeout: 5_000,
    });
    o.ws = ws;
    ws.on('open', () => {
      o.attempt = 0;
      this.opts.log.info('relay peer connected', { peer: `${o.peer.host}:${o.peer.port}` });
    });
    ws.on('error', (err) => this.opts.log.debug('relay dial error', { peer: `${o.peer.host}:${o.peer.port}`, err }));
    ws.on('close', () => {
      if (o.ws !== ws) return;
      o.ws = undefined;
      if (this.stopped) return;
      o.attempt += 1;
      if (o.attempt === 1) this.opts.log.warn('relay peer disconnected; reconnecting', { peer: `${o.peer.host}:${o.peer.port}` });
      o.timer = setTimeout(() => this.dial(o), backoffDelay(o.attempt, this.opts.backoff ?? RELAY_BACKOFF));
    });
    // Outbound sockets only send; anything received is ignored.
    ws.on('message', () => {});
  }

  /**
   * Dials at once every outbound that is down (waiting for a retry): a peer that just connected to us is
   * likely the one those dials were failing to reach. One dial per outbound at most; one already dialling or
   * open is left alone.
   */
  private redialDown(): void {
    for (const o of this.outbound) if (o.ws === undefined) this.dial(o);
  }

  /** Forwards a locally stored message to every connected peer. */
  publish(m: ChatMessage): void {
    if (this.outbound.length === 0) return;
    const data = JSON.stringify({ type: 'message', room: m.room, id: m.id, ...(m.seq === undefined ? {} : { seq: m.seq }), user: m.user, text: m.text, ts: m.ts });
    for (const o of this.outbound) {
      const ws = o.ws;
      if (ws?.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_RELAY_BUFFER) continue;
      ws.send(data);
      this.published += 1;
    }
  }

  /** Handles an upgrade on RELAY_PATH: loopback peers with a valid credential only, never via nginx. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!isDirectLocal(req)) {
      rejectUpgrade(socket, 403, 'FORBIDDEN', 'relay is for local instances only');
      return;
    }
    const hv = req.headers[RELAY_AUTH_HEADER];
    const from = checkRelayCredential(this.opts.secret, typeof hv === 'string' ? hv : undefined);
    if (!from) {
      rejectUpgrade(socket, 401, 'UNAUTHORIZED', 'bad relay credential');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.opts.log.info('relay peer accepted', { from });
      this.redialDown();
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let v: unknown;
        try {
          v = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (!isChatMessage(v)) return;
        this.received += 1;
        try {
          this.opts.onMessage({ room: v.room, id: v.id, ...(v.seq === undefined ? {} : { seq: v.seq }), user: v.user, text: v.text, ts: v.ts });
        } catch (err) {
          this.opts.log.error('relay delivery failed', { err });
        }
      });
    });
  }

  /** Stops dialling and closes all relay sockets. */
  stop(): void {
    this.stopped = true;
    for (const o of this.outbound) {
      if (o.timer) clearTimeout(o.timer);
      o.ws?.terminate();
    }
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
