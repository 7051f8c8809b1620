import type { Command } from 'commander';
import { deriveSizing, type Sizing } from '../../src/core/sizing.js';
import { TIER_NAMES, TIERS, type Tier } from '../../src/core/tiers.js';
import { runAction } from '../run-action.js';

/**
 * `messenger-infra tiers [--json]`: the three tiers, every setting derived from them and each tier's
 * memory budget. The JSON has a fixed shape and key order, for scripts.
 */

export interface TierReport {
  name: Tier['name'];
  ramMb: number;
  vcpu: { min: number; max: number };
  diskGb: number;
  meantFor: string;
  sizing: Omit<Sizing, 'tier' | 'budget'>;
  budget: Sizing['budget'];
}

export function tiersReport(): { tiers: TierReport[] } {
  return {
    tiers: TIER_NAMES.map((name) => {
      const tier = TIERS[name];
      const s = deriveSizing(name);
      return {
        name,
        ramMb: tier.ramMb,
        vcpu: { min: tier.vcpu.min, max: tier.vcpu.max },
        diskGb: tier.diskGb,
        meantFor: tier.meantFor,
        sizing: { osReserveMb: s.osReserveMb, mariadb: s.mariadb, nginx: s.nginx, app: s.app, redis: s.redis, swapMb: s.swapMb },
        budget: s.budget,
      };
    }),
  };
}

/** Columns two spaces apart; `align` per column, 'l' (default) or 'r'. */
function table(rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (align[i] === 'r' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

const gb = (mb: number) => `${mb / 1024} GB`;
const vcpu = (t: Tier) => (t.vcpu.min === t.vcpu.max ? `${t.vcpu.min}` : `${t.vcpu.min}-${t.vcpu.max}`);

export function formatTiers(): string {
  const sizings = TIER_NAMES.map((name) => deriveSizing(name));
  const row = (label: string, cell: (s: Sizing) => string) => [label, ...sizings.map(cell)];
  const out: string[] = [];
  out.push(
    table([
      ['tier', 'RAM', 'vCPU', 'disk', 'meant for'],
      ...TIER_NAMES.map((n) => [n, gb(TIERS[n].ramMb), vcpu(TIERS[n]), `${TIERS[n].diskGb} GB`, TIERS[n].meantFor]),
    ], ['l', 'r', 'r', 'r', 'l']),
  );
  out.push('');
  out.push('Derived settings (sized for the smallest vCPU count of each tier)');
  out.push(
    table([
      ['', ...TIER_NAMES],
      row('nginx worker_processes', (s) => `${s.nginx.workerProcesses}`),
      row('nginx worker_connections', (s) => `${s.nginx.workerConnections}`),
      row('nginx worker_rlimit_nofile', (s) => `${s.nginx.workerRlimitNofile}`),
      row('WebSocket clients sized for', (s) => `${s.nginx.clients}`),
      row('chat server instances', (s) => `${s.app.instances}`),
      row('chat MemoryMax per instance', (s) => `${s.app.memoryMaxMb} MB`),
      row('chat --max-old-space-size', (s) => `${s.app.heapMb} MB`),
      row('chat LimitNOFILE', (s) => `${s.app.limitNofile}`),
      row('chat DB pool per instance', (s) => `${s.app.dbPoolSize}`),
      row('innodb_buffer_pool_size', (s) => `${s.mariadb.innodbBufferPoolMb} MB`),
      row('innodb_log_file_size', (s) => `${s.mariadb.innodbLogFileMb} MB`),
      row('max_connections', (s) => `${s.mariadb.maxConnections}`),
      row('tmp_table_size / max_heap', (s) => `${s.mariadb.tmpTableMb} MB`),
      row('table_open_cache', (s) => `${s.mariadb.tableOpenCache}`),
      row('redis (instance bus)', (s) => (s.redis.enabled ? `${s.redis.maxmemoryMb} MB` : 'off')),
      row('swap', (s) => `${s.swapMb} MB`),
    ], ['l', 'r', 'r', 'r']),
  );
  for (const s of sizings) {
    const b = s.budget;
    out.push('');
    out.push(`Memory budget: ${s.tier.name} (${b.ramMb} MB RAM)`);
    const pct = (mb: number) => `${((mb / b.ramMb) * 100).toFixed(1)}%`;
    out.push(
      table(
        [
          ...b.lines.map((l) => [`  ${l.name}`, `${l.mb} MB`, pct(l.mb)]),
          ['  total', `${b.usedMb} MB`, pct(b.usedMb)],
          ['  headroom (page cache, peaks)', `${b.headroomMb} MB`, `${b.headroomPct.toFixed(1)}%`],
        ],
        ['l', 'r', 'r'],
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('tiers')
    .description('show the server tiers, the settings derived from each and its memory budget')
    .option('--json', 'print machine-readable JSON')
    .action(
      runAction((opts: { json?: boolean }) => {
        process.stdout.write(opts.json ? `${JSON.stringify(tiersReport(), null, 2)}\n` : formatTiers());
      }),
    );
}
