import { queryFact } from './facts.js';
import type { Sizing } from './sizing.js';

/**
 * What the host lets its services hold, read as a fact in the run's first round trip, and the tier's
 * sizing fitted to it. A tier promises N WebSocket clients; a host whose processes cannot open the
 * descriptors for them (a container's hard limit, a small nr_open) gets what it can hold, and `up`
 * and `plan` say so with the number instead of nginx failing with EMFILE under load. Pure.
 */
export interface HostLimits {
  /** PID 1's hard RLIMIT_NOFILE: what a service gets when nothing may raise it. */
  nofileHard: number;
  /** PID 1 holds CAP_SYS_RESOURCE: a service's limit may go up to nr_open. */
  mayRaise: boolean;
  nrOpen: number;
  fileMax: number;
  somaxconn: number;
  /** net.ipv4.ip_local_port_range: the source ports nginx's upstream connections draw from. */
  ports: [number, number];
}

export const limitsFact = queryFact('limits', ['limits']);

/** The `limits` fact; undefined when it could not be read (tier values are used then). */
export function parseLimits(stdout: string): HostLimits | undefined {
  const values = new Map(
    stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w.length >= 2)
      .map(([key = '', ...rest]) => [key, rest]),
  );
  const num = (key: string, i = 0) => {
    const raw = values.get(key)?.[i];
    if (raw === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  };
  const nofileHard = num('nofile-hard');
  const nrOpen = num('nr-open');
  const low = num('ports', 0);
  const high = num('ports', 1);
  if (nofileHard === undefined || nrOpen === undefined || low === undefined || high === undefined) return undefined;
  return {
    nofileHard,
    mayRaise: values.get('raise')?.[0] === 'yes',
    nrOpen,
    fileMax: num('file-max') ?? Number.MAX_SAFE_INTEGER,
    somaxconn: num('somaxconn') ?? 4096,
    ports: [low, high],
  };
}

/** The most descriptors one service process can hold on this host. */
export function maxNofile(limits: HostLimits): number {
  return limits.mayRaise ? limits.nrOpen : Math.min(limits.nofileHard, limits.nrOpen);
}

/** Descriptors a worker keeps for logs, files and listeners beside its connections. */
const SPARE_DESCRIPTORS = 1024;

export interface Capacity {
  /** WebSocket clients this host can hold through nginx and the app. */
  clients: number;
  /** What the tier is sized for. */
  planned: number;
  /** What binds when clients < planned, in words (for `up`, `plan` and their JSON). */
  limitedBy: string | null;
}

/**
 * The tier's sizing within the host's limits: nginx's worker_rlimit_nofile and worker_connections
 * and the app's LimitNOFILE no higher than a process may hold, and the clients that leaves room for.
 * Every proxied WebSocket costs nginx two connections (client and upstream) and the app one.
 */
export function fitToLimits(sizing: Sizing, limits: HostLimits | undefined): { sizing: Sizing; capacity: Capacity } {
  const planned = sizing.nginx.clients;
  if (limits === undefined) return { sizing, capacity: { clients: planned, planned, limitedBy: null } };
  const nofile = maxNofile(limits);
  const workerRlimitNofile = Math.min(sizing.nginx.workerRlimitNofile, nofile);
  const workerConnections = Math.min(sizing.nginx.workerConnections, Math.max(1024, workerRlimitNofile - SPARE_DESCRIPTORS));
  const limitNofile = Math.min(sizing.app.limitNofile, nofile);
  const fitted: Sizing = {
    ...sizing,
    nginx: { ...sizing.nginx, workerRlimitNofile, workerConnections },
    app: { ...sizing.app, limitNofile },
  };
  // Each bound on its own, so the message can name the one that binds.
  const bounds: Array<[number, string]> = [
    [planned, 'the tier'],
    [Math.floor((sizing.nginx.workerProcesses * workerConnections) / 2), `nginx: ${workerConnections} connections per worker (this host allows ${nofile} open files per process)`],
    [sizing.app.instances * (limitNofile - SPARE_DESCRIPTORS), `the app: ${limitNofile} open files per instance`],
    // nginx dials each instance from one address: one source port per upstream connection.
    [sizing.app.instances * (limits.ports[1] - limits.ports[0] + 1), `ephemeral ports ${limits.ports[0]}-${limits.ports[1]} per instance`],
    [Math.floor(limits.fileMax / 3), `fs.file-max ${limits.fileMax}`],
  ];
  const [clients, why] = bounds.reduce((min, b) => (b[0] < min[0] ? b : min));
  return { sizing: fitted, capacity: { clients, planned, limitedBy: clients < planned ? why : null } };
}

/** The line `up` and `plan` print when the host holds fewer clients than the tier plans. */
export function capacityWarning(capacity: Capacity, tier: string): string | null {
  if (capacity.limitedBy === null) return null;
  return `this host holds about ${capacity.clients} WebSocket clients, not the ${capacity.planned} the ${tier} tier plans: limited by ${capacity.limitedBy}`;
}
