/**
 * Retry delays after a lost connection, shared by the reconnecting client (web/app.js keeps
 * a copy in plain JS): the first retry within a small random delay, because after a deploy's 1012 another
 * instance is already up; later ones capped exponential with full jitter, so a crowd of clients whose
 * server went away spreads out instead of retrying in lockstep.
 */

export interface Backoff {
  /** The first retry comes after a uniformly random delay in [0, firstMaxMs). */
  firstMaxMs: number;
  /** Retry n ≥ 2 comes after a uniformly random delay in [0, min(maxMs, baseMs · 2^(n-1))). */
  baseMs: number;
  maxMs: number;
  /** Source of randomness in [0, 1) (tests pin it). */
  random?: () => number;
}

/** The delay before retry number `attempt` (1 = the first retry after a close), ms. */
export function backoffDelay(attempt: number, b: Backoff): number {
  const r = (b.random ?? Math.random)();
  if (attempt <= 1) return r * b.firstMaxMs;
  return r * Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt - 1, 30));
}
