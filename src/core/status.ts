import { ALL_ROLES } from './topology.js';
import type { TierName } from './tiers.js';
import { factValue, linkFact, queryFact, type Fact, type FactValues } from './facts.js';
import type { StackConfig } from '../config/schema.js';
import { appPortsOf, HOST_PATHS, type HostModel } from './host-model.js';
import { appUnit, NGINX_STATUS_PORT } from './render.js';
import { liveUpstreamFact, MANIFEST_FILE, upstreamPorts } from './release.js';

/**
 * What runs on a host, read in the one round trip `status` makes: services with their state and
 * since when, the live release, the app's connections and traffic (its loopback /metrics), the
 * certificate and its renewal, disk and memory against the tier's budget. Pure: facts in, report out;
 * `ok` is false when something that should run is down.
 */
export interface ServiceStatus {
  name: string;
  unit: string;
  /** systemd ActiveState: active, failed, inactive, activating, ... */
  state: string;
  sub: string;
  /** When it entered the active state (ISO 8601), if it did. */
  since: string | null;
}

export interface StatusReport {
  type: 'status';
  host: string;
  os: string;
  tier: TierName;
  uptimeSeconds: number;
  services: ServiceStatus[];
  release: { id: string | null; version: string | null };
  app: { instances: number; scraped: number; connections: number | null; messagesIn: number | null; messagesLastMinute: number | null };
  nginx: { activeConnections: number | null };
  certificate: { domain: string; notAfter: string | null; daysLeft: number | null; nextRenewal: string | null; lastRenewalRun: string | null };
  disk: { path: string; usedMb: number; totalMb: number; usedPct: number; tierDiskMb: number };
  memory: { usedMb: number; totalMb: number; tierRamMb: number; budgetUsedMb: number; swapUsedMb: number };
  problems: string[];
  ok: boolean;
}

const uptimeFact = queryFact('uptime', ['uptime']);
const memoryFact = queryFact('memory', ['memory']);
const diskFact = queryFact('disk:/', ['disk', '/']);
const timerFact = queryFact('timer:certbot.timer', ['timer', 'certbot.timer']);
const currentFact = linkFact(HOST_PATHS.appCurrent);
const manifestFact = queryFact('release-manifest', ['read', `${HOST_PATHS.appCurrent}/${MANIFEST_FILE}`]);
const nginxStatusFact = queryFact('nginx-status', ['http', `http://127.0.0.1:${NGINX_STATUS_PORT}/nginx_status`]);
const certEndFact = (domain: string) => queryFact(`cert-end:${domain}`, ['cert-end', domain]);
const serviceFact = (unit: string) => queryFact(`service:${unit}`, ['service', unit]);
const metricsFact = (port: number) => queryFact(`metrics:${port}`, ['http', `http://127.0.0.1:${port}/metrics`]);

/**
 * The services of a host: always nginx and MariaDB, each instance of the live release, Redis when the
 * stack runs it (else when installed). The other slot's instances are listed only while they run (a
 * release draining).
 */
/** `loaded`: listed once installed; `active`: listed only while it runs (never a problem when down). */
type Listed = 'always' | 'loaded' | 'active';

/** What this server runs: nginx where the app is served, MariaDB (and Redis) on the db server; on one server, all. */
function services(ports: readonly number[], live: readonly number[], redis: boolean, roles: ReadonlySet<string>): Array<{ name: string; unit: string; listed: Listed }> {
  const db = roles.has('db');
  return [
    ...(roles.has('edge') || roles.has('app') ? [{ name: 'nginx', unit: 'nginx.service', listed: 'always' as const }] : []),
    ...(db ? [{ name: 'mariadb', unit: 'mariadb.service', listed: 'always' as const }] : []),
    ...ports.map((port) => ({ name: `app:${port}`, unit: appUnit(port), listed: live.includes(port) ? ('always' as const) : ('active' as const) })),
    ...(db ? [{ name: 'redis', unit: 'redis-server.service', listed: redis ? ('always' as const) : ('loaded' as const) }] : []),
  ];
}

/** The live release's ports: what nginx's upstream names (the first slot before any release). */
function livePortsOf(facts: FactValues, model: HostModel): number[] {
  const ports = upstreamPorts(factValue(facts, liveUpstreamFact).content);
  return ports.length > 0 ? ports : model.app.slots[0];
}

/** Every fact `status` reads; they follow from the stack alone, so they go in the first round trip. */
export function statusFacts(stack: StackConfig): Fact[] {
  const ports = appPortsOf(stack);
  return [
    uptimeFact,
    memoryFact,
    diskFact,
    timerFact,
    currentFact,
    manifestFact,
    nginxStatusFact,
    liveUpstreamFact,
    certEndFact(stack.domain),
    // Every unit a server of any role may run: one batch of facts whatever this one is.
    ...services(ports, [], false, ALL_ROLES).map((s) => serviceFact(s.unit)),
    ...ports.map(metricsFact),
  ];
}

/** `Key=Value` lines of `systemctl show`. */
function showProps(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').flatMap((l) => (l.includes('=') ? [[l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]] : [])));
}

/** systemd's "Tue 2026-12-01 10:00:00 UTC" as ISO 8601; null for an empty or unparsable value. */
export function systemdTime(value: string | undefined): string | null {
  const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (\S+)$/.exec(value ?? '');
  if (!m) return null;
  const date = new Date(`${m[1]}T${m[2]}${m[3] === 'UTC' ? 'Z' : ''}`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The sum of a Prometheus sample over all its label sets, or null when absent. */
export function metricSum(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

function meminfoMb(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

const DAY_MS = 86_400_000;

export function buildStatus(facts: FactValues, model: HostModel, host: { label: string; os: string }, now = Date.now()): StatusReport {
  const problems: string[] = [];
  const serviceList: ServiceStatus[] = [];
  const live = livePortsOf(facts, model);
  for (const s of services(model.appPorts, live, model.sizing.redis.enabled, model.placement.roles)) {
    const props = showProps(factValue(facts, serviceFact(s.unit)).stdout);
    if (s.listed !== 'always' && props.LoadState !== 'loaded') continue;
    if (s.listed === 'active' && props.ActiveState !== 'active') continue;
    const state = props.ActiveState ?? 'unknown';
    serviceList.push({ name: s.name, unit: s.unit, state, sub: props.SubState ?? '', since: systemdTime(props.ActiveEnterTimestamp) });
    if (state !== 'active') problems.push(`${s.unit} is ${state}${props.SubState ? ` (${props.SubState})` : ''}`);
  }

  const current = factValue(facts, currentFact).target;
  let version: string | null = null;
  try {
    version = (JSON.parse(factValue(facts, manifestFact).stdout) as { version?: string }).version ?? null;
  } catch {
    // no release yet, or not ours
  }

  // Only the bundled server has /metrics; a user's app's instances are counted by their units.
  const scraped = model.app.kind === 'bundled' ? live : [];
  const scrapes = scraped.map((p) => factValue(facts, metricsFact(p))).filter((r) => r.code === 0).map((r) => r.stdout);
  const sum = (name: string) => (scrapes.length === 0 ? null : scrapes.reduce((acc, text) => acc + (metricSum(text, name) ?? 0), 0));
  if (scrapes.length < scraped.length) problems.push(`${scraped.length - scrapes.length} of ${scraped.length} app instance(s) did not answer /metrics on loopback`);
  // An instance off the Redis bus still serves, but only its own clients hear its messages.
  const offBus = scraped.filter((p) => {
    const r = factValue(facts, metricsFact(p));
    return r.code === 0 && metricSum(r.stdout, 'messenger_bus_up') === 0;
  });
  if (offBus.length > 0) {
    problems.push(`app instance(s) on port ${offBus.join(', ')} cannot reach Redis: each delivers only its own clients' messages until it is back (MI_WARN_BUS_DOWN; see journalctl -u redis-server)`);
  }

  const nginxStatus = factValue(facts, nginxStatusFact);
  const active = /Active connections:\s*(\d+)/.exec(nginxStatus.stdout);

  const end = /notAfter=(.*)$/m.exec(factValue(facts, certEndFact(model.stack.domain)).stdout)?.[1];
  const notAfter = end && !Number.isNaN(Date.parse(end)) ? new Date(end).toISOString() : null;
  const daysLeft = notAfter ? Math.floor((Date.parse(notAfter) - now) / DAY_MS) : null;
  if (notAfter === null) problems.push(`no certificate for ${model.stack.domain}`);
  else if (daysLeft !== null && daysLeft < 7) problems.push(`the certificate for ${model.stack.domain} expires in ${daysLeft} day(s)`);
  const timer = showProps(factValue(facts, timerFact).stdout);

  const [, totalK = '0', usedK = '0'] = factValue(facts, diskFact).stdout.trim().split(/\s+/);
  const totalMb = Math.round(Number(totalK) / 1024);
  const usedMb = Math.round(Number(usedK) / 1024);
  const usedPct = totalMb > 0 ? Math.round((usedMb / totalMb) * 1000) / 10 : 0;
  if (usedPct >= 90) problems.push(`the disk is ${usedPct}% full`);

  const meminfo = factValue(facts, memoryFact).stdout;
  const memTotal = meminfoMb(meminfo, 'MemTotal');

  const report: Omit<StatusReport, 'ok'> = {
    type: 'status',
    host: host.label,
    os: host.os,
    tier: model.sizing.tier.name,
    uptimeSeconds: Math.round(Number(factValue(facts, uptimeFact).stdout) || 0),
    services: serviceList,
    release: { id: current ? current.split('/').pop() ?? null : null, version },
    app: {
      instances: live.length,
      scraped: scrapes.length,
      connections: sum('messenger_connections'),
      messagesIn: sum('messenger_messages_in_total'),
      messagesLastMinute: sum('messenger_messages_last_minute'),
    },
    nginx: { activeConnections: active ? Number(active[1]) : null },
    certificate: {
      domain: model.stack.domain,
      notAfter,
      daysLeft,
      nextRenewal: systemdTime(timer.NextElapseUSecRealtime),
      lastRenewalRun: systemdTime(timer.LastTriggerUSec),
    },
    disk: { path: '/', usedMb, totalMb, usedPct, tierDiskMb: model.sizing.tier.diskGb * 1024 },
    memory: {
      usedMb: memTotal - meminfoMb(meminfo, 'MemAvailable'),
      totalMb: memTotal,
      tierRamMb: model.sizing.tier.ramMb,
      budgetUsedMb: model.sizing.budget.usedMb,
      swapUsedMb: meminfoMb(meminfo, 'SwapTotal') - meminfoMb(meminfo, 'SwapFree'),
    },
    problems,
  };
  return { ...report, ok: problems.length === 0 };
}
