import { InfraError } from '../errors.js';

/**
 * One HTTP exchange with api.beget.com, JSON in and out. No retries and no status mapping here:
 * the callers decide (beget-auth.ts for logins, beget-api.ts for everything else). Serialized into
 * the dynamic provider, so only globals (fetch, AbortSignal) are used.
 */
export interface HttpOptions {
  baseUrl: string;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

export interface HttpReply {
  status: number;
  json: unknown;
}

/** Sends one request; a network failure or timeout is MI_ERR_BEGET_UNREACHABLE (outcome unknown). */
export async function sendJson(http: HttpOptions, method: string, path: string, body: unknown, token: string | undefined): Promise<HttpReply> {
  const url = http.baseUrl.replace(/\/+$/, '') + path;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(http.requestTimeoutMs ?? 30_000),
    });
    // Inside the try: the body can time out or be cut off after the headers arrived.
    text = await res.text();
  } catch (err) {
    throw new InfraError('MI_ERR_BEGET_UNREACHABLE', `Beget API ${http.baseUrl} unreachable (${method} ${path}): ${(err as Error).message}`);
  }
  try {
    return { status: res.status, json: text === '' ? {} : JSON.parse(text) };
  } catch {
    return { status: res.status, json: { message: text.slice(0, 200) } };
  }
}

/** The human part of an error body: grpc-gateway style `{code, message}` or the models' `error`. */
export function describe(json: unknown): string {
  if (json && typeof json === 'object') {
    const o = json as { message?: unknown; error?: { message?: unknown } | string };
    if (typeof o.message === 'string' && o.message !== '') return o.message;
    if (typeof o.error === 'string') return o.error;
    if (o.error && typeof o.error.message === 'string') return o.error.message;
  }
  return 'no message';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
