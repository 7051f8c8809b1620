/**
 * Checks made before anything is started, each refusing with one line that names the fix.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { sandboxPorts } from './constants.js';
import { SandboxError } from './errors.js';
import { runRaw } from './exec.js';

/** Host commands the sandbox runs, and the Debian package that ships each. */
export const REQUIRED_COMMANDS: readonly { command: string; pkg: string }[] = [
  { command: 'debootstrap', pkg: 'debootstrap' },
  { command: 'systemd-nspawn', pkg: 'systemd-container' },
  { command: 'pebble', pkg: 'pebble' },
  { command: 'pebble-challtestsrv', pkg: 'pebble' },
  { command: 'ssh', pkg: 'openssh-client' },
  { command: 'ssh-keygen', pkg: 'openssh-client' },
  { command: 'openssl', pkg: 'openssl' },
  { command: 'ss', pkg: 'iproute2' },
];

/** What a multi-host sandbox runs besides: namespaces and veth pairs, and the guests' egress proxy. */
export const MULTI_HOST_COMMANDS: readonly { command: string; pkg: string }[] = [
  { command: 'ip', pkg: 'iproute2' },
  { command: 'tinyproxy', pkg: 'tinyproxy' },
];

export function checkRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new SandboxError(
      'MI_ERR_SANDBOX_NOT_ROOT',
      'the sandbox needs root (debootstrap, systemd-nspawn): run it as root, e.g. `sudo messenger-infra sandbox up`',
    );
  }
}

function onPath(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => {
    try {
      accessSync(join(d, command), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Debian packages whose commands are missing, in install order, without duplicates. */
export function missingPackages(has: (command: string) => boolean = onPath, hosts = 1): string[] {
  const needed = hosts > 1 ? [...REQUIRED_COMMANDS, ...MULTI_HOST_COMMANDS] : REQUIRED_COMMANDS;
  const pkgs = needed.filter((c) => !has(c.command)).map((c) => c.pkg);
  return [...new Set(pkgs)];
}

export function checkPackages(has: (command: string) => boolean = onPath, hosts = 1): void {
  const missing = missingPackages(has, hosts);
  if (missing.length > 0) {
    throw new SandboxError(
      'MI_ERR_SANDBOX_MISSING_PACKAGES',
      `missing host packages: ${missing.join(', ')}; install them with: apt-get install -y ${missing.join(' ')}`,
    );
  }
}

export interface PortUse {
  port: number;
  proto: 'tcp' | 'udp';
  use: string;
  /** e.g. `nginx (pid 123)`, when ss could tell. */
  holder: string | null;
}

/** Parses `ss -H -l -n -p` lines into port → holder ("name (pid N)" or null). */
export function parseSsListeners(output: string): Map<number, string | null> {
  const byPort = new Map<number, string | null>();
  for (const line of output.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // Netid may be absent with -t/-u alone: State Recv-Q Send-Q Local Peer [Process]
    const local = cols.find((c, i) => i >= 3 && /:(\d+|\*)$/.test(c));
    if (!local) continue;
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    if (!Number.isInteger(port)) continue;
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    const holder = m ? `${m[1]} (pid ${m[2]})` : null;
    if (!byPort.has(port) || (byPort.get(port) === null && holder)) byPort.set(port, holder);
  }
  return byPort;
}

/** Sandbox ports that something on the host already listens on. */
export async function takenPorts(hosts = 1): Promise<PortUse[]> {
  const [tcp, udp] = await Promise.all([runRaw(['ss', '-H', '-ltnp']), runRaw(['ss', '-H', '-lunp'])]);
  const tcpMap = parseSsListeners(tcp.stdout);
  const udpMap = parseSsListeners(udp.stdout);
  return sandboxPorts(hosts).filter((p) => (p.proto === 'tcp' ? tcpMap : udpMap).has(p.port)).map((p) => ({
    ...p,
    holder: (p.proto === 'tcp' ? tcpMap : udpMap).get(p.port) ?? null,
  }));
}

export async function checkPorts(hosts = 1): Promise<void> {
  const taken = await takenPorts(hosts);
  const first = taken[0];
  if (!first) return;
  const who = (p: PortUse) => `${p.port}/${p.proto} (${p.use}) is taken by ${p.holder ?? 'an unknown process'}`;
  throw new SandboxError(
    'MI_ERR_SANDBOX_PORT_TAKEN',
    `port ${taken.map(who).join('; port ')}: stop it and retry (${hosts > 1 ? 'the sandbox forwards it to a guest' : 'the sandbox shares the host network'})`,
  );
}
