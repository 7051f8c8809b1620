/**
 * The private network of a multi-host sandbox: a bridge inside a network namespace of its own, and
 * one namespace per guest joined to it by a veth pair. Every address lives inside these namespaces:
 * nothing is added to this machine's own network, no route leads out of them, and deleting the
 * namespaces removes every link. The plan is pure; `createNetwork` / `removeNetwork` run `ip`.
 */
import { existsSync } from 'node:fs';
import { SandboxError } from './errors.js';
import { run, runRaw } from './exec.js';

/** RFC 2544's benchmarking range: never routed on the internet, unlikely on any real private network. */
export const PRIVATE_CIDR = '198.18.0.0/24';
const PRIVATE_PREFIX = '198.18.0.';
const FIRST_HOST_OCTET = 11;
export const HUB_NETNS = 'messenger-sandbox-net';
const BRIDGE = 'br0';
/** The interface name a guest sees, as on a VPS with one private NIC. */
export const GUEST_IF = 'eth0';

export interface GuestNet {
  /** 1-based; guest 1 is the edge (its 80/443 are forwarded to this machine's 127.0.0.1). */
  index: number;
  netns: string;
  address: string;
  /** The bridge port of this guest's veth, inside the hub namespace. */
  hubIf: string;
}

export interface NetworkPlan {
  hubNs: string;
  cidr: string;
  guests: GuestNet[];
}

export function planNetwork(names: readonly string[]): NetworkPlan {
  return {
    hubNs: HUB_NETNS,
    cidr: PRIVATE_CIDR,
    guests: names.map((name, i) => ({
      index: i + 1,
      netns: name,
      address: `${PRIVATE_PREFIX}${FIRST_HOST_OCTET + i}`,
      hubIf: `veth${i + 1}`,
    })),
  };
}

/** The `ip` argv that builds the plan, in order; every command names its namespace with -n. */
export function networkCommands(plan: NetworkPlan): string[][] {
  const prefixLen = plan.cidr.split('/')[1];
  const hub = plan.hubNs;
  const cmds: string[][] = [
    ['ip', 'netns', 'add', hub],
    ['ip', '-n', hub, 'link', 'add', BRIDGE, 'type', 'bridge'],
    ['ip', '-n', hub, 'link', 'set', BRIDGE, 'up'],
  ];
  for (const g of plan.guests) {
    cmds.push(
      ['ip', 'netns', 'add', g.netns],
      ['ip', '-n', g.netns, 'link', 'set', 'lo', 'up'],
      // Created inside the hub namespace with its peer moved straight into the guest's: no link ever
      // appears in this machine's own namespace, even for a moment.
      ['ip', '-n', hub, 'link', 'add', g.hubIf, 'type', 'veth', 'peer', 'name', GUEST_IF, 'netns', g.netns],
      ['ip', '-n', hub, 'link', 'set', g.hubIf, 'master', BRIDGE, 'up'],
      ['ip', '-n', g.netns, 'addr', 'add', `${g.address}/${prefixLen}`, 'dev', GUEST_IF],
      ['ip', '-n', g.netns, 'link', 'set', GUEST_IF, 'up'],
    );
  }
  return cmds;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** Refuses when a namespace of the plan exists already: it is not ours to reuse or delete. */
export function checkNetworkFree(plan: NetworkPlan, exists: (path: string) => boolean = existsSync): void {
  const taken = [plan.hubNs, ...plan.guests.map((g) => g.netns)].filter((n) => exists(netnsPath(n)));
  if (taken.length > 0) {
    throw new SandboxError(
      'MI_ERR_SANDBOX_NETWORK',
      `network namespace ${taken.join(', ')} already exists: remove it with \`ip netns del ${taken[0]}\` if no sandbox uses it, then retry`,
    );
  }
}

export async function createNetwork(plan: NetworkPlan): Promise<void> {
  for (const argv of networkCommands(plan)) await run(argv, { errorCode: 'MI_ERR_SANDBOX_NETWORK' });
}

/**
 * Deletes the namespaces (each takes its veth ends and the bridge with it). Runs after every process
 * in them stopped; a name that is already gone is fine.
 */
export async function removeNetwork(names: readonly string[]): Promise<void> {
  const failed: string[] = [];
  for (const name of names) {
    if (!existsSync(netnsPath(name))) continue;
    const res = await runRaw(['ip', 'netns', 'del', name]);
    if (res.code !== 0) failed.push(`${name}: ${res.stderr.trim()}`);
  }
  if (failed.length > 0) {
    throw new SandboxError('MI_ERR_SANDBOX_STOP', `network namespaces left: ${failed.join('; ')}; delete them with \`ip netns del NAME\``);
  }
}
