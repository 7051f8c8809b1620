import * as pulumi from '@pulumi/pulumi';
import type { OsId } from '../../src/core/os-profiles.js';
import { TIERS, type TierName } from '../../src/core/tiers.js';
import type { InfraConfig } from '../config.js';
import { InfraError } from '../errors.js';
import { BegetApi, begetCode } from './beget-api.js';
import { sleep } from './beget-http.js';
import { begetCredentialsFromEnv } from './beget-auth.js';
import type { ConfigurationParams, CreateVpsRequest, VpsConfiguration, VpsInfo } from './beget-models.js';
import { chooseSoftware } from './beget-os.js';
import { checkConfigurator, chooseGroup, deriveUnits, findPlan, refuseDiskShrink, toApiParams, toMb, type BegetUnits, type SizeMb } from './beget-sizing.js';
import { ensureSshKey } from './beget-ssh.js';
import { isGone, publicIpv4, waitForResize, waitUntilGone, waitUntilRunning } from './beget-wait.js';
import type { ServerHandle, ServerProvider } from './types.js';

/**
 * Beget cloud VPS as a Pulumi dynamic provider (TypeScript, no plugin binary). A tier change
 * resizes the server in place (PUT /v1/vps/server/{id}/configuration); a new region, OS or image,
 * hostname, SSH key or configuration group replaces it; a smaller disk is refused.
 *
 * No credential is an input: every operation reads them from its process's environment
 * (beget-auth.ts), so nothing secret or expiring sits in state.
 */
export interface BegetServerInputs {
  apiUrl: string;
  region?: string;
  /** A stock OS from the marketplace; ignored when imageId is set. */
  os: OsId;
  /** A custom image of Beget's image API (`--image`), instead of the marketplace OS. */
  imageId?: string;
  /** The configuration group (CPU line); default: the first one Beget lists. */
  configurationGroup?: string;
  hostname: string;
  sshPublicKey: string;
  /** The tier's size, in MiB whatever unit the API uses. */
  cpuCount: number;
  memoryMb: number;
  diskMb: number;
  description: string;
  pollIntervalMs: number;
  pollTimeoutMs: number;
  /** Confirms a change that replaces the server (delete, then create): without it such a diff is refused. */
  allowReplace?: boolean;
}

export interface BegetServerOutputs extends BegetServerInputs {
  ipv4: string;
  status: string;
  sshKeyId: number;
  /** The marketplace entry installed (absent with a custom image). */
  softwareId?: number;
}

/** Tier → size in MiB: RAM and disk from the tier, the tier's minimum vCPU (what sizing assumes). */
export function begetSizeForTier(tier: TierName): SizeMb {
  const t = TIERS[tier];
  return { cpuCount: t.vcpu.min, memoryMb: t.ramMb, diskMb: t.diskGb * 1024 };
}

const RESIZABLE = ['cpuCount', 'memoryMb', 'diskMb'] as const;
const REPLACING = ['region', 'os', 'imageId', 'hostname', 'sshPublicKey', 'configurationGroup'] as const;
const SETTINGS = ['apiUrl', 'pollIntervalMs', 'pollTimeoutMs', 'description', 'allowReplace'] as const;

function apiFor(p: BegetServerInputs): BegetApi {
  return new BegetApi({ baseUrl: p.apiUrl, credentials: begetCredentialsFromEnv(), pollIntervalMs: p.pollIntervalMs, pollTimeoutMs: p.pollTimeoutMs });
}

/** Values reaching a dynamic provider may still be wrapped as RPC secrets; the provider wants plain ones. */
function unwrap<T extends object>(props: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props)) {
    const wrapped = value && typeof value === 'object' && '4dabf18193072939515e22adb298388d' in value;
    out[key] = wrapped ? (value as { value: unknown }).value : value;
  }
  return out as T;
}

/** With a custom image the marketplace OS does not matter, so it cannot force a replacement. */
function effective(p: BegetServerInputs): BegetServerInputs {
  return p.imageId ? { ...p, os: '' as OsId } : p;
}

async function checkRegion(api: BegetApi, region: string | undefined): Promise<void> {
  if (!region) return;
  const regions = await api.listRegions();
  const found = regions.find((r) => r.id === region);
  if (found && found.available !== false) return;
  const offered = regions.filter((r) => r.available !== false).map((r) => r.id);
  throw new InfraError(
    'MI_ERR_CONFIG',
    `stack config "region": Beget has no available region "${region}" (available: ${offered.join(', ') || 'none'}); fix: pulumi config set region ${offered[0] ?? '<region>'}`,
  );
}

interface Sizing {
  units: BegetUnits;
  group: string | undefined;
  params: ConfigurationParams;
  change: { configuration_id: string } | { configuration_params: ConfigurationParams };
}

/**
 * The size request: a ready-made plan of exactly this size, else custom params that the
 * configurator accepts for the region and group. `current` (a resize) refuses a smaller disk first.
 */
async function sizeRequest(api: BegetApi, size: SizeMb, region: string | undefined, wantedGroup: string | undefined, current?: VpsConfiguration): Promise<Sizing> {
  const { configurations, configurationGroups } = await api.getConfigurations();
  const units = deriveUnits(configurations);
  if (current?.disk_size !== undefined) refuseDiskShrink(toMb(current.disk_size, units.disk), size.diskMb);
  const group = chooseGroup(configurationGroups, wantedGroup);
  const params = toApiParams(size, units);
  const plan = findPlan(configurations, params, region, group);
  if (plan?.id) return { units, group, params, change: { configuration_id: plan.id } };
  checkConfigurator(await api.configuratorInfo(region, group), params, units, `region ${region ?? 'default'}, group ${group ?? 'default'}`);
  return { units, group, params, change: { configuration_params: params } };
}

/** Lookups by name after a create whose outcome is unknown: the list may lag behind the create. */
const LOOKUPS_AFTER_CREATE = 3;

/** A definite "no" to the create (a Beget error code, 401/403, 400/422, 404): nothing was made. */
function refused(err: unknown): boolean {
  if (!(err instanceof InfraError)) return false;
  return begetCode(err) !== undefined || ['MI_ERR_BEGET_AUTH', 'MI_ERR_BEGET_INVALID', 'MI_ERR_BEGET_NOT_FOUND'].includes(err.code);
}

/**
 * POST /v1/vps/server exactly once. After any failure but a definite refusal (a lost reply, a
 * timeout, a 5xx) the server may exist anyway, so it is looked up by name a few times.
 */
async function createOnce(api: BegetApi, request: CreateVpsRequest): Promise<VpsInfo> {
  try {
    return await api.createServer(request);
  } catch (err) {
    if (refused(err)) throw err;
    for (let lookup = 1; lookup <= LOOKUPS_AFTER_CREATE; lookup++) {
      if (lookup > 1) await sleep(api.opts.pollIntervalMs);
      const servers = await api.listServers().catch(() => []);
      const made = servers.find((vps) => vps.hostname === request.hostname && !isGone(vps));
      if (made) return made;
    }
    const note = `a server may have been created; check the Beget panel for ${request.hostname} before retrying`;
    if (err instanceof InfraError) throw new InfraError(err.code, `${err.message}; ${note}`, err.details);
    throw new InfraError('MI_ERR_BEGET_API', `Beget API: POST /v1/vps/server failed: ${(err as Error).message}; ${note}`);
  }
}

export class BegetServerProvider implements pulumi.dynamic.ResourceProvider<BegetServerInputs, BegetServerOutputs> {
  async diff(_id: string, oldsRaw: BegetServerOutputs, newsRaw: BegetServerInputs): Promise<pulumi.dynamic.DiffResult> {
    const olds = effective(unwrap(oldsRaw));
    const news = effective(unwrap(newsRaw));
    refuseDiskShrink(olds.diskMb, news.diskMb);
    const replaces: string[] = REPLACING.filter((k) => (olds[k] ?? '') !== (news[k] ?? ''));
    // A replacement deletes the server, and with it the messages on its disk: a new SSH key or region
    // must never do that as a side effect (issue 14, finding 10). It takes an explicit yes.
    if (replaces.length > 0 && news.allowReplace !== true) {
      throw new InfraError(
        'MI_ERR_BEGET_REPLACE_REFUSED',
        `changing ${replaces.join(', ')} would replace the Beget server ${olds.hostname}: delete it with everything on its disk, then create a new one; ` +
          'fix: keep the old value, or take a backup (messenger-infra backup now) and confirm with `pulumi config set messenger-infra:allowServerReplace true`',
      );
    }
    // State written before credentials moved to the environment still holds a token: an update drops it.
    const changed = [...RESIZABLE, ...SETTINGS].some((k) => olds[k] !== news[k]) || 'token' in olds;
    return {
      changes: replaces.length > 0 || changed,
      replaces,
      // Same hostname on the replacement: remove the old server first so names never collide.
      deleteBeforeReplace: replaces.length > 0 && olds.hostname === news.hostname,
    };
  }

  async create(inputsRaw: BegetServerInputs): Promise<pulumi.dynamic.CreateResult<BegetServerOutputs>> {
    const inputs = unwrap(inputsRaw);
    const api = apiFor(inputs);
    // Everything that can be refused is checked before the one request that creates (and bills).
    await checkRegion(api, inputs.region);
    const sizing = await sizeRequest(api, inputs, inputs.region, inputs.configurationGroup);
    const software = inputs.imageId ? undefined : chooseSoftware(await api.listSoftware(), inputs.os);
    // Two servers with one hostname would make DNS and SSH ambiguous; removed (archived) ones do not count.
    const clash = (await api.listServers()).find((vps) => vps.hostname === inputs.hostname && !isGone(vps));
    if (clash) {
      throw new InfraError(
        'MI_ERR_BEGET_HOSTNAME_TAKEN',
        `stack config "hostname": a Beget server named "${inputs.hostname}" already exists (id ${clash.id}); fix: pulumi config set hostname <other-name>, or remove that server`,
      );
    }
    const key = await ensureSshKey(api, inputs.sshPublicKey);
    const created = await createOnce(api, {
      display_name: inputs.hostname,
      hostname: inputs.hostname,
      description: inputs.description,
      ...sizing.change,
      ...(sizing.group ? { configuration_group: sizing.group } : {}),
      ...(software ? { software: { id: software.id, variable: {} } } : { image_id: inputs.imageId }),
      ssh_keys: [key.id],
      ...(inputs.region ? { region: inputs.region } : {}),
      // Asked for explicitly: the server is reached over SSH and serves the site on a public IPv4.
      network_interfaces: [{ public: { allocate_new: {} } }],
    });
    let running;
    try {
      running = await waitUntilRunning(api, created.id);
    } catch (err) {
      // create must be all or nothing: a server that never came up is removed before reporting.
      try {
        await api.removeServer(created.id);
      } catch (removeErr) {
        // Not removed: a billed server Pulumi has no record of. Say which, and keep why create failed.
        throw new InfraError(
          err instanceof InfraError ? err.code : 'MI_ERR_BEGET_API',
          `${(err as Error).message}; removing the new Beget server ${created.id} (hostname ${inputs.hostname}) then failed: ${(removeErr as Error).message}; ` +
            `fix: remove server ${created.id} (${inputs.hostname}) in the Beget panel, it is billed and not in the Pulumi state`,
          { ...(err instanceof InfraError ? err.details : {}), serverId: created.id },
        );
      }
      throw err;
    }
    return {
      id: created.id,
      outs: { ...inputs, ipv4: running.ipv4, status: running.vps.status ?? 'RUNNING', sshKeyId: key.id, ...(software ? { softwareId: software.id } : {}) },
    };
  }

  async read(id: string, propsRaw?: BegetServerOutputs): Promise<pulumi.dynamic.ReadResult<BegetServerOutputs>> {
    // Without state there are no inputs (OS, key, tier) to fill in: `pulumi import` is not supported.
    if (!propsRaw) throw new InfraError('MI_ERR_BEGET_IMPORT', `Beget server ${id}: import is not supported; create it with this program instead`);
    const props = unwrap(propsRaw);
    const api = apiFor(props);
    const vps = await api.getServer(id);
    // An empty id tells the engine the server is gone; REMOVED or archived is gone too.
    if (!vps || isGone(vps)) return { id: '', props: {} as BegetServerOutputs };
    const units = deriveUnits((await api.getConfigurations()).configurations);
    const c = vps.configuration ?? {};
    return {
      id,
      props: {
        ...props,
        ipv4: publicIpv4(vps) ?? props.ipv4,
        status: vps.status ?? props.status,
        cpuCount: c.cpu_count ?? props.cpuCount,
        memoryMb: c.memory === undefined ? props.memoryMb : toMb(c.memory, units.memory),
        diskMb: c.disk_size === undefined ? props.diskMb : toMb(c.disk_size, units.disk),
      },
    };
  }

  async update(id: string, oldsRaw: BegetServerOutputs, newsRaw: BegetServerInputs): Promise<pulumi.dynamic.UpdateResult<BegetServerOutputs>> {
    const olds = unwrap(oldsRaw);
    const news = unwrap(newsRaw);
    let { ipv4, status } = olds;
    if (RESIZABLE.some((k) => olds[k] !== news[k])) {
      const api = apiFor(news);
      const vps = await api.getServer(id);
      if (!vps || isGone(vps)) throw new InfraError('MI_ERR_BEGET_NOT_FOUND', `Beget server ${id} is removed; fix: pulumi refresh, then run again to create a new one`);
      // The server's own region and group: the resize request carries neither (Manage_ChangeConfigurationRequest).
      const sizing = await sizeRequest(api, news, vps.region ?? news.region, vps.configuration?.group ?? news.configurationGroup, vps.configuration);
      await api.changeConfiguration(id, sizing.change);
      const resized = await waitForResize(api, id, sizing.params);
      ipv4 = resized.ipv4;
      status = resized.vps.status ?? 'RUNNING';
    }
    return { outs: { ...news, ipv4, status, sshKeyId: olds.sshKeyId, ...(olds.softwareId === undefined ? {} : { softwareId: olds.softwareId }) } };
  }

  async delete(id: string, propsRaw: BegetServerOutputs): Promise<void> {
    const api = apiFor(unwrap(propsRaw));
    await api.removeServer(id);
    await waitUntilGone(api, id);
  }
}

type BegetServerArgs = { [K in keyof BegetServerInputs]: pulumi.Input<BegetServerInputs[K]> };

/** The dynamic resource. Its inputs and state hold no credential (see beget-auth.ts). */
export class BegetServer extends pulumi.dynamic.Resource {
  declare readonly ipv4: pulumi.Output<string>;
  declare readonly status: pulumi.Output<string>;
  declare readonly cpuCount: pulumi.Output<number>;
  declare readonly memoryMb: pulumi.Output<number>;
  declare readonly diskMb: pulumi.Output<number>;
  declare readonly region: pulumi.Output<string | undefined>;
  declare readonly sshPublicKey: pulumi.Output<string>;

  constructor(name: string, args: BegetServerArgs, opts?: pulumi.CustomResourceOptions) {
    super(new BegetServerProvider(), name, { ipv4: undefined, status: undefined, sshKeyId: undefined, softwareId: undefined, ...args }, opts, 'messenger-infra', 'BegetServer');
  }
}

export const begetProvider: ServerProvider = {
  name: 'beget',
  create(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions): ServerHandle {
    const size = begetSizeForTier(config.tier);
    const server = new BegetServer(
      name,
      {
        apiUrl: config.begetApiUrl,
        ...(config.region ? { region: config.region } : {}),
        os: config.os,
        ...(config.image ? { imageId: config.image } : {}),
        ...(config.begetConfigurationGroup ? { configurationGroup: config.begetConfigurationGroup } : {}),
        hostname: config.hostname,
        sshPublicKey: config.sshPublicKey,
        ...size,
        description: `messenger-infra ${pulumi.getStack()} (${config.tier})`,
        pollIntervalMs: config.begetPollIntervalMs,
        pollTimeoutMs: config.begetPollTimeoutMs,
        ...(config.allowServerReplace ? { allowReplace: true } : {}),
      },
      opts,
    );
    return { ipv4: server.ipv4, id: server.id };
  },
};
