/**
 * One sandbox operation at a time on this host: `up` and `down` take a lock directory (mkdir is
 * atomic) holding the owner's PID; a lock whose owner is gone is taken over.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCK_DIR, RUN_DIR } from './constants.js';
import { SandboxError } from './errors.js';

function ownerAlive(): number | null {
  try {
    const pid = Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withSandboxLock<T>(fn: () => Promise<T>, waitMs = 300_000): Promise<T> {
  await mkdir(RUN_DIR, { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerAlive();
      if (owner === null) {
        // The owner died (or never wrote its PID): wait a moment for a writer in progress, then take over.
        await sleep(200);
        if (ownerAlive() === null) await rm(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (owner === process.pid) throw new SandboxError('MI_ERR_SANDBOX_BUSY', 'sandbox lock is already held by this process');
      if (Date.now() > deadline) {
        throw new SandboxError('MI_ERR_SANDBOX_BUSY', `another sandbox command runs (pid ${owner}): wait for it to finish and retry`);
      }
      await sleep(200);
    }
  }
  await writeFile(join(LOCK_DIR, 'pid'), String(process.pid));
  try {
    return await fn();
  } finally {
    await rm(LOCK_DIR, { recursive: true, force: true });
  }
}
