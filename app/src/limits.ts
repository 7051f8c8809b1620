/** Server tunables that sit outside the environment contract, with their defaults. */

/** Tunables that are not part of the environment contract (tests and the bench shrink or raise them). */
export interface ChatLimits {
  /** Frames per second per connection, and burst. */
  ratePerSec: number;
  rateBurst: number;
  /** Rate-limit violations tolerated before closing with 1008. */
  maxRateViolations: number;
  /** A connection whose unsent buffer exceeds this is dropped. */
  maxBufferedBytes: number;
  /**
   * Bound of the graceful shutdown beyond the drain spread (config.drainSpreadMs), ms: half for in-flight writes,
   * the rest for the last close handshakes. So the whole shutdown ends within drainSpreadMs + this, always
   * longer than the spread itself.
   */
  shutdownTimeoutMs: number;
  /** Longest long-poll wait, seconds. */
  maxPollWaitS: number;
  /** Interval of the periodic stats log line, ms (0 = off). */
  statsIntervalMs: number;
}

export const DEFAULT_LIMITS: ChatLimits = {
  ratePerSec: 20,
  rateBurst: 40,
  maxRateViolations: 100,
  maxBufferedBytes: 1024 * 1024,
  shutdownTimeoutMs: 10_000,
  maxPollWaitS: 25,
  statsIntervalMs: 60_000,
};
