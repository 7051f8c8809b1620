import type { ErrorCode } from '../errors/catalogue.js';

/**
 * The exit statuses of the remote programs, as remote/lib.sh defines them (a test keeps the two
 * equal), and the error codes every command shares. A command's own `errors` map says what 10-14
 * mean for it (which validator, which download).
 */
export const REMOTE_EXIT = {
  FAILED: 1,
  USAGE: 2,
  INVALID: 10,
  ACTIVATION: 11,
  NOT_READY: 12,
  APT_LOCKED: 13,
  DOWNLOAD: 14,
  INTERRUPTED: 15,
  BUILD: 16,
  MIGRATION: 17,
  /** mariadb-dump failed: no dump, no snapshot. */
  DUMP: 18,
  /** The SQL given to `db load` is not loadable (not SQL, truncated, bad compression). */
  INPUT: 19,
  /** A restored database does not match what its backup recorded. */
  VERIFY: 20,
  /** The target database holds tables and --replace was not given. */
  NOT_EMPTY: 21,
  /** restic cannot open, read or write the repository. */
  REPOSITORY: 22,
  LOCKED: 75,
} as const;

/** coreutils `timeout` exits 124 when the bound ran out (and 128+9 when its KILL followed). */
const TIMED_OUT = 124;

/** The error code of a failed command: its own map first, then the shared meanings. */
export function errorCodeOf(status: number, errors: Readonly<Partial<Record<number, ErrorCode>>> = {}): ErrorCode {
  const own = errors[status];
  if (own) return own;
  if (status === REMOTE_EXIT.INTERRUPTED) return 'MI_ERR_INTERRUPTED';
  if (status === REMOTE_EXIT.LOCKED) return 'MI_ERR_HOST_LOCKED';
  if (status === REMOTE_EXIT.BUILD) return 'MI_ERR_BUILD_FAILED';
  if (status === REMOTE_EXIT.MIGRATION) return 'MI_ERR_MIGRATION_FAILED';
  if (status === TIMED_OUT) return 'MI_ERR_TIMEOUT';
  // 128+N: killed by signal N before it could clean up (SIGKILL, the OOM killer).
  if (status > 128 && status < 255) return 'MI_ERR_KILLED';
  return 'MI_ERR_STEP_FAILED';
}
