import { buildHostModel } from '../core/host-model.js';
import { buildStatus, statusFacts, type StatusReport } from '../core/status.js';
import type { StackConfig } from '../config/schema.js';
import { inspectHost } from './detect.js';
import { withHost } from './up.js';
import type { SshTarget } from './ssh-host.js';

/** `status`: everything it reports, from one round trip (which installs the remote programs if needed). */
export async function runStatus(stack: StackConfig, target: SshTarget): Promise<StatusReport> {
  return withHost(target, async (host) => {
    const { basics, facts } = await inspectHost(host, target.port, statusFacts(stack));
    return buildStatus(facts, buildHostModel(stack, basics.os, undefined, basics.limits), { label: host.label, os: basics.os.name });
  });
}
