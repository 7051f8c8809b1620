import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { DEFAULT_BUNDLE_DIR } from '../../src/executor/bundle.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { CLIENTS, gapSummary, rideThrough } from '../helpers/ride-through.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * Releases of the bundled chat server that chat users do not see: 300 clients through nginx + TLS
 * keep sending while `restart` and then a `deploy` of a changed bundle switch the release; every
 * acked message reaches every member of its room exactly once, in order, /healthz polled every 50 ms
 * never fails, and the reconnect gaps are printed (the target, < 0.5 s, is measured by the bench).
 */
export function bundledReleaseSuite(sb: SandboxHandle): void {
  const onSandbox = ['--sandbox', '--tier', 'mvp'];

  async function switched(args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
    const result = await runCli([...args, ...onSandbox, '--json', '--no-verify'], { env, timeoutMs: 300_000 });
    const summary = jsonLines(result.stdout).find((e) => e.type === 'summary') as { ok: boolean } | undefined;
    expect(summary?.ok, result.stdout + result.stderr).toBe(true);
  }

  it(`restart, then a deploy of a changed bundle, with ${CLIENTS} clients sending: no acked message lost or doubled, no failed health poll`, async () => {
    const before = (await sb.ssh(['cat', HOST_PATHS.liveUpstream])).stdout;
    // A changed bundle: the same server under another version, so another release.
    const changed = mkdtempSync(join(tmpdir(), 'mi-bundle-'));
    cpSync(DEFAULT_BUNDLE_DIR, changed, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(changed, 'manifest.json'), 'utf8')) as { version: string };
    writeFileSync(join(changed, 'manifest.json'), JSON.stringify({ ...manifest, version: `${manifest.version}-e2e` }));

    const ride = await rideThrough(sb, async () => {
      await switched(['restart']);
      await new Promise((r) => setTimeout(r, 3_000));
      await switched(['deploy'], { MESSENGER_INFRA_BUNDLE_DIR: changed });
    });
    console.log(`${CLIENTS} clients, ${ride.acked} acked messages through restart + deploy: ${ride.lost} lost, ${ride.duplicates} doubled, ${ride.outOfOrder} out of order; ${ride.polls} health polls, ${ride.failedPolls} failed; ${gapSummary(ride.gapsMs)}`);
    expect(ride.acked).toBeGreaterThan(100);
    expect({ lost: ride.lost, duplicates: ride.duplicates, outOfOrder: ride.outOfOrder, failedPolls: ride.failedPolls }).toEqual({ lost: 0, duplicates: 0, outOfOrder: 0, failedPolls: 0 });
    expect(ride.polls).toBeGreaterThan(50);
    // Two switches: the upstream is back on the slot it started on, with the new release.
    expect((await sb.ssh(['cat', HOST_PATHS.liveUpstream])).stdout).toBe(before);
    const status = await runCli(['status', ...onSandbox, '--json']);
    expect((jsonLines(status.stdout)[0] as { release: { version: string } }).release.version).toBe(`${manifest.version}-e2e`);
  }, 600_000);

  it('a release that fails its health gate is stopped; the live one never stopped serving', async () => {
    const live = (await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim();
    // A bundle whose server exits at once: the new instance never answers /readyz.
    const broken = mkdtempSync(join(tmpdir(), 'mi-bundle-broken-'));
    cpSync(DEFAULT_BUNDLE_DIR, broken, { recursive: true });
    writeFileSync(join(broken, 'messenger-chat.mjs'), 'process.exit(3);\n');
    const ride = await rideThrough(sb, async () => {
      const result = await runCli(['deploy', ...onSandbox, '--json', '--no-verify'], { env: { MESSENGER_INFRA_BUNDLE_DIR: broken }, timeoutMs: 300_000 });
      const failed = jsonLines(result.stdout).find((e) => e.status === 'failed') as { code?: string; reason?: string } | undefined;
      expect(failed?.code, result.stdout).toBe('MI_ERR_HEALTH_GATE');
      expect(failed?.reason).toMatch(/exited|did not answer/);
    });
    expect({ lost: ride.lost, duplicates: ride.duplicates, failedPolls: ride.failedPolls }).toEqual({ lost: 0, duplicates: 0, failedPolls: 0 });
    // Nobody reconnected: the live release was not touched.
    expect(Math.max(...ride.gapsMs)).toBe(0);
    expect((await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim()).toBe(live);
  }, 600_000);
}
