// One bounded HTTP(S) request to the target, through the same pinned lookup and trusted roots as the
// WebSocket checks. Bodies are capped: verify reads status lines and small JSON, never large pages.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CheckFailure } from './errors.js';
import { connectOptions, type Target } from './target.js';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

export interface HttpAsk {
  secure: boolean;
  port: number;
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

const MAX_BODY = 256 * 1024;

export function httpAsk(target: Target, ask: HttpAsk, timeoutMs: number): Promise<HttpAnswer> {
  const started = performance.now();
  const request = ask.secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      ...connectOptions(target, timeoutMs, ask.port),
      port: ask.port,
      path: ask.path,
      method: ask.method ?? 'GET',
      agent: false,
      headers: { 'user-agent': 'messenger-infra-verify', ...ask.headers },
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: req.socket?.connecting === false ? 'MI_ERR_VERIFY_TIMEOUT' : 'MI_ERR_VERIFY_TIMEOUT_CONNECT' })));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.once('error', reject);
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }),
      );
    });
    req.end(ask.body);
  });
}

/** Who answered: "nginx" when the proxy says so, for cause lines. */
export function proxyName(headers: IncomingHttpHeaders): string {
  return /nginx/i.test(String(headers.server ?? '')) ? 'nginx' : 'the proxy';
}

/**
 * The likely cause of an unexpected status from the app's endpoints behind the proxy, in one line.
 * Shared by the health, REST and upgrade checks so the same symptom reads the same everywhere.
 */
export function statusCause(status: number, headers: IncomingHttpHeaders, path: string): string {
  const proxy = proxyName(headers);
  switch (status) {
    case 502:
      return `${proxy} answered 502 Bad Gateway on ${path}: the chat server behind it is not running or not listening on the upstream address`;
    case 503:
      return `503 Service Unavailable on ${path}: the chat server is up but not ready (database unreachable?)`;
    case 504:
      return `${proxy} answered 504 Gateway Timeout on ${path}: the chat server accepted the connection but did not answer in time`;
    case 404:
      return `404 on ${path}: ${proxy} does not route ${path} to the chat server`;
    case 401:
      return `401 on ${path}: the server refused the token; it is not signed with the server's MESSENGER_JWT_SECRET, or it expired`;
    case 403:
      return `403 on ${path}: the server refused the request's Origin; add it to MESSENGER_ALLOWED_ORIGINS`;
    default:
      return `unexpected ${status} on ${path}`;
  }
}

/** Parses a JSON body or fails the check with the path in the cause. */
export function jsonBody<T>(answer: HttpAnswer, path: string): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new CheckFailure('MI_ERR_VERIFY_HTTP', `${path} answered ${answer.status} with a body that is not JSON: is ${path} routed to the chat server?`);
  }
}
