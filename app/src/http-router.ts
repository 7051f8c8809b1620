/**
 * Routes plain HTTP requests: health and readiness probes, local metrics, the messages API, the web
 * client, else 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { sendError, sendJson } from './http-util.js';
import type { MessagesApi } from './messages-api.js';
import { isDirectLocal } from './net-util.js';
import { ErrorCode } from './protocol.js';
import { APP_VERSION } from './version.js';
import type { WebAsset } from './web-assets.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A readiness probe pings the database at most this often, however many ask (a public URL). */
export const READY_CACHE_MS = 1_000;

/**
 * `check` run at most once per `ttlMs`: concurrent callers share the one in flight, and a result is
 * reused until it is older than the ttl. A failure is reported once per change of state.
 */
export function cachedCheck(ttlMs: number, check: () => Promise<unknown>, onFailure: (err: unknown) => void): () => Promise<boolean> {
  let at = -Infinity;
  let last = true;
  let inFlight: Promise<boolean> | undefined;
  return () => {
    if (performance.now() - at < ttlMs) return Promise.resolve(last);
    inFlight ??= check().then(
      () => true,
      (err: unknown) => {
        if (last) onFailure(err);
        return false;
      },
    ).then((ok) => {
      last = ok;
      at = performance.now();
      inFlight = undefined;
      return ok;
    });
    return inFlight;
  };
}

/** Creates the request handler over the loaded web assets and the messages API. */
export function createHttpRouter(ctx: ServerContext, assets: ReadonlyMap<string, WebAsset>, messagesApi: MessagesApi): RequestHandler {
  const { config, store, bus, conns, state, metrics, log } = ctx;
  const databaseUp = cachedCheck(READY_CACHE_MS, () => store.ping(), (err) => log.warn('readiness: database unreachable', { err }));
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return sendJson(res, state.shuttingDown ? 503 : 200, { status: state.shuttingDown ? 'stopping' : 'ok', instance: config.instance, version: APP_VERSION, connections: conns.size });
    }
    if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (state.shuttingDown) return sendJson(res, 503, { status: 'stopping' });
      if (!state.ready) return sendJson(res, 503, { status: 'migrating' });
      // Public through nginx: the verdict only. The instance and its bus are for this host (the
      // release program waits for the bus; a bus down is degraded, not unready); the driver's
      // error text goes to the log, never out.
      if (!(await databaseUp())) return sendJson(res, 503, { status: 'database unreachable' });
      return sendJson(res, 200, isDirectLocal(req) ? { status: 'ready', instance: config.instance, bus: bus ? bus.state : 'none' } : { status: 'ready' });
    }
    // For scrapers on this host only: anything else (nginx included) gets the 404 of an unknown route.
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD') && isDirectLocal(req)) {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const m = /^\/api\/rooms\/([^/]+)\/messages$/.exec(path);
    if (m) {
      let room: string;
      try {
        room = decodeURIComponent(m[1] ?? '');
      } catch {
        room = '';
      }
      return messagesApi(req, res, url, room);
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
  };
}
