import type { StackConfig } from '../config/schema.js';
import { factValue, linkFact } from '../core/facts.js';
import { appPortsOf, HOST_PATHS } from '../core/host-model.js';
import { releaseRows, type ReleaseRow } from '../core/release.js';
import { instancesFact, parseInstances, portOf, releasesFact } from '../core/steps/app.js';
import { inspectHost } from './detect.js';
import type { SshTarget } from './ssh-host.js';
import { withHost } from './up.js';

/** `releases`: the kept releases with what runs where, from one round trip; changes nothing. */
export async function runReleases(stack: StackConfig, target: SshTarget): Promise<{ host: string; releases: ReleaseRow[] }> {
  const ports = appPortsOf(stack);
  const current = linkFact(HOST_PATHS.appCurrent);
  const links = ports.map((p) => [p, linkFact(`${HOST_PATHS.appInstances}/${p}`)] as const);
  return withHost(target, async (host) => {
    const { facts } = await inspectHost(host, target.port, [releasesFact, current, instancesFact, ...links.map(([, f]) => f)]);
    const active = new Set([...parseInstances(factValue(facts, instancesFact).stdout).active].map(portOf));
    const targets = new Map(links.map(([p, f]) => [p, factValue(facts, f).target]));
    return { host: host.label, releases: releaseRows(factValue(facts, releasesFact).stdout, factValue(facts, current).target, targets, active) };
  });
}
