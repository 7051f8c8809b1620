/** Brings the schema up to date, retrying until the database answers or the server stops. */
import type { ServerContext } from './context.js';

/** Runs the migrations with a growing backoff (capped at 10 s); sets `state.ready` on success. */
export async function migrateUntilReady(ctx: ServerContext): Promise<void> {
  const { store, log, state } = ctx;
  for (let attempt = 1; !state.shuttingDown; attempt++) {
    try {
      const applied = await store.migrate();
      state.ready = true;
      log.info('database ready', { appliedMigrations: applied });
      return;
    } catch (err) {
      log.error('database not ready; retrying', { attempt, err });
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
    }
  }
}
