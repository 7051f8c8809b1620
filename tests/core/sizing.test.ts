import { describe, expect, it } from 'vitest';
import { MIN_HEADROOM_PCT, deriveSizing } from '../../src/core/sizing.js';
import { TIERS, TIER_NAMES } from '../../src/core/tiers.js';

/** The memory budget of every tier adds up, under its RAM, and bigger tiers get more of everything. */
describe.each(TIER_NAMES)('sizing of the %s tier', (tier) => {
  const s = deriveSizing(tier);

  it('the budget stays under the RAM with the minimum headroom', () => {
    const sum = s.budget.lines.reduce((acc, l) => acc + l.mb, 0);
    expect(s.budget.usedMb).toBe(sum);
    expect(s.budget.ramMb).toBe(TIERS[tier].ramMb);
    expect(s.budget.headroomMb).toBe(s.budget.ramMb - sum);
    expect(s.budget.headroomPct).toBeGreaterThanOrEqual(MIN_HEADROOM_PCT);
    expect(sum).toBeLessThan(s.budget.ramMb);
    for (const line of s.budget.lines) expect(line.mb, line.name).toBeGreaterThan(0);
  });

  it('the budget lines are the services the host runs', () => {
    expect(s.budget.lines.map((l) => l.name.split(' ')[0])).toEqual(['os', 'mariadb', 'nginx', 'chat', 'redis']);
    // Redis: maxmemory, the server, and a subscriber buffer at its bound per instance of both slots.
    expect(s.budget.lines.find((l) => l.name.startsWith('redis'))?.mb).toBe(s.redis.maxmemoryMb + 16 + s.redis.pubsubBufferMb * 2 * s.app.instances);
    expect(s.budget.lines.find((l) => l.name === 'mariadb')?.mb).toBe(s.mariadb.totalMb);
    expect(s.budget.lines.find((l) => l.name.startsWith('chat'))?.mb).toBe(s.app.instances * s.app.memoryMaxMb);
  });

  it('the parts are consistent with each other', () => {
    // MariaDB's worst case covers the buffer pool and every allowed connection's buffers.
    expect(s.mariadb.totalMb).toBeGreaterThan(s.mariadb.innodbBufferPoolMb + (s.mariadb.maxConnections * s.mariadb.perConnectionKb) / 1024);
    // Every chat server pool fits into max_connections, with room for an admin session.
    expect(s.mariadb.maxConnections).toBeGreaterThan(s.app.instances * s.app.dbPoolSize);
    expect(s.mariadb.maxHeapTableMb).toBe(s.mariadb.tmpTableMb);
    // nginx: two connections per proxied client, and descriptors for all of them.
    expect(s.nginx.workerProcesses * s.nginx.workerConnections).toBeGreaterThanOrEqual(2 * s.nginx.clients);
    expect(s.nginx.workerRlimitNofile).toBeGreaterThanOrEqual(s.nginx.workerConnections);
    // Node's heap fits inside the unit's MemoryMax, leaving room for buffers and code.
    expect(s.app.heapMb).toBeLessThanOrEqual(s.app.memoryMaxMb * 0.8);
    expect(s.app.limitNofile).toBeGreaterThan(s.nginx.clients / s.app.instances);
    // Leave a core for nginx and MariaDB.
    expect(s.app.instances).toBe(Math.max(1, TIERS[tier].vcpu.min - 1));
    // The buffer pool is a multiple of InnoDB's 128 MB chunk or below it (so MariaDB keeps it as given).
    expect(s.mariadb.innodbBufferPoolMb % 128 === 0 || s.mariadb.innodbBufferPoolMb < 128).toBe(true);
    expect(s.swapMb).toBeGreaterThan(0);
    expect(s.swapMb).toBeLessThanOrEqual(2048);
  });
});

describe('bigger tiers get more', () => {
  // Per-instance values may shrink when the server is split over more instances; totals never do.
  const totals = TIER_NAMES.map((tier) => {
    const s = deriveSizing(tier);
    return {
      tier,
      ram: s.budget.ramMb,
      bufferPool: s.mariadb.innodbBufferPoolMb,
      redoLog: s.mariadb.innodbLogFileMb,
      maxConnections: s.mariadb.maxConnections,
      tmpTable: s.mariadb.tmpTableMb,
      mariadbTotal: s.mariadb.totalMb,
      nginxClients: s.nginx.clients,
      nginxConnections: s.nginx.workerProcesses * s.nginx.workerConnections,
      nginxWorkers: s.nginx.workerProcesses,
      appMemory: s.app.instances * s.app.memoryMaxMb,
      appHeap: s.app.instances * s.app.heapMb,
      appInstances: s.app.instances,
      dbPoolTotal: s.app.instances * s.app.dbPoolSize,
      osReserve: s.osReserveMb,
      headroom: s.budget.headroomMb,
    };
  });
  const keys = Object.keys(totals[0] ?? {}).filter((k) => k !== 'tier') as Array<keyof (typeof totals)[number]>;

  it.each(keys)('%s never decreases from mvp to growth to scale', (key) => {
    const values = totals.map((t) => t[key] as number);
    for (let i = 1; i < values.length; i++) expect(values[i], `${totals[i]?.tier} ${key}`).toBeGreaterThanOrEqual(values[i - 1] ?? 0);
    expect(values.at(-1)).toBeGreaterThan(values[0] ?? 0);
  });
});
