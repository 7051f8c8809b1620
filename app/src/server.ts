/**
 * Assembles the chat server: one Node http server carrying the HTTP API, the web client, the `/ws`
 * WebSocket endpoint; several instances share messages over the Redis bus. `createChatServer(config).start()` listens;
 * `shutdown()` is the graceful SIGTERM path. The parts live in their own modules and share one
 * explicit `ServerContext`.
 */
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ChatConfig } from './config.js';
import type { Conn, ServerContext, ServerState } from './context.js';
import { MessageStore } from './db.js';
import { closeSpread, settlesWithin, spreadFor } from './drain.js';
import { createHttpRouter } from './http-router.js';
import { sendError } from './http-util.js';
import { RoomHub } from './hub.js';
import { DEFAULT_LIMITS, type ChatLimits } from './limits.js';
import { createLogger, type Logger } from './log.js';
import { createMessagesApi } from './messages-api.js';
import { createMetrics } from './metrics.js';
import { migrateUntilReady } from './migrate.js';
import { ErrorCode, MAX_PAYLOAD_BYTES } from './protocol.js';
import { RedisBus } from './bus.js';
import { RoomOrder } from './room-order.js';
import { createTokenVerifier } from './token.js';
import { selectProtocol } from './net-util.js';
import { createUpgradeHandler } from './upgrade.js';
import { APP_VERSION } from './version.js';
import { loadWebAssets } from './web-assets.js';
import { createWsSessions, heartbeatSlices } from './ws-session.js';

export { APP_VERSION } from './version.js';
export { DEFAULT_LIMITS, type ChatLimits } from './limits.js';

export interface ChatServer {
  readonly http: http.Server;
  readonly store: MessageStore;
  readonly hub: RoomHub;
  /** The Redis bus to the sibling instances, when MESSENGER_REDIS names one. */
  readonly bus: RedisBus | undefined;
  /** Listens on config host/port (port 0 picks a free one) and resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Graceful stop (SIGTERM): refuse new connections and sends, store in-flight messages, then close each socket
   * with 1012 at a random moment within config.drainSpreadMs (serving it until then), close the pool. Ends
   * within drainSpreadMs + limits.shutdownTimeoutMs (plus closing the pool).
   */
  shutdown(reason?: string): Promise<void>;
  /** Current counters. */
  stats(): Record<string, number>;
}

/** Creates (but does not start) a chat server. */
export function createChatServer(config: ChatConfig, opts: { log?: Logger; limits?: Partial<ChatLimits> } = {}): ChatServer {
  const limits: ChatLimits = { ...DEFAULT_LIMITS, ratePerSec: config.ratePerSec, rateBurst: config.rateBurst, ...opts.limits };
  const log = opts.log ?? createLogger({ svc: 'messenger-chat', instance: config.instance });
  const verifyToken = createTokenVerifier(config.jwtSecret, config.jwtClaims);
  const allowedOrigins = new Set(config.allowedOrigins);
  const assets = loadWebAssets();
  const hub = new RoomHub(limits.maxBufferedBytes, (m) => {
    const c = m as Conn;
    log.warn('slow consumer dropped', { conn: c.id, user: c.user, addr: c.addr, maxBufferedBytes: limits.maxBufferedBytes });
  });
  const state: ServerState = { shuttingDown: false, ready: false, messagesStored: 0, joins: 0, boundPort: config.port };
  const conns = new Set<Conn>();
  const pollers = new Set<() => void>();
  const metrics = createMetrics(APP_VERSION, {
    connections: () => conns.size,
    pollWaiters: () => pollers.size,
    joins: () => state.joins,
    messagesIn: () => state.messagesStored,
    deliveries: () => hub.deliveries,
    slowDrops: () => hub.slowDrops,
    gapReads: () => order.gapsFilled,
    duplicates: () => order.duplicates,
    ...(config.bus
      ? {
          bus: {
            up: () => bus?.state === 'up',
            published: () => bus?.published ?? 0,
            received: () => bus?.received ?? 0,
            publishFailures: () => bus?.publishFailures ?? 0,
            outages: () => bus?.outages ?? 0,
          },
        }
      : {}),
  });
  const store = MessageStore.create(config.db, metrics.observeDb);
  const timers: NodeJS.Timeout[] = [];

  // Own writes and the siblings' reach local members in each room's seq order (room-order.ts).
  const order = new RoomOrder(
    (m) => hub.broadcast(m),
    (room, from, to) => store.seqRange(room, from, to),
    (room) => hub.hasMembers(room),
    (err, room) => log.warn('could not read a gap in a room; delivering out of order', { room, err }),
  );
  const bus = config.bus && new RedisBus({
    address: config.bus,
    instance: config.instance,
    log,
    onMessage: (m) => order.accept(m),
    onMark: (room, seq) => order.catchUp(room, seq),
    // Whatever was published while this instance was not subscribed: read where each room stands.
    onSubscribed: () => void catchUpRooms(),
  });

  /**
   * Reads where each room read here stands and delivers what this instance has not: after each
   * subscribe, retried (the database may be coming back too) until it succeeds or a newer
   * subscription starts its own.
   */
  async function catchUpRooms(): Promise<void> {
    const generation = bus?.subscription;
    for (let attempt = 0; !state.shuttingDown && bus?.subscription === generation; attempt++) {
      const rooms = order.roomNames();
      if (rooms.length === 0) return;
      try {
        for (const [room, seq] of await store.roomSeqs(rooms)) order.catchUp(room, seq);
        return;
      } catch (err) {
        if (attempt === 0) log.warn('could not read where the rooms stand after the bus came back; retrying', { err });
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  }

  const ctx: ServerContext = { config, limits, log, verifyToken, allowedOrigins, store, hub, order, bus, metrics, conns, pollers, state };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false, clientTracking: false, handleProtocols: selectProtocol });
  const sessions = createWsSessions(ctx);
  const onUpgrade = createUpgradeHandler(ctx, wss, sessions.onConnection);
  const onRequest = createHttpRouter(ctx, assets, createMessagesApi(ctx));

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

  function stats(): Record<string, number> {
    return {
      connections: conns.size,
      rooms: hub.roomCount,
      messagesStored: state.messagesStored,
      joins: state.joins,
      deliveries: hub.deliveries,
      slowDrops: hub.slowDrops,
      busUp: bus?.state === 'up' ? 1 : 0,
      busIn: bus?.received ?? 0,
      busOut: bus?.published ?? 0,
      busPublishFailures: bus?.publishFailures ?? 0,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  return {
    http: server,
    store,
    hub,
    bus,
    stats,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      state.boundPort = (server.address() as AddressInfo).port;
      // Listen first so /healthz answers (and /readyz says "migrating") while the database comes up.
      await migrateUntilReady(ctx);
      bus?.start();
      const slices = heartbeatSlices(config.pingIntervalMs);
      let tick = 0;
      timers.push(setInterval(() => sessions.heartbeat(tick++ % slices, slices), config.pingIntervalMs / slices));
      if (limits.statsIntervalMs > 0) timers.push(setInterval(() => log.info('stats', stats()), limits.statsIntervalMs));
      log.info('listening', { host: config.host, port: state.boundPort, version: APP_VERSION, bus: config.bus ? `${config.bus.host}:${config.bus.port}` : 'none', allowedOrigins: config.allowedOrigins });
      return state.boundPort;
    },
    async shutdown(reason = 'shutdown') {
      if (state.shuttingDown) return;
      // From here upgrades get 503 (upgrade.ts) and sends SHUTTING_DOWN (frames.ts): clients send them elsewhere.
      state.shuttingDown = true;
      log.info('shutting down', { reason, connections: conns.size, drainSpreadMs: config.drainSpreadMs });
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Finish in-flight writes: their acks and broadcasts are queued before the close frames below.
      await settlesWithin(store.drain(), limits.shutdownTimeoutMs / 2);
      await new Promise((r) => setImmediate(r));
      for (const p of [...pollers]) p();
      hub.wakeAll();
      // The bus and the heartbeat keep running while the closes spread, so the sockets still open keep
      // getting what the other instances (the new release among them) store.
      // Many sockets spread over longer (within the configured bound), so reconnects come at a steady rate.
      const spreadMs = spreadFor(conns.size, config.drainRatePerSec, config.drainSpreadMs);
      log.info('closing sockets', { connections: conns.size, spreadMs });
      await closeSpread(conns, spreadMs, limits.shutdownTimeoutMs / 2);
      for (const t of timers) clearInterval(t);
      await bus?.stop();
      wss.close();
      server.closeAllConnections();
      await closed;
      await store.close().catch((err: unknown) => log.error('closing the pool failed', { err }));
      log.info('stopped', stats());
    },
  };
}
