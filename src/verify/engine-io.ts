// The Engine.IO v4 / Socket.IO v5 wire format, as far as verify speaks it (no socket.io-client): the open
// packet, the main namespace's connect ack or error, polling bodies, and the server's JSON error answers.
// Pure functions, no network.

/** Engine.IO v4 joins the packets of one polling body with this character. */
export const RECORD_SEPARATOR = '\x1e';

/** The Engine.IO handshake: `0{"sid":…,"upgrades":[…],"pingInterval":25000,"pingTimeout":20000,"maxPayload":…}`. */
export interface EngineOpen {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload?: number;
}

/** A declared path that is Socket.IO's (its `path` option, default `/socket.io`). */
export const looksLikeSocketIo = (path: string): boolean => /socket\.io/i.test(path);

/**
 * The Engine.IO path as the server matches it: with exactly one trailing slash (`/socket.io` and
 * `/socket.io/` both mean requests to `/socket.io/?EIO=4…`, like socket.io-client sends them).
 */
export const engineIoPath = (path: string): string => `${path.replace(/\/+$/, '')}/`;

/**
 * The packets of a polling body. Engine.IO v4 separates them with U+001E; v3 (Socket.IO 2.x) prefixes
 * each with its length in characters (`96:0{…}`), which a v4 request should never get but is read anyway.
 */
export function decodePollingBody(body: string): string[] {
  if (/^\d+:/.test(body)) {
    const out: string[] = [];
    let i = 0;
    while (i < body.length) {
      const colon = body.indexOf(':', i);
      const len = Number(body.slice(i, colon));
      if (colon < 0 || !Number.isInteger(len)) return [body];
      out.push(body.slice(colon + 1, colon + 1 + len));
      i = colon + 1 + len;
    }
    return out;
  }
  return body.split(RECORD_SEPARATOR).filter((p) => p.length > 0);
}

/** The open packet's fields, or undefined when `packet` is not one. */
export function parseOpenPacket(packet: string | undefined): EngineOpen | undefined {
  if (!packet?.startsWith('0{')) return undefined;
  let v: Partial<EngineOpen>;
  try {
    v = JSON.parse(packet.slice(1)) as Partial<EngineOpen>;
  } catch {
    return undefined;
  }
  if (typeof v.sid !== 'string' || typeof v.pingInterval !== 'number') return undefined;
  return {
    sid: v.sid,
    upgrades: Array.isArray(v.upgrades) ? v.upgrades.map(String) : [],
    pingInterval: v.pingInterval,
    pingTimeout: typeof v.pingTimeout === 'number' ? v.pingTimeout : 0,
    ...(typeof v.maxPayload === 'number' ? { maxPayload: v.maxPayload } : {}),
  };
}

/** Answer of the main namespace to the connect packet `40`. */
export type ConnectAnswer = { kind: 'ack'; sid?: string } | { kind: 'refused'; message: string };

/**
 * `40{"sid":…}` (Socket.IO v5's connect ack; a bare `40` from older servers) or `44{"message":…}` (a
 * middleware refused the connection, usually for missing auth); undefined for any other packet.
 */
export function parseConnectAnswer(packet: string): ConnectAnswer | undefined {
  if (packet === '40') return { kind: 'ack' };
  if (packet.startsWith('40{')) {
    try {
      const v = JSON.parse(packet.slice(2)) as { sid?: unknown };
      return { kind: 'ack', ...(typeof v.sid === 'string' ? { sid: v.sid } : {}) };
    } catch {
      return undefined;
    }
  }
  if (packet.startsWith('44')) {
    let message = packet.slice(2);
    try {
      const v = JSON.parse(message) as { message?: unknown };
      if (typeof v.message === 'string') message = v.message;
    } catch {
      // keep the raw text
    }
    return { kind: 'refused', message };
  }
  return undefined;
}

/** Engine.IO's error answers (HTTP 400/403 with `{"code":N,"message":…}`). */
export const ENGINE_ERRORS = {
  UNKNOWN_TRANSPORT: 0,
  UNKNOWN_SID: 1,
  BAD_HANDSHAKE_METHOD: 2,
  BAD_REQUEST: 3,
  FORBIDDEN: 4,
  UNSUPPORTED_PROTOCOL_VERSION: 5,
} as const;

/** The `{code, message}` of an Engine.IO error body, or undefined for any other body. */
export function parseEngineError(body: string): { code: number; message: string } | undefined {
  try {
    const v = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof v.code === 'number' && typeof v.message === 'string') return { code: v.code, message: v.message };
  } catch {
    // not JSON
  }
  return undefined;
}

/** A packet or body for a cause line: quoted, control characters visible, at most 60 characters. */
export function shown(text: string): string {
  const q = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
  return text === '' ? 'an empty body' : q;
}
