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

/** Creates the request handler over the loaded web assets and the messages API. */
export function createHttpRouter(ctx: ServerContext, assets: ReadonlyMap<string, WebAsset>, messagesApi: MessagesApi): RequestHandler {
  const { config, store, relay, conns, state, metrics } = ctx;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return sendJson(res, state.shuttingDown ? 503 : 200, { status: state.shuttingDown ? 'stopping' : 'ok', instance: config.instance, version: APP_VERSION, connections: conns.size });
    }
    if (path === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (state.shuttingDown) return sendJson(res, 503, { status: 'stopping' });
      if (!state.ready) return sendJson(res, 503, { status: 'migrating' });
      try {
        await store.ping();
        return sendJson(res, 200, { status: 'ready', instance: config.instance, peers: relay.connectedPeers });
      } catch (err) {
        return sendJson(res, 503, { status: 'database unreachable', error: (err as Error).message });
      }
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
