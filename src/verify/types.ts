// Shared types of the post-deploy verification: options in, one typed result per check out.
import type { ErrorCode } from '../errors/catalogue.js';

/** `--resolve HOST:PORT:ADDR`: connect to ADDR while HOST stays the SNI, Host header and certificate name. */
export interface ResolveSpec {
  host: string;
  port: number;
  address: string;
}

/**
 * A user's app (the stack's `app.source`) instead of the bundled chat server: verify checks its
 * declared health path and WebSocket paths, and reports the chat-protocol checks as not applying.
 */
export interface VerifyApp {
  kind: 'source';
  /** GET path that must answer 2xx when the app is ready (`app.health`). */
  health: string;
  /** Paths nginx proxies with Upgrade (`app.websocket`); a path containing `socket.io` gets Socket.IO's handshake. */
  websocket: string[];
}

export interface VerifyOptions {
  /** The WebSocket endpoint, e.g. `wss://chat.example.com/ws`. */
  url: string;
  /** One entry per port, like curl: the URL's port, and optionally the `httpPort` (redirect check). */
  resolve?: ResolveSpec | readonly ResolveSpec[];
  /** Extra trusted roots (PEM files), e.g. the sandbox's Pebble root. */
  caPaths?: string[];
  /** A ready token; otherwise one is minted from `jwtSecret`. */
  token?: string;
  jwtSecret?: string;
  /** `aud` / `iss` the minted tokens carry (the stack's app.jwtAudience / app.jwtIssuer). */
  jwtClaims?: { audience?: string; issuer?: string };
  /** The room the checks write to; never a user's room. */
  room: string;
  /** Origin to present as an allowed browser origin (omitted when unset: non-browser clients send none). */
  origin?: string;
  /** Idle window in seconds; 0 skips the idle check. */
  idleSeconds: number;
  connections: number;
  messages: number;
  /** Bound on every single network step (connect, handshake, reply). */
  timeoutMs: number;
  /** All checks but the idle one. */
  quick: boolean;
  /** Port of the plain-HTTP listener whose redirect to https is checked (default 80). */
  httpPort?: number;
  /** When given, DNS must resolve the host to this address. */
  expectAddress?: string;
  /** A user's app (`app.source`); absent: the bundled chat server and its protocol checks. */
  app?: VerifyApp;
  /** Progress callback: called once per finished check, in report order. */
  onResult?: (result: CheckResult) => void;
}

export type CheckStatus = 'pass' | 'fail' | 'skip' | 'warn';

export type CheckId =
  | 'dns.resolve'
  | 'tls.chain'
  | 'tls.expiry'
  | 'http.redirect'
  | 'http.healthz'
  | 'http.readyz'
  | 'ws.upgrade'
  | 'ws.ping'
  | 'ws.reject-token'
  | 'ws.reject-origin'
  | 'msg.broadcast'
  | 'msg.history'
  | 'ws.idle'
  | 'ws.reconnect'
  | 'ws.latency'
  | 'ws.concurrency'
  // A user's app: its health path, then per declared WebSocket path (the path follows the colon).
  | 'app.health'
  | `app.ws:${string}`
  | `app.sio.websocket:${string}`
  | `app.sio.polling:${string}`
  | `app.sio.ping:${string}`
  // Read over SSH when the stack has a backup section.
  | 'backup.age';

export interface CheckResult {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** The measured figure, human-readable (`p50 3 ms, p95 5 ms`). */
  figure?: string;
  /** On fail/warn/skip: the likely cause in one line. */
  cause?: string;
  /** Stable error code on fail (`MI_ERR_VERIFY_TLS_UNTRUSTED`), a key of the error catalogue. */
  code?: ErrorCode;
  /** Machine-readable figures for `--json` (numbers in ms, days, counts). */
  data?: Record<string, number | string | boolean | null>;
  durationMs: number;
}

export type VerifyExitCode = 0 | 3 | 4;

export interface VerifyReport {
  schema: 'messenger-infra/verify@1';
  url: string;
  host: string;
  port: number;
  /** The address connected to when `--resolve` was given. */
  address?: string;
  room: string;
  quick: boolean;
  /** Set when a user's app was checked (the chat-protocol checks are then skipped as not applying). */
  app?: VerifyApp;
  startedAt: string;
  durationMs: number;
  /** False when no connection to the target could be made at all. */
  reachable: boolean;
  summary: Record<CheckStatus, number>;
  exitCode: VerifyExitCode;
  checks: CheckResult[];
}
