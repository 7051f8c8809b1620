import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTiers, tiersReport } from '../../cli/commands/tiers.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { renderHostFiles } from '../../src/core/render.js';
import { deriveSizing } from '../../src/core/sizing.js';
import { TIER_NAMES } from '../../src/core/tiers.js';
import { model, tempDir } from './fixtures.js';

/** `tiers` and `render` through the real binary (bin/messenger-infra.js), as a user runs them. */
const ROOT = new URL('../../', import.meta.url).pathname;
const out = tempDir('render-cli');
afterAll(() => rmSync(out, { recursive: true, force: true }));

function cli(...args: string[]) {
  const res = spawnSync(process.execPath, [join(ROOT, 'bin/messenger-infra.js'), ...args], { encoding: 'utf8', timeout: 60_000, cwd: out });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('tiers', () => {
  it('prints the table, the derived settings and every budget line', () => {
    const res = cli('tiers');
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toBe(formatTiers());
    for (const tier of TIER_NAMES) {
      const s = deriveSizing(tier);
      expect(res.stdout).toContain(`Memory budget: ${tier} (${s.budget.ramMb} MB RAM)`);
      for (const line of s.budget.lines) expect(res.stdout).toMatch(new RegExp(`  ${line.name.replace(/[()]/g, '\\$&')} +${line.mb} MB`));
    }
    expect(res.stdout).toMatch(/^mvp +2 GB +2 +20 GB +start, 50-100 concurrent users/m);
  });

  it('--json is the stable report', () => {
    const res = cli('tiers', '--json');
    expect(res.status, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout);
    expect(json).toEqual(JSON.parse(JSON.stringify(tiersReport())));
    expect(json.tiers.map((t: { name: string }) => t.name)).toEqual([...TIER_NAMES]);
    expect(Object.keys(json.tiers[0])).toEqual(['name', 'ramMb', 'vcpu', 'diskGb', 'meantFor', 'sizing', 'budget']);
    expect(json.tiers[2].sizing.app.instances).toBe(deriveSizing('scale').app.instances);
  });
});

describe('render', () => {
  it('writes every file at its host path under --out, with its mode', () => {
    const dir = join(out, 'growth');
    const res = cli('render', '--tier', 'growth', '--domain', 'chat.example.com', '--os', 'debian12', '--out', dir);
    expect(res.status, res.stderr).toBe(0);
    const expected = renderHostFiles(model('growth', 'debian12', { domain: 'chat.example.com' }), 'full');
    for (const f of expected) {
      expect(readFileSync(join(dir, f.path), 'utf8'), f.path).toBe(f.content);
      expect(statSync(join(dir, f.path)).mode & 0o777, f.path).toBe(f.mode);
      expect(res.stdout).toContain(f.path);
    }
  });

  it('--phase bootstrap writes the port-80-only site', () => {
    const dir = join(out, 'boot');
    const res = cli('render', '--tier', 'mvp', '--domain', 'chat.example.com', '--phase', 'bootstrap', '--out', dir);
    expect(res.status, res.stderr).toBe(0);
    expect(readFileSync(join(dir, HOST_PATHS.nginxSite), 'utf8')).toContain('TLS pending');
  });

  it.each([
    [['--tier', 'huge', '--domain', 'chat.example.com'], 'error: stack.tier: "huge" must be one of mvp, growth, scale'],
    [['--tier', 'mvp', '--domain', 'not_a_host'], 'error: stack.domain: "not_a_host" must be a hostname'],
    [['--tier', 'mvp', '--domain', 'chat.example.com', '--email', 'nope'], 'error: stack.email: "nope" must be an e-mail address'],
    [['--stack', 'missing.yaml'], 'error: --stack: file'],
    [['--tier', 'mvp', '--domain', 'chat.example.com', '--os', 'debian11'], "error: option '--os <os>' argument 'debian11' is invalid. Allowed choices are debian13, debian12"],
  ])('bad input %j exits 2 with one line naming the field', (args, message) => {
    const res = cli('render', ...args, '--out', join(out, 'bad'));
    expect(res.status).toBe(2);
    expect(res.stderr.startsWith(message), res.stderr).toBe(true);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stdout).toBe('');
  });
});
