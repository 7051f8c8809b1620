import { commandFact, factValue } from '../core/facts.js';
import { osFromRelease, OS_PROFILES } from '../core/os-profiles.js';
import type { HostBasics } from '../core/desired-state.js';
import type { NodeArch } from '../core/versions.js';
import { MiError } from '../config/errors.js';
import { gatherFacts } from './gather.js';
import type { Host } from './host.js';

const releaseFact = commandFact('os-release', '. /etc/os-release && printf "%s %s\\n" "$ID" "$VERSION_ID"');
const archFact = commandFact('arch', 'uname -m');
const virtFact = commandFact('virt', 'systemd-detect-virt --container 2>/dev/null || true');
const rootFact = commandFact('uid', 'id -u');

const ARCHES: Record<string, NodeArch> = { x86_64: 'x64', aarch64: 'arm64' };

/** What `up` must know about a host before it can compute the desired state (one round trip). */
export async function detectHost(host: Host, sshPort: number): Promise<HostBasics> {
  const facts = await gatherFacts(host, [releaseFact, archFact, virtFact, rootFact]);
  if (factValue(facts, rootFact).stdout !== '0') {
    throw new MiError('MI_ERR_SUDO', `commands on ${host.label} do not run as root; give the SSH user passwordless sudo or use --ssh-user root`, { host: host.label }, 2);
  }
  const [id = '', version = ''] = factValue(facts, releaseFact).stdout.split(' ');
  const os = osFromRelease(id, version);
  if (!os) {
    const supported = Object.values(OS_PROFILES).map((p) => p.name).join(', ');
    throw new MiError('MI_ERR_UNSUPPORTED_OS', `${host.label} runs ${id || 'an unknown OS'} ${version}; supported: ${supported}`, { host: host.label }, 2);
  }
  const machine = factValue(facts, archFact).stdout;
  const arch = ARCHES[machine];
  if (!arch) throw new MiError('MI_ERR_UNSUPPORTED_ARCH', `${host.label} is ${machine}; supported: x86_64, aarch64`, { host: host.label }, 2);
  const virt = factValue(facts, virtFact).stdout;
  return { os, arch, container: virt && virt !== 'none' ? virt : null, sshPort };
}
