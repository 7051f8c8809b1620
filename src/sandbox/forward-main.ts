/** Entry of the forwarder process (see forward.ts): binds every pair, says so, runs until SIGTERM. */
import { startForwards } from './forward.js';

startForwards(process.argv.slice(2)).then(
  (servers) => {
    const stop = () => {
      for (const s of servers) s.close();
      process.exit(0);
    };
    process.on('SIGTERM', stop).on('SIGINT', stop);
    process.stdout.write(`forward ready: ${servers.length} pairs\n`);
  },
  (err: unknown) => {
    process.stderr.write(`forward: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
