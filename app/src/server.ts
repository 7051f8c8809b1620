/**
 * Assembles the chat server: one Node http server carrying the HTTP API, the web client, the `/ws`
 * WebSocket endpoint and the instance relay. `createChatServer(config).start()` listens;
 * `shutdown()` is the graceful SIGTERM path.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { ChatConfig } from './config.js';
import { MessageStore } from './db.js';
import { RoomHub, type Member } from './hub.js';
import { createLogger, type Logger } from './log.js';
import { clientAddress, rejectUpgrade, tokenOf } from './net-util.js';
import {
  CloseCode,
  ErrorCode,
  errorFrame,
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  isValidRoom,
  MAX_PAYLOAD_BYTES,
  MAX_ROOMS_PER_CONNECTION,
  MAX_TEXT_LENGTH,
  parseClientFrame,
  type ChatMessage,
  type ClientFrame,
  type ErrorCodeName,
  type ServerFrame,
} from './protocol.js';
import { TokenBucket } from './rate-limit.js';
import { Relay, RELAY_PATH } from './relay.js';
import { createTokenVerifier } from './token.js';
import { loadWebAssets } from './web-assets.js';

declare const __MESSENGER_VERSION__: string | undefined;
/** Version baked in by the bundle; "dev" from source. */
export const APP_VERSION = typeof __MESSENGER_VERSION__ !== 'undefined' ? __MESSENGER_VERSION__ : 'dev';

/** Tunables that are not part of the environment contract (tests and the bench shrink or raise them). */
export interface ChatLimits {
  /** Frames per second per connection, and burst. */
  ratePerSec: number;
  rateBurst: number;
  /** Rate-limit violations tolerated before closing with 1008. */
  maxRateViolations: number;
  /** A connection whose unsent buffer exceeds this is dropped. */
  maxBufferedBytes: number;
  /** Upper bound of the graceful shutdown, ms. */
  shutdownTimeoutMs: number;
  /** Longest long-poll wait, seconds. */
  maxPollWaitS: number;
  /** Interval of the periodic stats log line, ms (0 = off). */
  statsIntervalMs: number;
}

export const DEFAULT_LIMITS: ChatLimits = {
  ratePerSec: 20,
  rateBurst: 40,
  maxRateViolations: 100,
  maxBufferedBytes: 1024 * 1024,
  shutdownTimeoutMs: 10_000,
  maxPollWaitS: 25,
  statsIntervalMs: 60_000,
};

interface Conn extends Member {
  readonly id: number;
  readonly user: string;
  readonly addr: string;
  readonly bucket: TokenBucket;
  alive: boolean;
  violations: number;
}

export interface ChatServer {
  readonly http: http.Server;
  readonly store: MessageStore;
  readonly hub: RoomHub;
  readonly relay: Relay;
  /** Listens on config host/port (port 0 picks a free one) and resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful stop: refuse new work, store in-flight messages, close sockets with 1001, close the pool. */
  shutdown(reason?: string): Promise<void>;
  /** Current counters. */
  stats(): Record<string, number>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(data), ...extra });
  res.end(data);
}

function sendError(res: ServerResponse, status: number, code: ErrorCodeName, message: string, extra: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, extra);
}

/** Reads a request body up to `limit` bytes; resolves undefined when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Creates (but does not start) a chat server. */
export function createChatServer(config: ChatConfig, opts: { log?: Logger; limits?: Partial<ChatLimits> } = {}): ChatServer {
  const limits: ChatLimits = { ...DEFAULT_LIMITS, ratePerSec: config.ratePerSec, rateBurst: config.rateBurst, ...opts.limits };
  const log = opts.log ?? createLogger({ svc: 'messenger-chat', instance: config.instance });
  const verifyToken = createTokenVerifier(config.jwtSecret);
  const allowedOrigins = new Set(config.allowedOrigins);
  const assets = loadWebAssets();
  const store = MessageStore.create(config.db);
  const hub = new RoomHub(limits.maxBufferedBytes, (m) => {
    const c = m as Conn;
    log.warn('slow consumer dropped', { conn: c.id, user: c.user, addr: c.addr, maxBufferedBytes: limits.maxBufferedBytes });
  });
  const conns = new Set<Conn>();
  const pollers = new Set<() => void>();
  let nextConnId = 1;
  let shuttingDown = false;
  let ready = false;
  let messagesStored = 0;
  let boundPort = config.port;
  const timers: NodeJS.Timeout[] = [];
  // Per-user bucket for the HTTP POST fallback; bounded map, cleared when full.
  const httpBuckets = new Map<string, TokenBucket>();

  const relay = new Relay({
    secret: config.jwtSecret,
    instance: config.instance,
    ownPort: () => boundPort,
    peers: config.peers,
    log,
    onMessage: (m) => hub.broadcast(m),
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false, clientTracking: false });

  /** Stores a message, then acks (via the caller), broadcasts locally and relays to peers. */
  async function accept(room: string, user: string, text: string): Promise<ChatMessage> {
    const m = await store.insert(room, user, text);
    messagesStored += 1;
    hub.broadcast(m);
    relay.publish(m);
    return m;
  }

  function isOriginAllowed(origin: string | undefined): boolean {
    return origin === undefined || allowedOrigins.has(origin);
  }

  // ---------- WebSocket ----------

  function reply(c: Conn, frame: ServerFrame): void {
    hub.deliver(c, JSON.stringify(frame));
  }

  async function handleFrame(c: Conn, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'join': {
        if (!c.rooms.has(frame.room) && c.rooms.size >= MAX_ROOMS_PER_CONNECTION) {
          reply(c, errorFrame(ErrorCode.TOO_MANY_ROOMS, `at most ${MAX_ROOMS_PER_CONNECTION} rooms per connection; leave one first`, frame.ref));
          return;
        }
        // Join before reading lastId so no message stored in between is missed.
        hub.join(frame.room, c);
        const lastId = await store.lastId(frame.room);
        reply(c, { type: 'joined', room: frame.room, lastId, ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
        return;
      }
      case 'leave':
        hub.leave(frame.room, c);
        reply(c, { type: 'left', room: frame.room, ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
        return;
      case 'send': {
        if (!c.rooms.has(frame.room)) {
          reply(c, errorFrame(ErrorCode.NOT_JOINED, `join room ${frame.room} before sending to it`, frame.ref));
          return;
        }
        if (shuttingDown) {
          reply(c, errorFrame(ErrorCode.SHUTTING_DOWN, 'server is restarting; reconnect and send again', frame.ref));
          return;
        }
        let m: ChatMessage;
        try {
          m = await store.insert(frame.room, c.user, frame.text);
        } catch (err) {
          log.error('store failed', { conn: c.id, room: frame.room, err });
          reply(c, errorFrame(ErrorCode.STORE_FAILED, 'message not stored; retry', frame.ref));
          return;
        }
        messagesStored += 1;
        // Ack first: the sender learns its id before its own copy arrives.
        reply(c, { type: 'ack', ref: frame.ref, id: m.id, ts: m.ts });
        hub.broadcast(m);
        relay.publish(m);
        return;
      }
      case 'history': {
        const messages = await store.history(frame.room, frame.after, frame.limit ?? HISTORY_DEFAULT_LIMIT);
        reply(c, { type: 'history', room: frame.room, messages, ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
        return;
      }
    }
  }

  function onMessage(c: Conn, data: WebSocket.RawData, isBinary: boolean): void {
    if (!c.bucket.take()) {
      c.violations += 1;
      if (c.violations > limits.maxRateViolations) {
        log.warn('rate limit abuse; closing', { conn: c.id, user: c.user, addr: c.addr });
        c.ws.close(CloseCode.POLICY_VIOLATION, 'rate limit exceeded');
        return;
      }
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
      reply(c, errorFrame(ErrorCode.RATE_LIMITED, `more than ${limits.ratePerSec} frames/s; slow down`, ref));
      return;
    }
    if (isBinary) {
      reply(c, errorFrame(ErrorCode.BINARY_FRAME, 'binary frames are not supported; send JSON text frames'));
      return;
    }
    const parsed = parseClientFrame(data.toString());
    if (!parsed.ok) {
      reply(c, parsed.error);
      return;
    }
    const frame = parsed.frame;
    handleFrame(c, frame).catch((err: unknown) => {
      log.error('frame handling failed', { conn: c.id, type: frame.type, err });
      reply(c, errorFrame(ErrorCode.STORE_FAILED, 'database unavailable; retry', frame.ref));
    });
  }

  function onConnection(ws: WebSocket, user: string, addr: string): void {
    const c: Conn = {
      id: nextConnId++,
      ws,
      user,
      addr,
      rooms: new Set(),
      bucket: new TokenBucket(limits.ratePerSec, limits.rateBurst),
      alive: true,
      violations: 0,
    };
    conns.add(c);
    log.info('ws connected', { conn: c.id, user, addr, connections: conns.size });
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
    ws.on('close', (code) => {
      conns.delete(c);
      hub.leaveAll(c);
      log.info('ws closed', { conn: c.id, user, code, connections: conns.size });
    });
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === RELAY_PATH) {
      relay.handleUpgrade(req, socket, head);
      return;
    }
    if (url.pathname !== '/ws') return rejectUpgrade(socket, 404, ErrorCode.NOT_FOUND, 'WebSocket endpoint is /ws');
    if (shuttingDown) return rejectUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting');
    const addr = clientAddress(req);
    const origin = req.headers.origin;
    if (!isOriginAllowed(origin)) {
      log.warn('upgrade refused: origin', { addr, origin });
      return rejectUpgrade(socket, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
    }
    const check = await verifyToken(tokenOf(req, url));
    if (!check.ok) {
      log.warn('upgrade refused: token', { addr, reason: check.reason });
      return rejectUpgrade(socket, 401, ErrorCode.UNAUTHORIZED, `token ${check.reason}`);
    }
    if (shuttingDown) return rejectUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting');
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, check.sub, addr));
  }

  function heartbeat(): void {
    for (const c of conns) {
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

  // ---------- HTTP ----------

  function corsHeaders(origin: string | undefined): Record<string, string> {
    if (origin === undefined || !allowedOrigins.has(origin)) return {};
    return {
      'access-control-allow-origin': origin,
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-max-age': '600',
      vary: 'Origin',
    };
  }

  async function handleMessagesApi(req: IncomingMessage, res: ServerResponse, url: URL, room: string): Promise<void> {
    const origin = req.headers.origin;
    const cors = corsHeaders(origin);
    if (req.method === 'OPTIONS') {
      if (!isOriginAllowed(origin)) return sendError(res, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      return sendError(res, 405, ErrorCode.BAD_FRAME, 'use GET or POST', { allow: 'GET, POST, OPTIONS' });
    }
    // Same-origin browser GETs carry no Origin; foreign ones are refused like on /ws.
    if (!isOriginAllowed(origin)) return sendError(res, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
    const check = await verifyToken(tokenOf(req, url));
    if (!check.ok) return sendError(res, 401, ErrorCode.UNAUTHORIZED, `token ${check.reason}`, { ...cors, 'www-authenticate': 'Bearer' });
    if (!isValidRoom(room)) return sendError(res, 400, ErrorCode.BAD_ROOM, 'room must match [a-z0-9_-]{1,64}', cors);

    if (req.method === 'GET') {
      const afterRaw = url.searchParams.get('after');
      const limitRaw = url.searchParams.get('limit');
      const waitRaw = url.searchParams.get('wait');
      if (afterRaw !== null && !/^\d{1,15}$/.test(afterRaw)) return sendError(res, 400, ErrorCode.BAD_FRAME, 'after must be a non-negative integer message id', cors);
      if (limitRaw !== null && !(/^\d{1,4}$/.test(limitRaw) && Number(limitRaw) >= 1 && Number(limitRaw) <= HISTORY_MAX_LIMIT)) {
        return sendError(res, 400, ErrorCode.BAD_FRAME, `limit must be an integer from 1 to ${HISTORY_MAX_LIMIT}`, cors);
      }
      if (waitRaw !== null && !(/^\d{1,3}$/.test(waitRaw) && Number(waitRaw) <= limits.maxPollWaitS)) {
        return sendError(res, 400, ErrorCode.BAD_FRAME, `wait must be an integer number of seconds from 0 to ${limits.maxPollWaitS}`, cors);
      }
      const after = afterRaw === null ? undefined : Number(afterRaw);
      const limit = limitRaw === null ? HISTORY_DEFAULT_LIMIT : Number(limitRaw);
      const waitS = waitRaw === null ? 0 : Number(waitRaw);
      let messages = await store.history(room, after, limit);
      // Long polling: with `after` and `wait`, hold the request until a message reaches this room here.
      if (messages.length === 0 && after !== undefined && waitS > 0 && !shuttingDown) {
        await new Promise<void>((resolve) => {
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            clearTimeout(t);
            cancel();
            pollers.delete(finish);
            resolve();
          };
          const t = setTimeout(finish, waitS * 1000);
          const cancel = hub.watch(room, finish);
          pollers.add(finish);
          req.socket.once('close', finish);
        });
        if (req.socket.destroyed) return;
        messages = await store.history(room, after, limit);
      }
      return sendJson(res, 200, { messages }, cors);
    }

    // POST
    const bucketKey = check.sub;
    let bucket = httpBuckets.get(bucketKey);
    if (!bucket) {
      if (httpBuckets.size >= 10_000) httpBuckets.clear();
      bucket = new TokenBucket(limits.ratePerSec, limits.rateBurst);
      httpBuckets.set(bucketKey, bucket);
    }
    if (!bucket.take()) return sendError(res, 429, ErrorCode.RATE_LIMITED, `more than ${limits.ratePerSec} messages/s; slow down`, { ...cors, 'retry-after': '1' });
    if (shuttingDown) return sendError(res, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting; retry', cors);
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    if (body === undefined) return sendError(res, 413, ErrorCode.PAYLOAD_TOO_LARGE, `body larger than ${MAX_PAYLOAD_BYTES} bytes`, cors);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 400, ErrorCode.BAD_JSON, 'body must be JSON like {"text":"hello"}', cors);
    }
    const text = (parsed as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || text.trim().length === 0) return sendError(res, 400, ErrorCode.BAD_TEXT, '"text" must be a non-empty string', cors);
    if (text.length > MAX_TEXT_LENGTH) return sendError(res, 400, ErrorCode.TEXT_TOO_LONG, `"text" is longer than ${MAX_TEXT_LENGTH} characters`, cors);
    let m: ChatMessage;
    try {
      m = await accept(room, check.sub, text);
    } catch (err) {
      log.error('store failed', { room, err });
      return sendError(res, 503, ErrorCode.STORE_FAILED, 'message not stored; retry', cors);
    }
    return sendJson(res, 201, m, cors);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return sendJson(res, shuttingDown ? 503 : 200, { status: shuttingDown ? 'stopping' : 'ok', instance: config.instance, version: APP_VERSION, connections: conns.size });
    }
    if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (shuttingDown) return sendJson(res, 503, { status: 'stopping' });
      if (!ready) return sendJson(res, 503, { status: 'migrating' });
      try {
        await store.ping();
        return sendJson(res, 200, { status: 'ready', instance: config.instance, peers: relay.connectedPeers });
      } catch (err) {
        return sendJson(res, 503, { status: 'database unreachable', error: (err as Error).message });
      }
    }
    const m = /^\/api\/rooms\/([^/]+)\/messages$/.exec(path);
    if (m) {
      let room: string;
      try {
        room = decodeURIComponent(m[1] ?? '');
      } catch {
        room = '';
      }
      return handleMessagesApi(req, res, url, room);
    }
    const asset = assets.get(path);
    if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, { etag: asset.etag });
        res.end();
        return;
      }
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        etag: asset.etag,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'",
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    sendError(res, 404, ErrorCode.NOT_FOUND, `no route ${req.method ?? ''} ${path}`);
  }

  const server = http.createServer({ requestTimeout: (limits.maxPollWaitS + 30) * 1000 }, (req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      log.error('http handler failed', { path: req.url, err });
      if (!res.headersSent) sendError(res, 500, ErrorCode.STORE_FAILED, 'internal error');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((err: unknown) => {
      log.error('upgrade failed', { err });
      socket.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  async function migrateUntilReady(): Promise<void> {
    for (let attempt = 1; !shuttingDown; attempt++) {
      try {
        const applied = await store.migrate();
        ready = true;
        log.info('database ready', { appliedMigrations: applied });
        return;
      } catch (err) {
        log.error('database not ready; retrying', { attempt, err });
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
      }
    }
  }

  function stats(): Record<string, number> {
    return {
      connections: conns.size,
      rooms: hub.roomCount,
      messagesStored,
      deliveries: hub.deliveries,
      slowDrops: hub.slowDrops,
      relayPeers: relay.connectedPeers,
      relayIn: relay.received,
      relayOut: relay.published,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  return {
    http: server,
    store,
    hub,
    relay,
    stats,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      boundPort = (server.address() as AddressInfo).port;
      // Listen first so /healthz answers (and /readyz says "migrating") while the database comes up.
      await migrateUntilReady();
      relay.start();
      timers.push(setInterval(heartbeat, config.pingIntervalMs));
      if (limits.statsIntervalMs > 0) timers.push(setInterval(() => log.info('stats', stats()), limits.statsIntervalMs));
      log.info('listening', { host: config.host, port: boundPort, version: APP_VERSION, peers: config.peers.length, allowedOrigins: config.allowedOrigins });
      return boundPort;
    },
    async shutdown(reason = 'shutdown') {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info('shutting down', { reason, connections: conns.size });
      for (const t of timers) clearInterval(t);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + limits.shutdownTimeoutMs;
      // Finish in-flight writes: their acks and broadcasts are queued before the close frames below.
      await Promise.race([store.drain(), new Promise((r) => setTimeout(r, limits.shutdownTimeoutMs / 2))]);
      await new Promise((r) => setImmediate(r));
      for (const p of [...pollers]) p();
      hub.wakeAll();
      const waits: Promise<void>[] = [];
      for (const c of conns) {
        waits.push(new Promise((resolve) => c.ws.once('close', () => resolve())));
        c.ws.close(CloseCode.GOING_AWAY, 'server shutting down');
      }
      await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      for (const c of conns) c.ws.terminate();
      relay.stop();
      wss.close();
      server.closeAllConnections();
      await closed;
      await store.close().catch((err: unknown) => log.error('closing the pool failed', { err }));
      log.info('stopped', stats());
    },
  };
}
