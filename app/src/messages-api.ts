/**
 * The HTTP fallback of the chat protocol, `/api/rooms/:room/messages`: GET reads history (and long-polls
 * with `after` + `wait`), POST stores a message; same Origin and token rules as `/ws`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { fanOut } from './fan-out.js';
import { readBody, sendError, sendJson } from './http-util.js';
import { tokenOf } from './net-util.js';
import { corsHeaders, isOriginAllowed } from './origin.js';
import { capHistory, ErrorCode, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, isValidRoom, MAX_PAYLOAD_BYTES, textProblem, type ChatMessage } from './protocol.js';
import { TokenBucket } from './rate-limit.js';

export type MessagesApi = (req: IncomingMessage, res: ServerResponse, url: URL, room: string) => Promise<void>;

/** Creates the handler for one server; it owns the per-user rate buckets of GET and POST. */
export function createMessagesApi(ctx: ServerContext): MessagesApi {
  const { limits, log, store, hub, pollers, state, allowedOrigins, verifyToken } = ctx;
  // Per-user buckets of the HTTP fallback (reads and writes apart); a bounded map, cleared when full.
  const httpBuckets = new Map<string, TokenBucket>();

  function takeToken(key: string): boolean {
    let bucket = httpBuckets.get(key);
    if (!bucket) {
      if (httpBuckets.size >= 10_000) httpBuckets.clear();
      bucket = new TokenBucket(limits.ratePerSec, limits.rateBurst);
      httpBuckets.set(key, bucket);
    }
    return bucket.take();
  }

  /** Stores a message and fans it out; the caller acks it with the 201. */
  async function accept(room: string, user: string, text: string): Promise<ChatMessage> {
    const stored = await store.insert(room, user, text);
    fanOut(ctx, stored);
    return stored.message;
  }

  /** Holds a long-poll request until a message reaches `room` here, the wait ends, the client leaves or shutdown. */
  function waitForRoom(req: IncomingMessage, room: string, waitS: number): Promise<void> {
    return new Promise<void>((resolve) => {
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
  }

  return async (req, res, url, room) => {
    const origin = req.headers.origin;
    const cors = corsHeaders(allowedOrigins, origin);
    if (req.method === 'OPTIONS') {
      if (!isOriginAllowed(allowedOrigins, origin)) return sendError(res, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      return sendError(res, 405, ErrorCode.BAD_FRAME, 'use GET or POST', { allow: 'GET, POST, OPTIONS' });
    }
    // Same-origin browser GETs carry no Origin; foreign ones are refused like on /ws.
    if (!isOriginAllowed(allowedOrigins, origin)) return sendError(res, 403, ErrorCode.FORBIDDEN_ORIGIN, 'origin not allowed');
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
      // History costs a query and a reply each time: the same per-user budget as sending (nginx limits per IP).
      if (!takeToken(`get ${check.sub}`)) return sendError(res, 429, ErrorCode.RATE_LIMITED, `more than ${limits.ratePerSec} requests/s; slow down`, { ...cors, 'retry-after': '1' });
      let messages = await store.history(room, after, limit);
      // Long polling: with `after` and `wait`, hold the request until a message reaches this room here.
      if (messages.length === 0 && after !== undefined && waitS > 0 && !state.shuttingDown) {
        await waitForRoom(req, room, waitS);
        if (req.socket.destroyed) return;
        messages = await store.history(room, after, limit);
      }
      const page = capHistory(messages, after !== undefined);
      return sendJson(res, 200, page.more ? { messages: page.messages, more: true } : { messages }, cors);
    }

    // POST
    if (!takeToken(`post ${check.sub}`)) return sendError(res, 429, ErrorCode.RATE_LIMITED, `more than ${limits.ratePerSec} messages/s; slow down`, { ...cors, 'retry-after': '1' });
    if (state.shuttingDown) return sendError(res, 503, ErrorCode.SHUTTING_DOWN, 'server is restarting; retry', cors);
    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    if (body === undefined) return sendError(res, 413, ErrorCode.PAYLOAD_TOO_LARGE, `body larger than ${MAX_PAYLOAD_BYTES} bytes`, cors);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 400, ErrorCode.BAD_JSON, 'body must be JSON like {"text":"hello"}', cors);
    }
    const text = (parsed as { text?: unknown } | null)?.text;
    const problem = textProblem(text);
    if (problem || typeof text !== 'string') return sendError(res, 400, problem?.code ?? ErrorCode.BAD_TEXT, problem?.message ?? '"text" must be a string', cors);
    let m: ChatMessage;
    try {
      m = await accept(room, check.sub, text);
    } catch (err) {
      log.error('store failed', { room, err });
      return sendError(res, 503, ErrorCode.STORE_FAILED, 'message not stored; retry', cors);
    }
    return sendJson(res, 201, m, cors);
  };
}
