/**
 * The chat wire protocol on `/ws`: frame types, the room-name rule, limits, error codes and the
 * validating parser for client frames. Shared by the server, the Node client, the tests, the bench
 * and the post-deploy `verify` command; keep it backward compatible (add, never change).
 *
 * client → server
 *   {"type":"join","room":R,"ref"?}            → {"type":"joined","room":R,"lastId":ID,"ref"?}
 *   {"type":"leave","room":R,"ref"?}           → {"type":"left","room":R,"ref"?}
 *   {"type":"send","room":R,"text":T,"ref":X}  → {"type":"ack","ref":X,"id":ID,"ts":ISO} to the sender,
 *                                                {"type":"message",...} to every member (sender included)
 *   {"type":"history","room":R,"after"?:ID,"limit"?:N,"ref"?}
 *                                              → {"type":"history","room":R,"messages":[...],"ref"?}
 *     `after` given: the oldest `limit` messages with id > after; omitted: the newest `limit` messages.
 *     Messages are always in ascending id order. `"more":true` when the page was cut short at
 *     HISTORY_MAX_BYTES: ask again after its last id (with `after`), as for a full page.
 *   A message carries `"seq":N`, its room's sequence number (1, 2, 3… in commit order, the same on
 *   every instance; absent on rows a release from before seqs stored): live messages of a room
 *   arrive in seq order, each once.
 * server → client on any failure: {"type":"error","code":CODE,"message":TEXT,"ref"?}
 *
 * `ref` is optional on every client frame except `send`, and is echoed in the reply (an extension: the
 * issue's frames stay exactly as specified).
 *
 * Restarts and deploys: a draining server answers `send` with SHUTTING_DOWN (nothing stored; send it again
 * after reconnecting), still delivers messages and answers `history` until it closes the socket with 1012
 * SERVICE_RESTART, each socket at its own random moment. Clients reconnect (1012 and 1001 alike), re-join
 * and catch up with `history` after the highest id they saw (reconnecting-client.ts, web/app.js).
 */

/**
 * Browsers cannot set headers on a WebSocket, so they carry the token as a subprotocol: they offer
 * [`messenger`, `bearer.<JWT>`] and the server selects `messenger`. A JWT is base64url and dots, both
 * valid in a subprotocol. Unlike `?token=`, it never lands in an access log's request line.
 */
export const WS_PROTOCOL = 'messenger';
export const WS_TOKEN_PROTOCOL_PREFIX = 'bearer.';

/** Room names: lower-case ASCII letters, digits, `_` and `-`, 1 to 64 characters. */
export const ROOM_NAME_RE = /^[a-z0-9_-]{1,64}$/;
/** Largest accepted WebSocket payload; bigger frames are closed with 1009 by `ws`. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Longest message text, in UTF-16 code units (fits the `TEXT` column and one frame with room to spare). */
export const MAX_TEXT_LENGTH = 4000;
/** Longest client `ref` string. */
export const MAX_REF_LENGTH = 128;
/** Default and maximum `limit` of a history request. */
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 500;
/**
 * Largest history reply, in bytes of its messages' JSON: a page stops before it would pass this and says
 * `more: true`, so a room of huge messages never becomes a reply of many megabytes queued whole.
 */
export const HISTORY_MAX_BYTES = 1024 * 1024;
/** Rooms one connection may be a member of at once. */
export const MAX_ROOMS_PER_CONNECTION = 50;

/** WebSocket close codes the server uses. */
export const CloseCode = {
  /** Server going away; reconnect and catch up with `history`. Kept for older clients: the server now
   * closes with SERVICE_RESTART on SIGTERM, and clients treat both alike. */
  GOING_AWAY: 1001,
  /** Repeated protocol abuse (e.g. rate limit exceeded over and over). */
  POLICY_VIOLATION: 1008,
  /** Payload larger than MAX_PAYLOAD_BYTES. */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** The token's `exp` passed while connected: get a fresh token, then reconnect. */
  TOKEN_EXPIRED: 4001,
  /** Draining for a restart or deploy (SIGTERM): another instance already serves; reconnect at once (with a
   * little jitter), re-join, catch up with `history` after the last seen id, resend what was not acked. */
  SERVICE_RESTART: 1012,
} as const;

/** Stable error codes carried by `error` frames (and by HTTP API error bodies). */
export const ErrorCode = {
  BAD_JSON: 'BAD_JSON',
  BINARY_FRAME: 'BINARY_FRAME',
  BAD_FRAME: 'BAD_FRAME',
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  BAD_ROOM: 'BAD_ROOM',
  BAD_TEXT: 'BAD_TEXT',
  TEXT_TOO_LONG: 'TEXT_TOO_LONG',
  BAD_REF: 'BAD_REF',
  NOT_JOINED: 'NOT_JOINED',
  TOO_MANY_ROOMS: 'TOO_MANY_ROOMS',
  RATE_LIMITED: 'RATE_LIMITED',
  STORE_FAILED: 'STORE_FAILED',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN_ORIGIN: 'FORBIDDEN_ORIGIN',
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A client-chosen correlation value echoed by the server. */
export type Ref = string | number;

export interface JoinFrame { type: 'join'; room: string; ref?: Ref }
export interface LeaveFrame { type: 'leave'; room: string; ref?: Ref }
export interface SendFrame { type: 'send'; room: string; text: string; ref: Ref }
export interface HistoryRequestFrame { type: 'history'; room: string; after?: number; limit?: number; ref?: Ref }
export type ClientFrame = JoinFrame | LeaveFrame | SendFrame | HistoryRequestFrame;

/** One stored chat message, as broadcast, in history and in the HTTP API. */
/**
 * A stored message. `seq` numbers a room's messages 1, 2, 3… in commit order on every instance (absent
 * on rows a release from before seqs wrote); ids also rise within a room, so catching up by id is exact.
 */
export interface ChatMessage { room: string; id: number; seq?: number; user: string; text: string; ts: string }

export interface JoinedFrame { type: 'joined'; room: string; lastId: number; ref?: Ref }
export interface LeftFrame { type: 'left'; room: string; ref?: Ref }
export interface AckFrame { type: 'ack'; ref: Ref; id: number; ts: string }
export interface MessageFrame extends ChatMessage { type: 'message' }
export interface HistoryFrame { type: 'history'; room: string; messages: ChatMessage[]; more?: true; ref?: Ref }
export interface ErrorFrame { type: 'error'; code: ErrorCodeName | string; message: string; ref?: Ref }
export type ServerFrame = JoinedFrame | LeftFrame | AckFrame | MessageFrame | HistoryFrame | ErrorFrame;

/** Result of parsing a client frame: the frame, or the error frame to send back. */
export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; error: ErrorFrame };

/** True when `room` satisfies the room-name rule. */
export function isValidRoom(room: unknown): room is string {
  return typeof room === 'string' && ROOM_NAME_RE.test(room);
}

/** Builds an error frame; `ref` is included only when known. */
export function errorFrame(code: ErrorCodeName, message: string, ref?: Ref): ErrorFrame {
  return ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref };
}

function isRef(v: unknown): v is Ref {
  return (typeof v === 'string' && v.length > 0 && v.length <= MAX_REF_LENGTH) ||
    (typeof v === 'number' && Number.isFinite(v));
}

/** C0 controls but tab and line breaks, DEL and C1: invisible, and six bytes each once JSON-escaped. */
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/** Half a surrogate pair: not a character, and MariaDB's utf8mb4 refuses it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a message text is refused (the error frame's code and message), or null: one rule for /ws and HTTP. */
export function textProblem(text: unknown): { code: ErrorCodeName; message: string } | null {
  if (typeof text !== 'string' || text.trim().length === 0) return { code: ErrorCode.BAD_TEXT, message: '"text" must be a non-empty string' };
  if (text.length > MAX_TEXT_LENGTH) return { code: ErrorCode.TEXT_TOO_LONG, message: `"text" is longer than ${MAX_TEXT_LENGTH} characters` };
  if (CONTROL_CHARS.test(text)) return { code: ErrorCode.BAD_TEXT, message: '"text" holds control characters (only tab and line breaks are allowed)' };
  if (LONE_SURROGATE.test(text)) return { code: ErrorCode.BAD_TEXT, message: '"text" is not valid Unicode (half a surrogate pair)' };
  return null;
}

/**
 * A history page cut to HISTORY_MAX_BYTES of JSON. With `after` (catching up, oldest first) the newest
 * messages go; without it (the newest page) the oldest go. `more` says the page is not all there was.
 */
export function capHistory(messages: ChatMessage[], catchingUp: boolean, maxBytes = HISTORY_MAX_BYTES): { messages: ChatMessage[]; more: boolean } {
  let bytes = 0;
  const order = catchingUp ? messages : [...messages].reverse();
  let kept = 0;
  for (const m of order) {
    bytes += Buffer.byteLength(JSON.stringify(m)) + 1;
    if (bytes > maxBytes && kept > 0) break;
    kept += 1;
  }
  if (kept === messages.length) return { messages, more: false };
  return { messages: catchingUp ? messages.slice(0, kept) : messages.slice(messages.length - kept), more: true };
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates a decoded JSON value as a client frame. Never throws: anything a client sends maps either
 * to a typed frame or to the error frame that explains what is wrong.
 */
export function validateClientFrame(value: unknown): ParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ErrorCode.BAD_FRAME, 'frame must be a JSON object with a "type"');
  }
  const v = value as Record<string, unknown>;
  // Echo a usable ref even in errors so the client can match them.
  const ref = isRef(v.ref) ? v.ref : undefined;
  if (v.ref !== undefined && ref === undefined) {
    return fail(ErrorCode.BAD_REF, `"ref" must be a non-empty string of at most ${MAX_REF_LENGTH} chars or a number`);
  }
  const type = v.type;
  if (type !== 'join' && type !== 'leave' && type !== 'send' && type !== 'history') {
    return fail(ErrorCode.UNKNOWN_TYPE, `unknown frame type ${JSON.stringify(type)}; use join, leave, send or history`, ref);
  }
  if (!isValidRoom(v.room)) {
    return fail(ErrorCode.BAD_ROOM, 'room must match [a-z0-9_-]{1,64}', ref);
  }
  const room = v.room;
  switch (type) {
    case 'join':
    case 'leave':
      return { ok: true, frame: ref === undefined ? { type, room } : { type, room, ref } };
    case 'send': {
      if (ref === undefined) return fail(ErrorCode.BAD_REF, 'send needs a "ref" (string or number) to match its ack');
      const problem = textProblem(v.text);
      if (problem) return fail(problem.code as ErrorCodeName, problem.message, ref);
      return { ok: true, frame: { type, room, text: v.text as string, ref } };
    }
    case 'history': {
      if (v.after !== undefined && !isNonNegInt(v.after)) {
        return fail(ErrorCode.BAD_FRAME, '"after" must be a non-negative integer message id', ref);
      }
      if (v.limit !== undefined && !(isNonNegInt(v.limit) && v.limit >= 1 && v.limit <= HISTORY_MAX_LIMIT)) {
        return fail(ErrorCode.BAD_FRAME, `"limit" must be an integer from 1 to ${HISTORY_MAX_LIMIT}`, ref);
      }
      const frame: HistoryRequestFrame = { type, room };
      if (v.after !== undefined) frame.after = v.after as number;
      if (v.limit !== undefined) frame.limit = v.limit as number;
      if (ref !== undefined) frame.ref = ref;
      return { ok: true, frame };
    }
  }
}

/** Decodes and validates one text frame. Never throws. */
export function parseClientFrame(data: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return fail(ErrorCode.BAD_JSON, 'frame is not valid JSON');
  }
  return validateClientFrame(value);
}

/** Decodes one server frame (used by clients). Throws on non-JSON or a value without a string `type`. */
export function parseServerFrame(data: string): ServerFrame {
  const value = JSON.parse(data) as unknown;
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new Error('server frame without a "type"');
  }
  return value as ServerFrame;
}

function fail(code: ErrorCodeName, message: string, ref?: Ref): ParseResult {
  return { ok: false, error: errorFrame(code, message, ref) };
}
