import { bundledInstances, getTier, type Tier, type TierName } from './tiers.js';

/**
 * Every sizing setting of a host, derived from its tier in this one file. The rules are written as
 * plain arithmetic on the tier's RAM and vCPU so that anyone can read and change them; the memory
 * budget at the end is what `messenger-infra tiers` prints and what the tests hold under the RAM.
 */
export interface MariaDbSizing {
  innodbBufferPoolMb: number;
  innodbLogFileMb: number;
  maxConnections: number;
  tmpTableMb: number;
  maxHeapTableMb: number;
  tableOpenCache: number;
  sortBufferKb: number;
  joinBufferKb: number;
  readBufferKb: number;
  readRndBufferKb: number;
  threadStackKb: number;
  ariaPagecacheMb: number;
  keyBufferMb: number;
  /** Worst case of the per-connection buffers, summed. */
  perConnectionKb: number;
  totalMb: number;
}

export interface NginxSizing {
  workerProcesses: number;
  workerConnections: number;
  workerRlimitNofile: number;
  /** Concurrent WebSocket clients the proxy is sized for (each uses two connections). */
  clients: number;
  totalMb: number;
}

export interface AppSizing {
  instances: number;
  /** systemd MemoryMax per instance. */
  memoryMaxMb: number;
  /** Node's --max-old-space-size per instance. */
  heapMb: number;
  /** Node's --max-semi-space-size per instance (the bundled server). */
  semiSpaceMb: number;
  limitNofile: number;
  dbPoolSize: number;
  totalMb: number;
}

/** The Redis of the instance bus: pub/sub only, so its memory is client buffers, never stored keys. */
export interface RedisSizing {
  /** On for the bundled server (stack.redis.enabled can turn it off) and a user's app of several instances. */
  enabled: boolean;
  maxmemoryMb: number;
  /** A subscriber further behind than this is cut off (it reconnects and reads the rest from the database). */
  pubsubBufferMb: number;
  /** maxmemory, the server, and each subscriber's buffer at its limit (two per instance of both slots). */
  totalMb: number;
}

export interface BudgetLine {
  name: string;
  mb: number;
}

export interface Sizing {
  tier: Tier;
  osReserveMb: number;
  mariadb: MariaDbSizing;
  nginx: NginxSizing;
  app: AppSizing;
  redis: RedisSizing;
  swapMb: number;
  budget: { ramMb: number; lines: BudgetLine[]; usedMb: number; headroomMb: number; headroomPct: number };
}

/** Rounds down to a multiple of `step`, never below `step`. */
function floorTo(value: number, step: number): number {
  return Math.max(step, Math.floor(value / step) * step);
}

function ceilTo(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/** Budget lines must leave at least this share of RAM for page cache, peaks and the unexpected. */
export const MIN_HEADROOM_PCT = 10;

export function deriveSizing(tierName: TierName, opts: { redis?: boolean } = {}): Sizing {
  const tier = getTier(tierName);
  const ram = tier.ramMb;
  const cpus = tier.vcpu.min;

  // The OS, sshd, journald, certbot runs: a fixed floor plus a little per GB.
  const osReserveMb = 256 + ram / 32;

  const instances = bundledInstances(tierName);
  const appShareMb = ram * 0.4;
  const memoryMaxMb = floorTo(appShareMb / instances, 64);
  // The V8 old space gets three quarters; the rest is for sockets' buffers, code and new space.
  const heapMb = floorTo(memoryMaxMb * 0.75, 16);
  // The new space is outside --max-old-space-size. Unbounded, V8 grew it to two 64 MB semi-spaces
  // under the 10,000-connection soak, two thirds of what MemoryMax leaves beside the old space on mvp;
  // at 16 MB the server's RSS there was 197 MB instead of 279, with shorter scavenges (4 ms, not 11)
  // and the same p99.
  const semiSpaceMb = 16;
  const dbPoolSize = Math.max(10, Math.round((10 * cpus) / instances));
  const app: AppSizing = {
    instances,
    memoryMaxMb,
    heapMb,
    semiSpaceMb,
    limitNofile: 65536,
    dbPoolSize,
    totalMb: memoryMaxMb * instances,
  };

  // nginx: sized for ~5 clients per MB of RAM; every proxied WebSocket holds two connections.
  const clients = ram * 5;
  const workerProcesses = cpus;
  // reuseport spreads connections over the workers by a hash, not exactly evenly: a quarter more
  // than an even share, so the busiest worker still holds its part.
  const workerConnections = ceilTo(((clients * 2) / workerProcesses) * 1.25, 1024);
  const nginx: NginxSizing = {
    workerProcesses,
    workerConnections,
    workerRlimitNofile: workerConnections * 2,
    clients,
    // ~8 MB per worker plus ~10 KB of buffers per proxied client.
    totalMb: Math.ceil(workerProcesses * 8 + (clients * 10) / 1024),
  };

  // MariaDB: chat history is small and hot, so an eighth of RAM for the buffer pool is plenty.
  const innodbBufferPoolMb = floorTo(ram / 8, 64);
  const maxConnections = app.instances * app.dbPoolSize + 20;
  const sortBufferKb = 2048;
  const joinBufferKb = 256;
  const readBufferKb = 128;
  const readRndBufferKb = 256;
  const threadStackKb = 292;
  const perConnectionKb = sortBufferKb + joinBufferKb + readBufferKb + readRndBufferKb + threadStackKb + 16;
  const tmpTableMb = ram <= 2048 ? 32 : 64;
  const ariaPagecacheMb = 16;
  const keyBufferMb = 8;
  const innodbLogFileMb = floorTo(innodbBufferPoolMb / 4, 32);
  // Buffer pool + ~10% InnoDB overhead + 64 MB server base + caches + worst-case connections + two
  // in-memory temp tables at once.
  const mariadbTotal = Math.ceil(
    innodbBufferPoolMb * 1.1 + 64 + ariaPagecacheMb + keyBufferMb + (maxConnections * perConnectionKb) / 1024 + 2 * tmpTableMb,
  );
  const mariadb: MariaDbSizing = {
    innodbBufferPoolMb,
    innodbLogFileMb,
    maxConnections,
    tmpTableMb,
    maxHeapTableMb: tmpTableMb,
    tableOpenCache: 400 + maxConnections * 4,
    sortBufferKb,
    joinBufferKb,
    readBufferKb,
    readRndBufferKb,
    threadStackKb,
    ariaPagecacheMb,
    keyBufferMb,
    perConnectionKb,
    totalMb: mariadbTotal,
  };

  // Redis, the bus of the instances (and of both releases during a deploy): the seed budgets 50-100
  // MB. maxmemory caps the keys a user's app may keep (noeviction: refused, never dropped); pub/sub
  // memory is the subscribers' output buffers, which maxmemory does not cap, so each is bounded
  // (a subscriber that far behind is cut off and reads the rest from the database) and budgeted at
  // its bound: one per instance of both slots. The server itself needs about 16 MB.
  const redisMaxMb = floorTo(ram / 64, 32);
  const pubsubBufferMb = 8;
  const redis: RedisSizing = {
    enabled: opts.redis ?? true,
    maxmemoryMb: redisMaxMb,
    pubsubBufferMb,
    totalMb: redisMaxMb + 16 + pubsubBufferMb * 2 * instances,
  };

  // Swap catches peaks instead of the OOM killer; 2 GB at most, since a host living in swap is down anyway.
  const swapMb = Math.min(ram, 2048);

  const lines: BudgetLine[] = [
    { name: 'os', mb: Math.ceil(osReserveMb) },
    { name: 'mariadb', mb: mariadb.totalMb },
    { name: 'nginx', mb: nginx.totalMb },
    { name: `chat server (${app.instances} x ${app.memoryMaxMb} MB)`, mb: app.totalMb },
    ...(redis.enabled ? [{ name: `redis (maxmemory ${redis.maxmemoryMb} MB)`, mb: redis.totalMb }] : []),
  ];
  const usedMb = lines.reduce((sum, line) => sum + line.mb, 0);
  const headroomMb = ram - usedMb;
  return {
    tier,
    osReserveMb,
    mariadb,
    nginx,
    app,
    redis,
    swapMb,
    budget: { ramMb: ram, lines, usedMb, headroomMb, headroomPct: Math.round((headroomMb / ram) * 1000) / 10 },
  };
}
