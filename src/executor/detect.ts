import { factValue, queryFact, type Fact, type FactValues } from '../core/facts.js';
import { limitsFact, parseLimits } from '../core/limits.js';
import { osFromRelease, OS_PROFILES } from '../core/os-profiles.js';
import type { HostBasics } from '../core/desired-state.js';
import type { NodeArch } from '../core/versions.js';
import { MiError } from '../errors/index.js';
import { factsArgv, factValues, uniqueFacts } from './gather.js';
import { lastLine, type Host } from './host.js';
import { BOOTSTRAP_FAILED, bootstrapCommand, remotePrograms } from './remote-programs.js';

/** os-release ID and VERSION_ID, uname -m, container, uid: one line each. */
const hostFact = queryFact('host', ['host']);

function notRoot(host: Host, detail: string): MiError {
  return new MiError('MI_ERR_SUDO', `commands on ${host.label} do not run as root${detail}; give the SSH user passwordless sudo or use --ssh-user root`, { host: host.label });
}

const ARCHES: Record<string, NodeArch> = { x86_64: 'x64', aarch64: 'arm64' };

/**
 * What `up` must know about a host before it can compute the desired state, in the run's first
 * round trip, which also installs the remote programs every later command uses.
 */
export async function detectHost(host: Host, sshPort: number): Promise<HostBasics> {
  return (await inspectHost(host, sshPort)).basics;
}

/** detectHost, and `extra` facts read in the same round trip (all that `status` needs). */
export async function inspectHost(host: Host, sshPort: number, extra: readonly Fact[] = []): Promise<{ basics: HostBasics; facts: FactValues }> {
  const programs = remotePrograms();
  const facts = uniqueFacts([hostFact, limitsFact, ...extra]);
  const result = await host.run(bootstrapCommand(programs, ['facts', ...factsArgv(facts)]), { timeoutMs: 60_000 });
  if (result.code === BOOTSTRAP_FAILED) {
    throw new MiError('MI_ERR_REMOTE_PROGRAMS', `cannot install the remote programs in ${programs.dir} on ${host.label}: ${lastLine(result.stderr)}`, { host: host.label });
  }
  const sudo = /^sudo: .*$/m.exec(result.stderr);
  if (sudo) throw notRoot(host, ` (${sudo[0]})`);
  const values = factValues(host, facts, result);
  host.usePrograms(programs.dir);
  const [release = '', machine = '', virt = '', uid = ''] = factValue(values, hostFact).stdout.split('\n').map((l) => l.trim());
  if (uid !== '0') throw notRoot(host, '');
  const [id = '', version = ''] = release.split(' ');
  const os = osFromRelease(id, version);
  if (!os) {
    const supported = Object.values(OS_PROFILES).map((p) => p.name).join(', ');
    throw new MiError('MI_ERR_UNSUPPORTED_OS', `${host.label} runs ${id || 'an unknown OS'} ${version}; supported: ${supported}`, { host: host.label });
  }
  const arch = ARCHES[machine];
  if (!arch) throw new MiError('MI_ERR_UNSUPPORTED_ARCH', `${host.label} is ${machine}; supported: x86_64, aarch64`, { host: host.label });
  const limits = parseLimits(factValue(values, limitsFact).stdout);
  return { basics: { os, arch, container: virt && virt !== 'none' ? virt : null, sshPort, programsDir: programs.dir, ...(limits ? { limits } : {}) }, facts: values };
}
