/**
 * A test double of a user's Socket.IO app, on node:http and `ws` (the `socket.io` server package is not
 * a dependency of this repository): Engine.IO v4 (open packet, ping/pong, long-polling with sessions,
 * the WebSocket transport) and Socket.IO v5's connect/ack on the main namespace, plus a health path,
 * plain WebSocket paths answering 101 and paths refusing the upgrade with 401. Only what verify and
 * socket.io-client's handshake exercise; the real server is exercised by the e2e tests against the
 * deployed NestJS fixture. The tests check the double against socket.io-client itself.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface DoubleOptions {
  /** Engine.IO pingInterval (default 25000, as Socket.IO's). */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Socket.IO's `path` (default /socket.io). */
  path?: string;
  healthPath?: string;
  /** Plain WebSocket paths answering 101 (an echo). */
  wsPaths?: string[];
  /** Paths whose upgrade is answered 401 (an app wanting a token). */
  authPaths?: string[];
  /** A connect middleware refusing every client: `44{"message":"not authorized"}`. */
  refuseConnect?: boolean;
  /** Socket.IO's `transports` (default both). */
  transports?: ('polling' | 'websocket')[];
}

export interface SocketIoDouble {
  port: number;
  /** The status the health path answers (mutable). */
  health: { status: number };
  /** Engine.IO sessions opened so far, by transport. */
  opened: { polling: number; websocket: number };
  /** Pongs (packet 3) received. */
  pongs: number;
  stop(): Promise<void>;
}

interface Session {
  sid: string;
  /** Packets waiting for the next polling GET. */
  queue: string[];
  /** A polling GET waiting for packets (long-poll). */
  waiting?: ServerResponse;
  ws?: WebSocket;
  pingTimer?: NodeJS.Timeout;
  pongTimer?: NodeJS.Timeout;
}

const id = () => randomBytes(15).toString('base64url');

export async function startSocketIoDouble(opts: DoubleOptions = {}): Promise<SocketIoDouble> {
  const pingInterval = opts.pingIntervalMs ?? 25_000;
  const pingTimeout = opts.pingTimeoutMs ?? 20_000;
  const eioPath = `${(opts.path ?? '/socket.io').replace(/\/+$/, '')}/`;
  const healthPath = opts.healthPath ?? '/api/health';
  const transports = opts.transports ?? ['polling', 'websocket'];
  const sessions = new Map<string, Session>();
  const state: SocketIoDouble = { port: 0, health: { status: 200 }, opened: { polling: 0, websocket: 0 }, pongs: 0, stop: async () => undefined };
  const wss = new WebSocketServer({ noServer: true });

  const openPacket = (sid: string, upgrades: string[]) => `0${JSON.stringify({ sid, upgrades, pingInterval, pingTimeout, maxPayload: 1_000_000 })}`;

  const close = (s: Session) => {
    clearTimeout(s.pingTimer);
    clearTimeout(s.pongTimer);
    sessions.delete(s.sid);
    s.waiting?.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end('1');
    s.ws?.terminate();
  };
  const send = (s: Session, packet: string) => {
    if (s.ws) {
      s.ws.send(packet);
      return;
    }
    s.queue.push(packet);
    flush(s);
  };
  const flush = (s: Session) => {
    if (!s.waiting || s.queue.length === 0) return;
    const res = s.waiting;
    s.waiting = undefined;
    res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end(s.queue.splice(0).join('\x1e'));
  };
  const schedulePing = (s: Session) => {
    s.pingTimer = setTimeout(() => {
      send(s, '2');
      s.pongTimer = setTimeout(() => close(s), pingTimeout);
    }, pingInterval);
  };
  const onPacket = (s: Session, packet: string) => {
    if (packet === '3') {
      state.pongs += 1;
      clearTimeout(s.pongTimer);
      schedulePing(s);
    } else if (packet === '1') {
      close(s);
    } else if (packet === '40' || packet.startsWith('40{')) {
      send(s, opts.refuseConnect ? '44{"message":"not authorized"}' : `40${JSON.stringify({ sid: id() })}`);
    }
    // 41 (disconnect), 42 (events): nothing to answer.
  };
  const newSession = (): Session => {
    const s: Session = { sid: id(), queue: [] };
    sessions.set(s.sid, s);
    schedulePing(s);
    return s;
  };

  const engineError = (res: ServerResponse, code: number, message: string) => {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message }));
  };

  const polling = (req: IncomingMessage, res: ServerResponse, q: URLSearchParams) => {
    if (q.get('EIO') !== '4') return engineError(res, 5, 'Unsupported protocol version');
    const transport = q.get('transport');
    if (transport === 'websocket') return engineError(res, 3, 'Bad request'); // a websocket request without Upgrade
    if (transport !== 'polling' || !transports.includes('polling')) return engineError(res, 0, 'Transport unknown');
    const sidParam = q.get('sid');
    if (sidParam === null) {
      if (req.method !== 'GET') return engineError(res, 2, 'Bad handshake method');
      const s = newSession();
      state.opened.polling += 1;
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end(openPacket(s.sid, transports.includes('websocket') ? ['websocket'] : []));
      return;
    }
    const s = sessions.get(sidParam);
    if (!s) return engineError(res, 1, 'Session ID unknown');
    if (req.method === 'GET') {
      if (s.waiting) return engineError(res, 3, 'Bad request'); // overlapping GETs
      s.waiting = res;
      res.once('close', () => {
        if (s.waiting === res) s.waiting = undefined;
      });
      flush(s);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('ok');
      for (const p of Buffer.concat(chunks).toString('utf8').split('\x1e')) if (p) onPacket(s, p);
    });
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://double');
    if (url.pathname === healthPath) {
      res.writeHead(state.health.status, { 'content-type': 'application/json' }).end(JSON.stringify({ status: state.health.status === 200 ? 'ok' : 'down' }));
    } else if (url.pathname === eioPath) {
      polling(req, res, url.searchParams);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Cannot GET"}');
    }
  });

  const refuse = (socket: Duplex, status: string, body = '') => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://double');
    if (url.pathname === eioPath) {
      const q = url.searchParams;
      if (q.get('EIO') !== '4') return refuse(socket, '400 Bad Request', '{"code":5,"message":"Unsupported protocol version"}');
      if (q.get('transport') !== 'websocket' || !transports.includes('websocket')) return refuse(socket, '400 Bad Request', '{"code":0,"message":"Transport unknown"}');
      if (q.get('sid') !== null) return refuse(socket, '400 Bad Request', '{"code":3,"message":"Bad request"}'); // upgrades from polling: not doubled
      wss.handleUpgrade(req, socket, head, (ws) => {
        const s = newSession();
        s.ws = ws;
        state.opened.websocket += 1;
        ws.on('message', (data: Buffer) => onPacket(s, data.toString('utf8')));
        ws.on('close', () => close(s));
        ws.send(openPacket(s.sid, []));
      });
      return;
    }
    if (opts.wsPaths?.includes(url.pathname)) {
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
      return;
    }
    if (opts.authPaths?.includes(url.pathname)) return refuse(socket, '401 Unauthorized', '{"message":"Unauthorized"}');
    refuse(socket, '404 Not Found', '{"message":"Cannot GET"}');
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as { port: number }).port;
  state.stop = async () => {
    for (const s of [...sessions.values()]) close(s);
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
