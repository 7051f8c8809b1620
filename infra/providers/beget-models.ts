/**
 * The schemas of Beget's cloud-server API (LTD-Beget/openapi-vps-go api/openapi.yaml, v1.8.0) that
 * this project sends or reads, under the spec's names without the `Manage_`/`Structures_` prefixes.
 * Only the fields used are listed; tests/infra/fixtures/beget-openapi.yaml holds the full shapes,
 * and the tests check both the client's requests and the stand-in's replies against it.
 *
 * `memory` and `disk_size` are bare uint32 in the spec, unit unstated: see beget-sizing.ts.
 */

/** Manage_VpsInfo.status, in the spec's order (a test compares it with the fixture). */
export const BEGET_VPS_STATUSES = [
  'UNKNOWN',
  'CREATING',
  'RUNNING',
  'STOPPING',
  'RESTARTING',
  'REMOVING',
  'REMOVED',
  'STOPPED',
  'STARTING',
  'RECONFIGURING',
  'REINSTALLING',
] as const;
export type BegetVpsStatus = (typeof BEGET_VPS_STATUSES)[number];

/** Structures_ConfigurationParams, in the API's own units. */
export interface ConfigurationParams {
  cpu_count: number;
  memory: number;
  disk_size: number;
}

/** Manage_VpsConfiguration: a plan from GET /v1/vps/configuration, or a server's current size. */
export interface VpsConfiguration extends Partial<ConfigurationParams> {
  id?: string;
  name?: string;
  available?: boolean;
  custom?: boolean;
  configurable?: boolean;
  region?: string;
  /** The configuration group (CPU line, e.g. "normal_cpu"). */
  group?: string;
}

export interface ConfigurationGroup {
  name?: string;
  group?: string;
}

export interface SshKeyInfo {
  id: number;
  name?: string;
  fingerprint?: string;
}

export interface VpsInfo {
  id: string;
  hostname?: string;
  display_name?: string;
  status?: BegetVpsStatus;
  /** The public address; v1.8.0 declares no other place for it (network_interfaces is request-only). */
  ip_address?: string;
  additional_ip_address?: string[];
  /** Removed servers stay listed, archived, until Beget purges them (DELETE /v1/vps/archive/{id} restores). */
  archived?: boolean;
  region?: string;
  configuration?: VpsConfiguration;
}

export interface RegionInfo {
  id: string;
  available?: boolean;
}

/** Marketplace_SoftwareInfo: stock operating systems are marketplace software. */
export interface SoftwareInfo {
  id: number;
  name?: string;
  display_name?: string;
  version?: string;
  slug?: string;
  is_available?: boolean;
}

export interface ConfiguratorRange {
  min?: number;
  max?: number;
}

export interface ConfiguratorAxis {
  range?: ConfiguratorRange;
  available_range?: ConfiguratorRange;
  step?: number;
}

/** Configurator_GetConfiguratorInfoResponse: what custom sizes a region and configuration group accept. */
export interface ConfiguratorInfo {
  settings?: { cpu_settings?: ConfiguratorAxis; memory_settings?: ConfiguratorAxis; disk_settings?: ConfiguratorAxis };
  is_available?: boolean;
}

/** Manage_CreateVpsRequest, the fields this project sends. */
export interface CreateVpsRequest {
  display_name: string;
  hostname: string;
  description: string;
  configuration_id?: string;
  configuration_params?: ConfigurationParams;
  configuration_group?: string;
  /** A stock OS from the marketplace, or... */
  software?: { id: number; variable: Record<string, string> };
  /** ...an image of the separate image API (uploaded or made from a VPS, tied to a region). */
  image_id?: string;
  ssh_keys: number[];
  region?: string;
  network_interfaces: { public: { allocate_new: Record<string, never> } }[];
}

/** The `error` member of a 200 reply (Manage_*Response_Error). */
export interface BusinessError {
  code?: string;
  message?: string;
  insufficient_funds_error?: { needed_balance?: number; current_balance?: number; charge_on_add?: boolean };
}
