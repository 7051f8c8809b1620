// Public API of the post-deploy verification, used by `messenger-infra verify` and at the end of `up`.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { mintToken } from '../../app/src/token.js';
import { JWT_SECRET_MIN } from '../config/jwt-secret.js';
import { checksFor } from './checks.js';
import { VerifyInputError } from './errors.js';
import { runChecks, type VerifyContext } from './runner.js';
import { parseTarget } from './target.js';
import type { CheckStatus, VerifyApp, VerifyExitCode, VerifyOptions, VerifyReport } from './types.js';

export { renderJson, renderTable } from './report.js';
export { parseResolve } from './target.js';
export { VerifyInputError } from './errors.js';
export { BUNDLED_ONLY } from './app.js';
export type * from './types.js';

/** The `sub` of tokens verify mints: messages it leaves say who wrote them. */
export const VERIFY_SUBJECT = 'messenger-infra-verify';
export const DEFAULTS = { room: 'verify', idleSeconds: 75, connections: 50, messages: 50, timeoutMs: 10_000 } as const;

/**
 * What runs behind nginx, as `appModelOf(stack)` (src/core/host-model.ts) describes it: pass that
 * object as is. For the bundled server its paths are ignored (the bundled checks know them).
 */
export interface AppUnderTest {
  kind: 'bundled' | 'source';
  health: string;
  websocket: readonly string[];
}

/** VerifyOptions' `app` for a user's app, undefined for the bundled server. */
export function verifyAppOf(app: AppUnderTest | undefined): VerifyApp | undefined {
  return app?.kind === 'source' ? { kind: 'source', health: app.health, websocket: [...app.websocket] } : undefined;
}

/**
 * The quick check `up` ends with: through the host's address with the domain as SNI and Host, so it
 * works before DNS points at the server. With `app: appModelOf(stack)` of a user's app it checks that
 * app's health and WebSocket paths instead of the chat protocol (no JWT secret needed).
 */
export function quickVerifyOptions(site: { domain: string; address: string; caPath?: string; jwtSecret?: string; app?: AppUnderTest }): VerifyOptions {
  const app = verifyAppOf(site.app);
  return {
    url: `wss://${site.domain}${app ? (app.websocket[0] ?? '/') : '/ws'}`,
    resolve: { host: site.domain, port: 443, address: site.address },
    ...(site.caPath ? { caPaths: [site.caPath] } : {}),
    ...(site.jwtSecret && !app ? { jwtSecret: site.jwtSecret } : {}),
    ...(app ? { app } : {}),
    room: DEFAULTS.room,
    idleSeconds: 0,
    connections: 10,
    messages: 10,
    timeoutMs: DEFAULTS.timeoutMs,
    quick: true,
  };
}

const ROOM_RE = /^[a-z0-9_-]{1,64}$/;

/** Checks options that do not need the network; throws VerifyInputError (exit 2) on the first bad one. */
export function validateOptions(opts: VerifyOptions): void {
  if (!ROOM_RE.test(opts.room)) throw new VerifyInputError('--room', `"${opts.room}" must match [a-z0-9_-]{1,64}`);
  const ints: [string, number, number, number][] = [
    ['--idle', opts.idleSeconds, 0, 86_400],
    ['--connections', opts.connections, 0, 10_000],
    ['--messages', opts.messages, 0, 10_000],
    ['--timeout', opts.timeoutMs, 100, 600_000],
  ];
  for (const [field, v, min, max] of ints) {
    if (!Number.isFinite(v) || v < min || v > max) throw new VerifyInputError(field, `${v} is out of range ${min}..${max}`);
  }
  if (opts.httpPort !== undefined && !(Number.isInteger(opts.httpPort) && opts.httpPort > 0 && opts.httpPort < 65536)) {
    throw new VerifyInputError('--http-port', `${opts.httpPort} is not a TCP port`);
  }
  if (opts.origin !== undefined) {
    let ok = false;
    try {
      ok = new URL(opts.origin).origin === opts.origin.replace(/\/$/, '');
    } catch {
      ok = false;
    }
    if (!ok) throw new VerifyInputError('--origin', `"${opts.origin}" is not an origin like https://chat.example.com`);
  }
  if (opts.expectAddress !== undefined && !isIP(opts.expectAddress)) {
    throw new VerifyInputError('--expect-address', `"${opts.expectAddress}" is not an IP address`);
  }
  if (opts.app) validateApp(opts.app);
  // A user's app gets no minted token: verify cannot know what its tokens look like.
  if (opts.app) return;
  if (!opts.token && !opts.jwtSecret) {
    throw new VerifyInputError('--token', 'no credentials; pass --token JWT, --jwt-secret-file FILE, or set MESSENGER_JWT_SECRET');
  }
  if (!opts.token && opts.jwtSecret && opts.jwtSecret.length < JWT_SECRET_MIN) {
    throw new VerifyInputError('--jwt-secret-file', `the secret is ${opts.jwtSecret.length} characters; the server requires at least ${JWT_SECRET_MIN}`);
  }
}

const PATH_RE = /^\/[A-Za-z0-9._~/-]*$/;

function validateApp(app: VerifyApp): void {
  if (app.kind !== 'source') throw new VerifyInputError('app.kind', `"${String(app.kind)}" must be source (leave app unset for the bundled chat server)`);
  if (!PATH_RE.test(app.health)) throw new VerifyInputError('app.health', `"${app.health}" must be a path like /api/health`);
  if (app.websocket.length === 0) throw new VerifyInputError('app.websocket', 'must list at least one path, like /socket.io/');
  for (const p of app.websocket) {
    if (!PATH_RE.test(p)) throw new VerifyInputError('app.websocket', `"${p}" must be a path like /socket.io/ or /ws`);
  }
}

/**
 * Runs every check against `opts.url` and returns the report; never throws for a failing target (only
 * VerifyInputError for bad options). Exit code: 0 no check failed, 3 could not connect at all, 4 some failed.
 */
export async function runVerify(opts: VerifyOptions): Promise<VerifyReport> {
  validateOptions(opts);
  const target = parseTarget(opts);
  const startedAt = new Date();
  const started = performance.now();
  // Minted tokens live through the whole run, idle window included.
  const ttl = Math.max(300, opts.idleSeconds + Math.ceil(opts.timeoutMs / 1000) * 10);
  const bundled = !opts.app;
  const token = opts.token ?? (bundled ? await mintToken(opts.jwtSecret!, VERIFY_SUBJECT, ttl, opts.jwtClaims) : '');
  const badToken = bundled ? await mintToken(randomBytes(32).toString('hex'), VERIFY_SUBJECT, 300) : '';
  const ctx: VerifyContext = { opts, target, token, badToken };
  const { results, reachable } = await runChecks(checksFor(opts.app), ctx);
  const summary: Record<CheckStatus, number> = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const r of results) summary[r.status] += 1;
  const exitCode: VerifyExitCode = !reachable ? 3 : summary.fail > 0 ? 4 : 0;
  const report: VerifyReport = {
    schema: 'messenger-infra/verify@1',
    url: target.url.href,
    host: target.host,
    port: target.port,
    room: opts.room,
    quick: opts.quick,
    ...(opts.app ? { app: opts.app } : {}),
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    reachable,
    summary,
    exitCode,
    checks: results,
  };
  if (target.address) report.address = target.address;
  return report;
}
