/**
 * `npm run bench:up [-- --runs N --os debian13|debian12]`: times `messenger-infra up --sandbox` on a
 * fresh sandbox VPS (the first `up`, packages from the mirror) and the no-change `up` after it,
 * N runs each (default 3), and prints min / median against the targets (first < 25 s, no-change < 2 s).
 * Each first `up` gets a fresh copy of the sandbox; the sandbox boot is timed apart from `up`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sandboxDown, sandboxUp, type SandboxOs } from '../src/sandbox/index.js';

const CLI = fileURLToPath(new URL('../bin/messenger-infra.js', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const runs = Number(opt('runs', '3'));
const os = opt('os', 'debian13') as SandboxOs;
if (!Number.isInteger(runs) || runs < 1 || runs > 10) throw new Error('--runs must be a whole number from 1 to 10');
if (os !== 'debian13' && os !== 'debian12') throw new Error('--os must be debian13 or debian12');

interface UpRun {
  wallS: number;
  inRunS: number;
  changed: number;
  steps: Array<{ step: string; durationMs: number; status: string }>;
}

/** Runs the CLI as a user would; wall time includes Node start-up and the SSH connection. */
function up(extra: string[]): Promise<UpRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, 'up', '--sandbox', '--os', os, '--tier', 'mvp', '--json', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallS = (performance.now() - started) / 1000;
      const summary = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string; ok: boolean; seconds: number; changed: number; steps: UpRun['steps'] })
        .find((e) => e.type === 'summary');
      if (code !== 0 || !summary?.ok) return reject(new Error(`up failed (exit ${code}): ${out.slice(-2000)}`));
      resolve({ wallS, inRunS: summary.seconds, changed: summary.changed, steps: summary.steps });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(2)} s, median ${median(xs).toFixed(2)} s  (${xs.map((x) => x.toFixed(2)).join(', ')})`;

const boots: number[] = [];
const firsts: UpRun[] = [];
const noChange: UpRun[] = [];
try {
  for (let i = 0; i < runs; i++) {
    await sandboxDown();
    const t = performance.now();
    await sandboxUp({ os });
    boots.push((performance.now() - t) / 1000);
    firsts.push(await up(['--no-verify']));
    const again = await up(['--no-verify']);
    if (again.changed !== 0) throw new Error(`the no-change up changed ${again.changed} step(s)`);
    noChange.push(again);
    process.stderr.write(`run ${i + 1}/${runs}: first ${firsts.at(-1)!.wallS.toFixed(1)} s, no-change ${again.wallS.toFixed(2)} s\n`);
  }
} finally {
  await sandboxDown();
}

const stepNames = firsts[0]!.steps.map((s) => s.step);
console.log(`\nbench:up on ${os}, tier mvp, ${runs} run(s), 2-core machine, packages from the Debian mirror`);
console.log(`  sandbox boot (fresh copy)    ${fmt(boots)}`);
console.log(`  first up   (wall, CLI)       ${fmt(firsts.map((r) => r.wallS))}   target < 25 s`);
console.log(`  first up   (in run)          ${fmt(firsts.map((r) => r.inRunS))}`);
console.log(`  no-change up (wall, CLI)     ${fmt(noChange.map((r) => r.wallS))}   target < 2 s`);
console.log(`  no-change up (in run)        ${fmt(noChange.map((r) => r.inRunS))}`);
console.log('  first up by step (median):');
for (const name of stepNames) {
  const times = firsts.map((r) => (r.steps.find((s) => s.step === name)?.durationMs ?? 0) / 1000);
  console.log(`    ${name.padEnd(16)} ${median(times).toFixed(2)} s`);
}
