/**
 * Where each part of a multi-host stack runs, as data: per server its roles, the address the app
 * reaches MariaDB and Redis at, and who may connect to them. A one-server stack is one placement with
 * every role and everything on loopback, which renders exactly what a single VPS always had. Pure.
 */
import type { HostsConfig, ServerConfig, StackConfig } from '../config/schema.js';
import { ConfigError } from '../errors/index.js';

export type Role = 'edge' | 'app' | 'db';

export interface Placement {
  /** The server's name in the stack (`target` for a one-server stack). */
  name: string;
  roles: ReadonlySet<Role>;
  /** Where this server's app reaches MariaDB and Redis: 127.0.0.1 when the db is here. */
  dbAddress: string;
  /** Private addresses of the app servers MariaDB and Redis serve besides loopback (none: loopback only). */
  dbClients: readonly string[];
  /** This server's address on the private network; null for one server. */
  privateAddress: string | null;
  /** An app server behind the edge: the edge's private address (the only one it serves). */
  edgeAddress: string | null;
  /** On the edge: the other app servers by name and private address, which it balances over. */
  appPeers: readonly { name: string; address: string }[];
}

export const ALL_ROLES: ReadonlySet<Role> = new Set(['edge', 'app', 'db']);
const LOOPBACK = '127.0.0.1';

/** The one server of a stack without `hosts`. */
export const SINGLE_HOST: Placement = { name: 'target', roles: ALL_ROLES, dbAddress: LOOPBACK, dbClients: [], privateAddress: null, edgeAddress: null, appPeers: [] };

function privateOf(servers: Record<string, ServerConfig>, name: string): string {
  const at = servers[name]?.privateAddress;
  if (at === undefined) throw new ConfigError(`stack.servers.${name}.privateAddress`, 'is required: the address the other servers reach it at, like 10.0.0.2');
  return at;
}

/**
 * Every server's placement in the order `up` converges them: the db server (what the others depend
 * on), the edge (whose JWT secret the other app servers share), then the rest in the stack's order.
 */
export function placementsOf(stack: Pick<StackConfig, 'servers' | 'hosts'>): Placement[] {
  const { servers, hosts } = stack;
  if (!servers || !hosts) return [SINGLE_HOST];
  const names = Object.keys(servers);
  const order = [...new Set([hosts.db, hosts.edge, ...names])];
  return order.map((name) => placementOf(servers, hosts, name));
}

function placementOf(servers: Record<string, ServerConfig>, hosts: HostsConfig, name: string): Placement {
  const roles = new Set<Role>();
  if (hosts.edge === name) roles.add('edge');
  if (hosts.app.includes(name)) roles.add('app');
  if (hosts.db === name) roles.add('db');
  const alone = Object.keys(servers).length === 1;
  const dbHere = roles.has('db');
  const remoteApps = hosts.app.filter((a) => a !== hosts.db);
  const behindEdge = roles.has('app') && !roles.has('edge');
  return {
    name,
    roles,
    dbAddress: dbHere || alone ? LOOPBACK : privateOf(servers, hosts.db),
    dbClients: dbHere && !alone ? remoteApps.map((a) => privateOf(servers, a)) : [],
    privateAddress: alone ? null : privateOf(servers, name),
    edgeAddress: behindEdge ? privateOf(servers, hosts.edge) : null,
    appPeers: roles.has('edge') ? hosts.app.filter((a) => a !== name).map((a) => ({ name: a, address: privateOf(servers, a) })) : [],
  };
}
