/** `npm run bench`: every benchmark in turn (chat server load, the Redis bus across instances, `up` timings, releases, data), figures printed. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

for (const name of ['chat.ts', 'bus.ts', 'up.ts', 'deploy.ts', 'data.ts']) {
  const file = fileURLToPath(new URL(name, import.meta.url));
  console.log(`\n=== bench/${name}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
