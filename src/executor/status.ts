import { hardenStateFact, hardenStateOf, type HardenState } from '../core/harden.js';
import { appPortsOf, buildHostModel } from '../core/host-model.js';
import { appUnit } from '../core/render.js';
import { buildStatus, statusFacts, type StatusReport } from '../core/status.js';
import type { StackConfig } from '../config/schema.js';
import { SINGLE_HOST, type Placement } from '../core/topology.js';
import { inspectHost } from './detect.js';
import { withHost } from './up.js';
import type { SshTarget } from './ssh-host.js';

/** `status`: everything it reports, from one round trip (which installs the remote programs if needed). */
export async function runStatus(stack: StackConfig, target: SshTarget, placement: Placement = SINGLE_HOST): Promise<StatusReport & { harden: HardenState }> {
  return withHost(target, async (host) => {
    // The hardening as the host says it is now: pending reboots and outdated services are day-to-day news.
    const unit = appUnit(appPortsOf(stack)[0] ?? stack.app.port);
    const { basics, facts } = await inspectHost(host, target.port, [...statusFacts(stack), hardenStateFact(target.user, unit)]);
    const report = buildStatus(facts, buildHostModel(stack, basics.os, undefined, basics.limits, placement), { label: host.label, os: basics.os.name });
    return { ...report, harden: hardenStateOf(facts, target.user, unit) };
  });
}
