import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { remote, REMOTE_PROGRAM, type Command } from '../core/command.js';
import { REMOTE_EXIT } from '../core/remote-exit.js';
import { MiError } from '../errors/index.js';
import { lastLine } from './host.js';
import type { SshHost } from './ssh-host.js';

/**
 * The host-wide lock of a run (remote/hold-lock.sh): an flock under /run held by one remote process
 * for as long as the run's SSH connection lives, so a kill, an OOM or a dropped link can never leave
 * it behind. Every mutating command of the run goes through `mi-remote locked RUN --`, which refuses
 * to run unless this run holds the lock. A second run waits a bounded time, then fails with
 * MI_ERR_HOST_LOCKED naming the holder.
 */
export interface HostLock {
  readonly runId: string;
  release(): Promise<void>;
}

/** How long a second run waits for the lock before it gives up, by default. */
export const LOCK_WAIT_SECONDS = 120;

export function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z')}-${randomBytes(4).toString('hex')}`;
}

/** Who holds the lock, for the message a waiting run prints. */
function holderName(runId: string): string[] {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): the uid is still in the run id's message
  }
  return [`${user}@${hostname()}`, `pid ${process.pid}`, `run ${runId}`];
}

export async function acquireHostLock(host: SshHost, waitSeconds = LOCK_WAIT_SECONDS): Promise<HostLock> {
  const runId = newRunId();
  let out = '';
  let markLocked: () => void = () => {};
  const locked = new Promise<null>((resolve) => (markLocked = () => resolve(null)));
  const held = host.start(remote('hold the host lock', ['hold-lock', runId, String(waitSeconds), ...holderName(runId)]), (chunk) => {
    out += chunk;
    if (out.split('\n').includes('locked')) markLocked();
  });
  // The holder prints "locked" once it has the lock; if it ends first, it did not get it.
  const early = await Promise.race([locked, held.done]);
  if (early) {
    const detail = lastLine(early.stderr);
    if (early.dropped) throw new MiError('MI_ERR_SSH_DROPPED', `${host.label}: the SSH connection ended while waiting for the host lock`, { host: host.label });
    throw new MiError(
      early.code === REMOTE_EXIT.LOCKED ? 'MI_ERR_HOST_LOCKED' : 'MI_ERR_STEP_FAILED',
      early.code === REMOTE_EXIT.LOCKED ? `${host.label}: ${detail}; retry when it has finished` : `cannot take the host lock on ${host.label}: ${detail}`,
      { host: host.label },
    );
  }
  return {
    runId,
    release: async () => {
      await held.end();
    },
  };
}

/** The command, run only while `runId` holds the host lock. */
export function underLock(runId: string, command: Command): Command {
  return { ...command, argv: [REMOTE_PROGRAM, 'locked', runId, '--', ...command.argv] };
}
