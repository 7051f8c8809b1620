// Small timing helpers: a deadline on a promise, and percentiles of measured round trips.
import type { ErrorCode } from '../errors/catalogue.js';
import { CheckFailure } from './errors.js';

/** Rejects with a CheckFailure (stable code, one-line cause) when `promise` does not settle within `ms`. */
export function deadline<T>(promise: Promise<T>, ms: number, code: ErrorCode, cause: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(code, cause)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Nearest-rank percentile of `sorted` (ascending), p in (0, 100]. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Milliseconds rounded to 0.1 for figures. */
export const ms = (n: number): number => Math.round(n * 10) / 10;

export const sleep = (millis: number): Promise<void> => new Promise((r) => setTimeout(r, millis));
