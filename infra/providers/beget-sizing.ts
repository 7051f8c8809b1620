import { InfraError, configError } from '../errors.js';
import type { ConfigurationGroup, ConfigurationParams, ConfiguratorAxis, ConfiguratorInfo, VpsConfiguration } from './beget-models.js';

/**
 * Tier size → Beget's `memory` / `disk_size`, which the spec types as bare uint32 with no unit.
 * The unit is read from the plans `GET /v1/vps/configuration` lists instead of assumed: Beget's
 * smallest plans have 1 GiB of RAM and a 10 GiB disk (1024 / 10240 in MiB, 1 / 10 in GiB; Beget's
 * own Terraform docs write `ram_mb = 1024`, `disk_mb = 10240`), so the smallest listed size tells
 * the unit. State keeps MiB (the tier's unit); conversion happens only at the API boundary.
 */
export type SizeUnit = 'MiB' | 'GiB';

export interface BegetUnits {
  memory: SizeUnit;
  disk: SizeUnit;
}

/** The tier's size, always in MiB, as the provider's inputs hold it. */
export interface SizeMb {
  cpuCount: number;
  memoryMb: number;
  diskMb: number;
}

/** Smallest listed size at or above `mib` reads as MiB, at or below `gib` as GiB; in between is ambiguous. */
const BOUNDS = { memory: { mib: 256, gib: 64 }, disk: { mib: 1024, gib: 512 } } as const;

function unitOf(sizes: number[], bounds: { mib: number; gib: number }): SizeUnit | undefined {
  if (sizes.length === 0) return undefined;
  const smallest = Math.min(...sizes);
  if (smallest >= bounds.mib) return 'MiB';
  if (smallest <= bounds.gib) return 'GiB';
  return undefined;
}

export function deriveUnits(plans: VpsConfiguration[]): BegetUnits {
  const sized = (key: 'memory' | 'disk_size') => plans.map((p) => p[key]).filter((v): v is number => typeof v === 'number' && v > 0);
  const memory = unitOf(sized('memory'), BOUNDS.memory);
  const disk = unitOf(sized('disk_size'), BOUNDS.disk);
  if (!memory || !disk) {
    const listed = plans.filter((p) => p.memory || p.disk_size).map((p) => `${p.id ?? '?'}: memory ${p.memory}, disk_size ${p.disk_size}`);
    throw new InfraError(
      'MI_ERR_BEGET_UNITS',
      `cannot tell whether Beget sizes are MiB or GiB from GET /v1/vps/configuration (${listed.join('; ') || 'no sized plans listed'}); nothing was created`,
    );
  }
  return { memory, disk };
}

const toUnit = (mb: number, unit: SizeUnit): number => (unit === 'MiB' ? mb : Math.ceil(mb / 1024));
export const toMb = (value: number, unit: SizeUnit): number => (unit === 'MiB' ? value : value * 1024);

export function toApiParams(size: SizeMb, units: BegetUnits): ConfigurationParams {
  return { cpu_count: size.cpuCount, memory: toUnit(size.memoryMb, units.memory), disk_size: toUnit(size.diskMb, units.disk) };
}

/** The configuration group (CPU line) to use: the configured one, which must be listed, else the first listed. */
export function chooseGroup(groups: ConfigurationGroup[], wanted: string | undefined): string | undefined {
  const listed = groups.map((g) => g.group).filter((g): g is string => !!g);
  if (wanted === undefined) return listed[0];
  if (listed.length > 0 && !listed.includes(wanted)) {
    throw configError('begetConfigurationGroup', `Beget lists no configuration group "${wanted}" (listed: ${listed.join(', ')})`, `pulumi config set begetConfigurationGroup ${listed[0]}`);
  }
  return wanted;
}

/** A ready-made, available plan of exactly this size in the region and group. */
export function findPlan(plans: VpsConfiguration[], want: ConfigurationParams, region: string | undefined, group: string | undefined): VpsConfiguration | undefined {
  return plans.find(
    (p) =>
      !!p.id &&
      p.available !== false &&
      p.custom !== true &&
      (!region || !p.region || p.region === region) &&
      (!group || !p.group || p.group === group) &&
      p.cpu_count === want.cpu_count &&
      p.memory === want.memory &&
      p.disk_size === want.disk_size,
  );
}

function axisProblem(label: string, value: number, axis: ConfiguratorAxis | undefined): string | undefined {
  if (!axis) return undefined;
  // proto3 JSON drops zero values: a missing min is 0; available_range counts only when it has a max.
  const range = axis.available_range?.max !== undefined ? axis.available_range : axis.range;
  const min = range?.min ?? 0;
  const max = range?.max;
  if (value < min || (max !== undefined && value > max)) return `${label} ${value} is outside ${min}-${max ?? '∞'}`;
  if (axis.step && (value - min) % axis.step !== 0) return `${label} ${value} is not ${min} plus a multiple of ${axis.step}`;
  return undefined;
}

/** Checks a custom size against GET /v1/vps/configurator/info; MI_ERR_BEGET_CONFIGURATION names each problem. */
export function checkConfigurator(info: ConfiguratorInfo, want: ConfigurationParams, units: BegetUnits, where: string): void {
  const s = info.settings ?? {};
  const problems = [
    info.is_available === false ? 'custom sizes are not available' : undefined,
    axisProblem('cpu_count', want.cpu_count, s.cpu_settings),
    axisProblem(`memory (${units.memory})`, want.memory, s.memory_settings),
    axisProblem(`disk_size (${units.disk})`, want.disk_size, s.disk_settings),
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw new InfraError('MI_ERR_BEGET_CONFIGURATION', `Beget's configurator (${where}) refuses the tier's size: ${problems.join('; ')}; fix: choose another tier, region or begetConfigurationGroup`);
  }
}

/**
 * Beget grows disks but does not shrink them (its own Terraform provider recreates the server
 * instead). Here a smaller disk is refused: a silent replacement would lose the chat's data.
 */
export function refuseDiskShrink(currentMb: number, wantedMb: number): void {
  if (wantedMb >= currentMb) return;
  throw new InfraError(
    'MI_ERR_BEGET_DISK_SHRINK',
    `Beget cannot shrink a server's disk: it has ${currentMb / 1024} GiB, the tier asks for ${wantedMb / 1024} GiB; fix: keep a tier with at least ${currentMb / 1024} GiB of disk, or \`messenger-infra destroy\` and create the server again (its data is lost)`,
  );
}
