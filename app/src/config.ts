/**
 * Runtime configuration, read only from environment variables (systemd's EnvironmentFile provides them).
 * Invalid values throw ConfigError naming the variable; main.ts logs it on one line and exits 1.
 */
import type { ErrorCode } from '../../src/errors/catalogue.js';
import type { TokenClaims } from './token.js';
import { MIN_SECRET_LENGTH } from './token.js';

/** Where the Redis of the instance bus listens, and its user (MESSENGER_REDIS*). */
export interface BusAddress { host: string; port: number; username?: string; password?: string }

/** Default and largest MESSENGER_DRAIN_SPREAD_MS; the largest stays well inside systemd's stop timeout. */
export const DEFAULT_DRAIN_SPREAD_MS = 2_000;
export const MAX_DRAIN_SPREAD_MS = 60_000;
/** Reconnects per second a draining instance aims at when it has many sockets. */
export const DEFAULT_DRAIN_RATE = 200;

export interface ChatConfig {
  host: string;
  port: number;
  jwtSecret: string;
  /** `aud` / `iss` a token must carry (MESSENGER_JWT_AUDIENCE / MESSENGER_JWT_ISSUER); unset: not checked. */
  jwtClaims: TokenClaims;
  /** Exact browser origins allowed (scheme://host[:port]); empty allows no browser origin. */
  allowedOrigins: string[];
  db: {
    socketPath?: string;
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
    poolSize: number;
  };
  pingIntervalMs: number;
  instance: string;
  /** The Redis that ties several instances together (MESSENGER_REDIS); unset: one instance, no bus. */
  bus?: BusAddress;
  /**
   * Graceful shutdown closes each WebSocket at its own uniformly random moment within a spread of at most
   * this many ms (0 = all at once), so the clients of a draining instance reconnect spread out.
   */
  drainSpreadMs: number;
  /** Reconnects per second the spread aims at: more sockets spread over longer (MESSENGER_DRAIN_RATE). */
  drainRatePerSec: number;
  /** Optional extras (not part of the fixed contract): per-connection frames/s and burst. */
  ratePerSec: number;
  rateBurst: number;
}

/** A bad or missing variable; `variable` names it. */
export class ConfigError extends Error {
  readonly code = 'MI_ERR_APP_CONFIG' satisfies ErrorCode;
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, def?: string): string {
  const v = env[name];
  if (v === undefined || v === '') {
    if (def === undefined) throw new ConfigError(name, 'is required; set it in the service EnvironmentFile');
    return def;
  }
  return v;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Parses `host:port` (IPv6 as `[::1]:port`). */
function parseHostPort(name: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2]) : undefined;
  if (!host || !(port >= 1 && port <= 65535)) throw new ConfigError(name, `${JSON.stringify(raw)} must be host:port, e.g. 127.0.0.1:6379`);
  return { host, port };
}

function busAddress(env: Env): BusAddress | undefined {
  const raw = env.MESSENGER_REDIS;
  if (raw === undefined || raw === '') return undefined;
  const username = env.MESSENGER_REDIS_USER || undefined;
  const password = env.MESSENGER_REDIS_PASSWORD || undefined;
  if (username && !password) throw new ConfigError('MESSENGER_REDIS_PASSWORD', 'is required with MESSENGER_REDIS_USER');
  return { ...parseHostPort('MESSENGER_REDIS', raw), ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** Reads and validates the configuration. */
export function loadConfig(env: Env = process.env): ChatConfig {
  const jwtSecret = str(env, 'MESSENGER_JWT_SECRET');
  if (jwtSecret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError('MESSENGER_JWT_SECRET', `must be at least ${MIN_SECRET_LENGTH} characters (generate one with: openssl rand -hex 32)`);
  }
  const allowedOrigins = list(env, 'MESSENGER_ALLOWED_ORIGINS').map((o) => {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new ConfigError('MESSENGER_ALLOWED_ORIGINS', `${JSON.stringify(o)} is not an origin like https://chat.example.com`);
    }
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== o.replace(/\/$/, '')) {
      throw new ConfigError('MESSENGER_ALLOWED_ORIGINS', `${JSON.stringify(o)} must be an exact origin like https://chat.example.com (no path)`);
    }
    return u.origin;
  });
  const socketPath = env.MESSENGER_DB_SOCKET || undefined;
  const db: ChatConfig['db'] = {
    host: str(env, 'MESSENGER_DB_HOST', '127.0.0.1'),
    port: int(env, 'MESSENGER_DB_PORT', 3306, 1, 65535),
    user: str(env, 'MESSENGER_DB_USER'),
    password: env.MESSENGER_DB_PASSWORD ?? '',
    database: str(env, 'MESSENGER_DB_NAME'),
    poolSize: int(env, 'MESSENGER_DB_POOL', 10, 1, 1000),
  };
  if (socketPath) db.socketPath = socketPath;
  const bus = busAddress(env);
  const instance = str(env, 'MESSENGER_INSTANCE', '0');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(instance)) throw new ConfigError('MESSENGER_INSTANCE', 'must be 1-64 characters of A-Z a-z 0-9 _ . -');
  return {
    host: str(env, 'MESSENGER_HOST', '127.0.0.1'),
    port: int(env, 'MESSENGER_PORT', 3000, 0, 65535),
    jwtSecret,
    jwtClaims: {
      ...(env.MESSENGER_JWT_AUDIENCE ? { audience: env.MESSENGER_JWT_AUDIENCE } : {}),
      ...(env.MESSENGER_JWT_ISSUER ? { issuer: env.MESSENGER_JWT_ISSUER } : {}),
    },
    allowedOrigins,
    db,
    pingIntervalMs: int(env, 'MESSENGER_PING_INTERVAL_MS', 30_000, 50, 3_600_000),
    instance,
    ...(bus ? { bus } : {}),
    drainSpreadMs: int(env, 'MESSENGER_DRAIN_SPREAD_MS', DEFAULT_DRAIN_SPREAD_MS, 0, MAX_DRAIN_SPREAD_MS),
    drainRatePerSec: int(env, 'MESSENGER_DRAIN_RATE', DEFAULT_DRAIN_RATE, 1, 100_000),
    ratePerSec: int(env, 'MESSENGER_RATE_PER_SEC', 20, 1, 100_000),
    rateBurst: int(env, 'MESSENGER_RATE_BURST', 40, 1, 100_000),
  };
}
