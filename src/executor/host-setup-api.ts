import type { HostSetupInput } from '../../infra/host-setup.js';
import { loadStack } from '../config/load.js';
import { sha256 } from '../core/file-plan.js';
import { hardenFiles } from '../core/harden.js';
import { buildHostModel } from '../core/host-model.js';
import { OS_PROFILES } from '../core/os-profiles.js';
import { renderHostFiles } from '../core/render.js';
import { readBundle } from './bundle.js';
import { remotePrograms } from './remote-programs.js';
import { runPlan, runUp } from './up.js';
import type { SshTarget } from './ssh-host.js';

/**
 * The executor as the Pulumi host-setup resource calls it: the same plan and converge as
 * `messenger-infra up`, from the resource's inputs (key and known_hosts held in memory).
 */
function stackOf(input: Pick<HostSetupInput, 'tier' | 'domain' | 'email' | 'acmeServer'>) {
  return loadStack({ overrides: { tier: input.tier, domain: input.domain, email: input.email, acme: { server: input.acmeServer } } });
}

function fromInput(input: HostSetupInput) {
  const stack = { ...stackOf(input), target: { host: input.host, ssh: { user: input.sshUser, port: input.sshPort } } };
  const target: SshTarget = {
    host: input.host,
    port: input.sshPort,
    user: input.sshUser,
    privateKey: input.sshPrivateKey,
    knownHostsPath: '(stack input knownHosts)',
    knownHostsText: input.knownHosts,
    // A server Pulumi has just created has a host key nobody could have listed yet.
    acceptNewHostKey: input.knownHosts.trim() === '',
  };
  return { stack, target, bundle: readBundle(), ...(input.acmeCaBundle ? { acmeCaBundle: input.acmeCaBundle } : {}) };
}

/**
 * A digest of everything `up` would write for these settings, for every supported OS (the host's
 * is only known once connected): rendered files, the app bundle, the Node.js version and the remote
 * programs. As a
 * resource input it makes a changed template a diff in `pulumi preview`.
 */
export function hostSetupDigest(input: Pick<HostSetupInput, 'tier' | 'domain' | 'email' | 'acmeServer'> & Partial<Pick<HostSetupInput, 'sshUser' | 'sshPort'>>): string {
  const stack = stackOf(input);
  const bundle = readBundle();
  const parts = Object.values(OS_PROFILES).flatMap((os) => {
    const model = buildHostModel(stack, os);
    return (['bootstrap', 'full'] as const).flatMap((phase) => renderHostFiles(model, phase).map((f) => `${os.id} ${phase} ${f.path} ${f.mode} ${sha256(f.content)}`));
  });
  // The hardening files as a VM gets them (a cloud server is never a container).
  const harden = hardenFiles(stack, { user: input.sshUser ?? 'root', container: null, sshPorts: [input.sshPort ?? 22] }).map((f) => `harden ${f.path} ${f.mode} ${sha256(f.content)}`);
  return sha256([...parts, ...harden, `bundle ${bundle.id}`, `node ${stack.node.version}`, `remote programs ${remotePrograms().hash}`].join('\n'));
}

export async function planHostSetup(input: HostSetupInput): Promise<{ changes: string[] }> {
  const { plans } = await runPlan(fromInput(input));
  return { changes: plans.flatMap(({ step, plan }) => plan.changes.map((c) => `${step.id}: ${c}`)) };
}

export async function applyHostSetup(input: HostSetupInput): Promise<{ changed: number; ok: number; failed: number; hostKey: string }> {
  const { report, hostKey } = await runUp({ ...fromInput(input), emit: () => {} });
  if (!report.ok) {
    const failed = report.steps.find((s) => s.status === 'failed');
    throw new Error(`host setup failed at step ${failed?.step}: ${failed?.reason}`);
  }
  return { changed: report.changed, ok: report.steps.filter((s) => s.status === 'ok').length, failed: report.failed, hostKey };
}
