/**
 * One benchmark client connection, in either protocol the benchmarks speak: the chat's JSON frames
 * over a plain WebSocket (messenger-chat and the naive `ws` peer), or Socket.IO 4 (the Socket.IO
 * peer). Through TLS when `tls` is given: the URL's host name as SNI and Host, the connection made
 * to `tls.address` (a sandbox's nginx on loopback, before any DNS), the chain checked against `tls.ca`.
 */
import { Agent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

export type LoadProto = 'json' | 'socketio';

export interface LoadTarget {
  proto: LoadProto;
  tls?: { ca: string; address: string };
}

export interface LoadConn {
  /** Joins a room; resolves once the server confirmed it. */
  join(room: string): Promise<void>;
  send(room: string, text: string): void;
  /** Called with each broadcast message's text. */
  onMessage(cb: (text: string) => void): void;
  /** Called once if the connection ends without close() (the server dropped it). */
  onDrop(cb: () => void): void;
  close(): void;
}

const JOIN_TIMEOUT_MS = 15_000;

function lookupTo(address: string): LookupFunction {
  return (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family: 4 }]);
    else cb(null, address, 4);
  };
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${JOIN_TIMEOUT_MS} ms`)), JOIN_TIMEOUT_MS);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

/** Opens one connection; undefined when the server refused or did not answer. */
export async function openConn(url: string, token: string, target: LoadTarget): Promise<LoadConn | undefined> {
  const tls = target.tls ? { ca: target.tls.ca, lookup: lookupTo(target.tls.address) } : {};
  if (target.proto === 'socketio') {
    const u = new URL(url);
    const socket = io(`${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}`, {
      path: u.pathname,
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: JOIN_TIMEOUT_MS,
      extraHeaders: { authorization: `Bearer ${token}` },
      // In Node engine.io-client hands `agent` to ws (its type only names the browser's string | boolean).
      ...(target.tls ? { agent: new Agent({ ...tls, keepAlive: false }) as unknown as string } : {}),
    });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('connect_error', () => resolve(false));
    });
    if (!ok) {
      socket.close();
      return undefined;
    }
    return {
      join: (room) => withTimeout(socket.emitWithAck('join', room).then(() => undefined), 'join'),
      send: (room, text) => void socket.emit('send', { room, text }),
      onMessage: (cb) => void socket.on('message', (m: { text?: string }) => typeof m?.text === 'string' && cb(m.text)),
      onDrop: (cb) => void socket.on('disconnect', (reason) => reason !== 'io client disconnect' && cb()),
      close: () => void socket.close(),
    };
  }
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, ...tls });
  const ok = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('error', () => resolve(false));
  });
  if (!ok) return undefined;
  ws.on('error', () => {});
  const waiting = new Map<string, () => void>();
  const listeners: Array<(text: string) => void> = [];
  ws.on('message', (data) => {
    const s = data.toString();
    if (s.startsWith('{"type":"message"')) {
      const text = (JSON.parse(s) as { text: string }).text;
      for (const cb of listeners) cb(text);
    } else if (s.startsWith('{"type":"joined"')) {
      const room = (JSON.parse(s) as { room: string }).room;
      waiting.get(room)?.();
      waiting.delete(room);
    }
  });
  let ref = 0;
  let closing = false;
  return {
    join: (room) => withTimeout(new Promise<void>((resolve) => {
      waiting.set(room, resolve);
      ws.send(JSON.stringify({ type: 'join', room }));
    }), 'join'),
    // `send` must carry a ref (the ack echoes it).
    send: (room, text) => ws.send(JSON.stringify({ type: 'send', room, text, ref: ++ref })),
    onMessage: (cb) => void listeners.push(cb),
    onDrop: (cb) => void ws.once('close', () => closing || cb()),
    close: () => {
      closing = true;
      ws.terminate();
    },
  };
}
