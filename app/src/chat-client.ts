/**
 * A small Node client for the chat protocol (see protocol.ts), on `ws`. Used by the app tests, by
 * bench/chat.ts and by the post-deploy `verify` command, so it stays backward compatible.
 *
 *   const c = await ChatClient.connect({ url: 'wss://chat.example.com/ws', token, origin });
 *   await c.join('lobby');
 *   const ack = await c.send('lobby', 'hello');
 *   const msg = await c.waitForMessage({ room: 'lobby', id: ack.id });
 *   const { messages } = await c.history('lobby', { after: 0, limit: 50 });
 *   await c.close();
 */
import type { ErrorCode } from '../../src/errors/catalogue.js';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import WebSocket, { type ClientOptions } from 'ws';
import {
  parseServerFrame,
  WS_PROTOCOL,
  WS_TOKEN_PROTOCOL_PREFIX,
  type AckFrame,
  type ClientFrame,
  type ErrorFrame,
  type HistoryFrame,
  type JoinedFrame,
  type LeftFrame,
  type MessageFrame,
  type Ref,
  type ServerFrame,
} from './protocol.js';

/** Stable codes of ChatClientError. */
export const ChatClientErrorCode = {
  /** TCP/TLS/DNS failure before an HTTP response. */
  CONNECT: 'MI_ERR_CHAT_CONNECT',
  /** The server answered the upgrade with a non-101 HTTP status (`status` holds it: 401, 403, ...). */
  UPGRADE_REJECTED: 'MI_ERR_CHAT_UPGRADE_REJECTED',
  /** No answer within the timeout. */
  TIMEOUT: 'MI_ERR_CHAT_TIMEOUT',
  /** The socket closed while waiting (`closeCode` holds the close code). */
  CLOSED: 'MI_ERR_CHAT_CLOSED',
  /** The server answered with an `error` frame (`frame` holds it). */
  SERVER_ERROR: 'MI_ERR_CHAT_SERVER_ERROR',
} as const satisfies Record<string, ErrorCode>;
export type ChatClientErrorCodeName = (typeof ChatClientErrorCode)[keyof typeof ChatClientErrorCode];

/** Error thrown by ChatClient; `code` is stable, the other fields are set when they apply. */
export class ChatClientError extends Error {
  constructor(
    readonly code: ChatClientErrorCodeName,
    message: string,
    readonly details: { status?: number; closeCode?: number; frame?: ErrorFrame; cause?: unknown } = {},
  ) {
    super(message);
    this.name = 'ChatClientError';
  }
  get status(): number | undefined { return this.details.status; }
  get closeCode(): number | undefined { return this.details.closeCode; }
  get frame(): ErrorFrame | undefined { return this.details.frame; }
}

export interface ChatClientOptions {
  /** Full WebSocket URL including the path, e.g. `ws://127.0.0.1:3000/ws` or `wss://chat.example.com/ws`. */
  url: string;
  /** JWT; sent as `Authorization: Bearer` unless `tokenInQuery` or `tokenInProtocol` is set. */
  token?: string;
  /** Send the token as the `token` query parameter, as browsers do. */
  tokenInQuery?: boolean;
  /** Send the token as the `bearer.<JWT>` subprotocol beside `messenger`, as the web client does. */
  tokenInProtocol?: boolean;
  /** Origin header (omit for a non-browser client). */
  origin?: string;
  /** Extra request headers (e.g. Host). */
  headers?: Record<string, string>;
  /** Passthrough to ws ClientOptions: custom DNS lookup (e.g. pin a name to 127.0.0.1). */
  lookup?: LookupFunction;
  /** Passthrough: TLS SNI name. */
  servername?: string;
  /** Passthrough: CA certificate(s) to trust (e.g. a Pebble root). */
  ca?: ClientOptions['ca'];
  /** Any other ws ClientOptions; the fields above win. */
  wsOptions?: ClientOptions;
  /** Timeout for connect and for each request, ms (default 10000). */
  timeoutMs?: number;
  /** Keep every received `message` frame in `received` (default true; the bench turns it off). */
  keepMessages?: boolean;
}

/** Close code and reason of a finished connection. */
export interface CloseInfo { code: number; reason: string }

interface Waiter {
  match(frame: ServerFrame): boolean;
  resolve(frame: ServerFrame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One connection. Events: `frame` (every ServerFrame), `message` (MessageFrame), `error-frame`
 * (ErrorFrame), `close` (CloseInfo). Requests reject with ChatClientError.
 */
export class ChatClient extends EventEmitter {
  /** Every `message` frame received, in arrival order (unless keepMessages is false). */
  readonly received: MessageFrame[] = [];
  /** Every `error` frame received. */
  readonly errors: ErrorFrame[] = [];
  /** Set once the socket has closed. */
  closed: CloseInfo | undefined;
  private readonly waiters = new Set<Waiter>();
  private refSeq = 0;
  private readonly closedPromise: Promise<CloseInfo>;

  private constructor(readonly ws: WebSocket, private readonly timeoutMs: number, private readonly keepMessages: boolean) {
    super();
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.reject(new ChatClientError(ChatClientErrorCode.CLOSED, `connection closed (${code})`, { closeCode: code }));
        }
        this.waiters.clear();
        this.emit('close', this.closed);
        resolve(this.closed);
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame: ServerFrame;
      try {
        frame = parseServerFrame(data.toString());
      } catch {
        return;
      }
      if (frame.type === 'message' && this.keepMessages) this.received.push(frame);
      if (frame.type === 'error') this.errors.push(frame);
      for (const w of this.waiters) {
        if (w.match(frame)) {
          this.waiters.delete(w);
          clearTimeout(w.timer);
          w.resolve(frame);
        }
      }
      this.emit('frame', frame);
      if (frame.type === 'message') this.emit('message', frame);
      if (frame.type === 'error') this.emit('error-frame', frame);
    });
    // Errors after open surface as `close`; keep the process alive.
    ws.on('error', () => {});
  }

  /** Opens a connection; rejects with UPGRADE_REJECTED (and `status`) when the server refuses the upgrade. */
  static connect(opts: ChatClientOptions): Promise<ChatClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const url = new URL(opts.url);
    if (opts.token && opts.tokenInQuery) url.searchParams.set('token', opts.token);
    const headers: Record<string, string> = { ...(opts.wsOptions?.headers as Record<string, string> | undefined), ...opts.headers };
    if (opts.token && !opts.tokenInQuery && !opts.tokenInProtocol) headers.authorization = `Bearer ${opts.token}`;
    const protocols = opts.token && opts.tokenInProtocol ? [WS_PROTOCOL, `${WS_TOKEN_PROTOCOL_PREFIX}${opts.token}`] : [];
    // ws hands lookup/servername through to http(s).request / tls.connect.
    const wsOpts: ClientOptions & { lookup?: LookupFunction; servername?: string } = { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...opts.wsOptions, headers };
    if (opts.origin !== undefined) wsOpts.origin = opts.origin;
    if (opts.lookup !== undefined) wsOpts.lookup = opts.lookup;
    if (opts.servername !== undefined) wsOpts.servername = opts.servername;
    if (opts.ca !== undefined) wsOpts.ca = opts.ca;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, wsOpts);
      let settled = false;
      const done = (err: Error | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          ws.removeAllListeners();
          ws.on('error', () => {});
          ws.terminate();
          reject(err);
        } else {
          ws.removeAllListeners('open');
          ws.removeAllListeners('unexpected-response');
          ws.removeAllListeners('error');
          resolve(new ChatClient(ws, timeoutMs, opts.keepMessages ?? true));
        }
      };
      const timer = setTimeout(
        () => done(new ChatClientError(ChatClientErrorCode.TIMEOUT, `no WebSocket handshake from ${url.host} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      ws.once('open', () => done(undefined));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        res.resume();
        done(new ChatClientError(ChatClientErrorCode.UPGRADE_REJECTED, `server refused the WebSocket upgrade with HTTP ${status}`, { status }));
      });
      ws.once('error', (err) => {
        done(new ChatClientError(ChatClientErrorCode.CONNECT, `cannot connect to ${url.host}: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Sends a raw frame (object → JSON, string as is); for tests of malformed input. */
  sendRaw(data: ClientFrame | Record<string, unknown> | string | Buffer): void {
    this.ws.send(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data));
  }

  /** Waits for the first later frame that satisfies `match`. */
  waitForFrame<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, timeoutMs = this.timeoutMs, what = 'frame'): Promise<T> {
    if (this.closed) {
      return Promise.reject(new ChatClientError(ChatClientErrorCode.CLOSED, 'connection is closed', { closeCode: this.closed.code }));
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = {
        match,
        resolve: resolve as (f: ServerFrame) => void,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new ChatClientError(ChatClientErrorCode.TIMEOUT, `no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Sends a request with a fresh ref and resolves with the reply `type`, or rejects on an error frame with that ref. */
  private async request<T extends ServerFrame>(frame: ClientFrame, replyType: T['type']): Promise<T> {
    const ref = frame.ref as Ref;
    const reply = this.waitForFrame((f) => (f.type === replyType || f.type === 'error') && 'ref' in f && f.ref === ref, this.timeoutMs, `${replyType} for ${String(ref)}`);
    this.ws.send(JSON.stringify(frame));
    const f = await reply;
    if (f.type === 'error') throw new ChatClientError(ChatClientErrorCode.SERVER_ERROR, `${f.code}: ${f.message}`, { frame: f });
    return f as T;
  }

  /** A new unique ref for this connection. */
  nextRef(): string {
    this.refSeq += 1;
    return `c${this.refSeq}`;
  }

  /** Joins a room; resolves with `joined` (its lastId is the newest stored id in the room, 0 if none). */
  join(room: string): Promise<JoinedFrame> {
    return this.request<JoinedFrame>({ type: 'join', room, ref: this.nextRef() }, 'joined');
  }

  /** Leaves a room. */
  leave(room: string): Promise<LeftFrame> {
    return this.request<LeftFrame>({ type: 'leave', room, ref: this.nextRef() }, 'left');
  }

  /** Sends a message and resolves with its ack (stored id and timestamp). */
  send(room: string, text: string, ref: Ref = this.nextRef()): Promise<AckFrame> {
    return this.request<AckFrame>({ type: 'send', room, text, ref }, 'ack');
  }

  /** Fetches history: after an id (oldest first), or the newest `limit` messages when `after` is omitted. */
  history(room: string, opts: { after?: number; limit?: number } = {}): Promise<HistoryFrame> {
    return this.request<HistoryFrame>({ type: 'history', room, ...opts, ref: this.nextRef() }, 'history');
  }

  /**
   * Resolves with a `message` frame matching `match` (a predicate, or a room and/or id), looking first at
   * those already received, then waiting.
   */
  waitForMessage(match: ((m: MessageFrame) => boolean) | { room?: string; id?: number; text?: string }, timeoutMs = this.timeoutMs): Promise<MessageFrame> {
    const pred = typeof match === 'function'
      ? match
      : (m: MessageFrame) => (match.room === undefined || m.room === match.room) && (match.id === undefined || m.id === match.id) && (match.text === undefined || m.text === match.text);
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return this.waitForFrame<MessageFrame>((f) => f.type === 'message' && pred(f), timeoutMs, 'matching message');
  }

  /** Resolves when the socket closes (by either side). */
  waitForClose(): Promise<CloseInfo> {
    return this.closedPromise;
  }

  /** Closes the connection (default 1000) and waits for the close to finish (terminates after the timeout). */
  async close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.closed) return this.closed;
    const t = setTimeout(() => this.ws.terminate(), this.timeoutMs);
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    const info = await this.closedPromise;
    clearTimeout(t);
    return info;
  }
}
