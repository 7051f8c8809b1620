// The app's own protocol client (app/src/chat-client.ts), pointed at the target with verify's pinned
// lookup and trusted roots, and its errors turned into one-line causes.
import type { ClientOptions } from 'ws';
import { ChatClient, ChatClientError, ChatClientErrorCode } from '../../app/src/chat-client.js';
import { CheckFailure, errorMessage } from './errors.js';
import { handshakeFailure } from './upgrade.js';
import type { VerifyContext } from './runner.js';
import { connectOptions } from './target.js';

export { ChatClient, ChatClientError };

/** Opens an authenticated protocol client on the target (Origin as given by --origin). */
export async function connectChat(ctx: VerifyContext, timeoutMs = ctx.opts.timeoutMs): Promise<ChatClient> {
  const { lookup, servername, secureContext } = connectOptions(ctx.target, timeoutMs) as ReturnType<typeof connectOptions> & { servername?: string };
  try {
    return await ChatClient.connect({
      url: ctx.target.url.href,
      token: ctx.token,
      lookup,
      timeoutMs,
      ...(servername ? { servername } : {}),
      // ws hands secureContext through to tls.connect like the other TLS options.
      ...(secureContext ? { wsOptions: { secureContext } as ClientOptions } : {}),
      ...(ctx.opts.origin ? { origin: ctx.opts.origin } : {}),
    });
  } catch (err) {
    throw chatFailure(ctx, err, 'connect');
  }
}

/** A CheckFailure explaining a ChatClient error raised while doing `what`. */
export function chatFailure(ctx: VerifyContext, err: unknown, what: string): CheckFailure {
  if (err instanceof CheckFailure) return err;
  if (!(err instanceof ChatClientError)) return new CheckFailure('MI_ERR_VERIFY_INTERNAL', `${what}: ${errorMessage(err)}`);
  switch (err.code) {
    case ChatClientErrorCode.UPGRADE_REJECTED: {
      const o = handshakeFailure(ctx, { kind: 'refused', status: err.status ?? 0, headers: {}, body: '', ms: 0 });
      return new CheckFailure(o.code ?? 'MI_ERR_VERIFY_UPGRADE', o.cause ?? err.message);
    }
    case ChatClientErrorCode.CLOSED:
      return new CheckFailure('MI_ERR_VERIFY_CLOSED', `the connection closed (${err.closeCode ?? '?'}) during ${what}`);
    case ChatClientErrorCode.TIMEOUT:
      return new CheckFailure('MI_ERR_VERIFY_TIMEOUT', `${what}: ${err.message}`);
    case ChatClientErrorCode.SERVER_ERROR: {
      const code = err.frame?.code ?? 'ERROR';
      const hint =
        code === 'STORE_FAILED'
          ? ': the server could not write to MariaDB'
          : code === 'RATE_LIMITED'
            ? ': the per-connection rate limit is lower than --messages needs; lower --messages'
            : '';
      return new CheckFailure('MI_ERR_VERIFY_PROTOCOL', `${what}: the server answered ${code} (${err.frame?.message ?? ''})${hint}`);
    }
    default:
      return new CheckFailure('MI_ERR_VERIFY_CONNECT', `${what}: ${err.message}`);
  }
}

/** Runs `fn` with a connected, joined client and always closes it. */
export async function withClient<T>(ctx: VerifyContext, fn: (c: ChatClient, lastId: number) => Promise<T>): Promise<T> {
  const c = await connectChat(ctx);
  try {
    const joined = await c.join(ctx.opts.room).catch((err: unknown) => {
      throw chatFailure(ctx, err, `join ${ctx.opts.room}`);
    });
    return await fn(c, joined.lastId);
  } finally {
    await c.close().catch(() => undefined);
  }
}
