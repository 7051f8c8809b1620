/**
 * `npm run bench:deploy [-- --clients N]`: releases on a fresh sandbox VPS, in one run:
 *   - `deploy` of a changed bundled release (target < 10 s) and of the NestJS fixture with a new
 *     version (npm ci from the host's cache; target < 60 s), 3 runs each, min / median;
 *   - the longest reconnect gap per client of N clients (default 1000) sending through nginx + TLS
 *     during a zero-downtime `restart`, against the same clients through an in-place restart
 *     (`strategy: restart`, what a plain `systemctl restart` does), measured in the same run; acked
 *     messages lost or doubled and failed /healthz polls for both. Target: no gap ≥ 0.5 s.
 * The load generator is this one Node process; its CPU time is printed so a saturated generator shows.
 * Run it on an otherwise idle machine: anything else on the same cores stretches every reconnect.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { DEFAULT_BUNDLE_DIR } from '../src/executor/bundle.js';
import { runRaw } from '../src/sandbox/exec.js';
import { sandboxDown, sandboxUp, sshArgv, type SandboxInfo } from '../src/sandbox/index.js';
import { gapSummary, rideThrough, type RideResult } from '../tests/helpers/ride-through.js';

const CLI = fileURLToPath(new URL('../bin/messenger-infra.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../tests/fixtures/nest-app/', import.meta.url));
const argv = process.argv.slice(2);
const clientsArg = argv.indexOf('--clients');
const clients = clientsArg >= 0 ? Number(argv[clientsArg + 1]) : 1000;
if (!Number.isInteger(clients) || clients < 10 || clients > 5000) throw new Error('--clients must be a whole number from 10 to 5000');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args, '--json', '--no-verify'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ok = out.split('\n').some((l) => l.startsWith('{"type":"summary","ok":true'));
      if (code !== 0 || !ok) return reject(new Error(`${args.join(' ')} failed (exit ${code}): ${out.slice(-1500)}`));
      resolve((performance.now() - started) / 1000);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(1)} s, median ${median(xs).toFixed(1)} s  (${xs.map((x) => x.toFixed(1)).join(', ')})`;

function changedBundle(version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mi-bench-bundle-'));
  cpSync(DEFAULT_BUNDLE_DIR, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, version }));
  return dir;
}

function stackFile(info: SandboxInfo, app: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mi-bench-stack-')), 'stack.yaml');
  writeFileSync(file, stringify({ tier: 'mvp', domain: info.domain, email: 'ops@messenger.test', app }));
  return file;
}

function ride(info: SandboxInfo, during: () => Promise<unknown>): Promise<RideResult & { cpuS: number }> {
  const sb = { info, ssh: (remote: readonly string[], timeoutMs = 120_000) => runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, remote), { timeoutMs }) };
  const cpu = process.cpuUsage();
  return rideThrough(sb, async () => void (await during()), { clients }).then((r) => {
    const used = process.cpuUsage(cpu);
    return { ...r, cpuS: (used.user + used.system) / 1e6 };
  });
}

const describe = (name: string, r: RideResult & { cpuS: number }) =>
  `  ${name.padEnd(26)} ${gapSummary(r.gapsMs)}\n  ${''.padEnd(26)} ${r.acked} acked: ${r.lost} lost, ${r.duplicates} doubled; ${r.failedPolls} of ${r.polls} health polls failed; load generator CPU ${r.cpuS.toFixed(1)} s`;

try {
  await sandboxDown();
  const info = await sandboxUp({ os: 'debian13' });
  await cli(['up', '--sandbox', '--tier', 'mvp']);

  const bundled: number[] = [];
  for (let i = 0; i < 3; i++) bundled.push(await cli(['deploy', '--sandbox', '--tier', 'mvp'], { MESSENGER_INFRA_BUNDLE_DIR: changedBundle(`0.0.${i}-bench`) }));

  const zeroDowntime = await ride(info, () => cli(['restart', '--sandbox', '--tier', 'mvp']));
  const inPlaceStack = stackFile(info, { strategy: 'restart' });
  const inPlace = await ride(info, () => cli(['restart', '--sandbox', '--stack', inPlaceStack]));

  const nest: number[] = [];
  const env = { NEST_JWT_SECRET: 'bench-nest-secret-0123456789abcdef' };
  for (let i = 0; i < 3; i++) {
    const file = stackFile(info, {
      source: FIXTURE,
      start: 'node dist/main.js',
      health: '/api/health',
      websocket: ['/socket.io/'],
      env: { APP_VERSION: `1.0.${i}`, NO_COLOR: 1 },
      secrets: { JWT_SECRET: { env: 'NEST_JWT_SECRET' } },
      database: { name: 'nest_bench' },
      migrate: 'npm run migration:run',
      drainSeconds: 2,
    });
    nest.push(await cli(['deploy', '--sandbox', '--stack', file], env));
  }

  console.log(`\nbench:deploy on debian13, tier mvp, 2-core machine`);
  console.log(`  deploy, bundled server      ${fmt(bundled)}   target < 10 s`);
  console.log(`  deploy, NestJS fixture      ${fmt(nest)}   target < 60 s (the first of them switches from the bundled server; npm ci from the host's cache after it)`);
  console.log(`\n  ${clients} clients sending through nginx + TLS, longest reconnect gap per client (target: none ≥ 0.5 s):`);
  console.log(describe('zero-downtime restart', zeroDowntime));
  console.log(describe('in-place restart (peer)', inPlace));
  const ratio = median(zeroDowntime.gapsMs) / Math.max(1, median(inPlace.gapsMs));
  console.log(`  median gap ratio, zero-downtime / in-place: ${ratio.toFixed(2)}x`);
  // A reconnect nginx refused for want of descriptors counts in the gaps: say so when it happened.
  const emfile = await runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, ['grep', '-c', "'Too many open files'", '/var/log/nginx/error.log']), { timeoutMs: 30_000 });
  console.log(`  nginx "Too many open files" errors during the run: ${emfile.stdout.trim() || '0'} (the workers' descriptor limit; see issue 13)`);
} finally {
  await sandboxDown();
}
