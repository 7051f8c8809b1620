/**
 * The three server tiers, as plain data. Every sizing setting is derived from these rows in
 * `sizing.ts`; change a tier here and every config the host gets follows.
 */
export const TIER_NAMES = ['mvp', 'growth', 'scale'] as const;
export type TierName = (typeof TIER_NAMES)[number];

export interface Tier {
  readonly name: TierName;
  /** RAM in MiB. */
  readonly ramMb: number;
  /** vCPU range offered by hosts for this tier; sizing uses `min` so it is safe on the smaller box. */
  readonly vcpu: { readonly min: number; readonly max: number };
  readonly diskGb: number;
  readonly meantFor: string;
}

export const TIERS: Readonly<Record<TierName, Tier>> = {
  mvp: {
    name: 'mvp',
    ramMb: 2048,
    vcpu: { min: 2, max: 2 },
    diskGb: 20,
    meantFor: 'start, 50-100 concurrent users (and far more in practice)',
  },
  growth: { name: 'growth', ramMb: 4096, vcpu: { min: 2, max: 4 }, diskGb: 40, meantFor: '100-500 users' },
  scale: { name: 'scale', ramMb: 8192, vcpu: { min: 4, max: 4 }, diskGb: 80, meantFor: '500+ users' },
};

export function isTierName(value: string): value is TierName {
  return (TIER_NAMES as readonly string[]).includes(value);
}

export function getTier(name: TierName): Tier {
  return TIERS[name];
}

/** Chat server instances on a tier: one Node process per spare core (one core stays for nginx and MariaDB). */
export function bundledInstances(name: TierName): number {
  return Math.max(1, TIERS[name].vcpu.min - 1);
}
