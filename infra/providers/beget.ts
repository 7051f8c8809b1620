import * as pulumi from '@pulumi/pulumi';
import { TIERS, type TierName } from '../../src/core/tiers.js';
import type { InfraConfig } from '../config.js';
import { InfraError } from '../errors.js';
import { BegetApi, type BegetConfigurationParams, type BegetCreateVpsRequest } from './beget-api.js';
import type { ServerHandle, ServerProvider } from './types.js';

/**
 * Beget cloud VPS as a Pulumi dynamic provider (TypeScript, no plugin binary). A tier change
 * resizes the server in place (PUT /v1/vps/server/{id}/configuration); a new region, image,
 * hostname or SSH key, or a smaller disk, replaces it.
 */

/** Inputs of the dynamic resource, all plain values once they reach the provider. */
export interface BegetServerInputs {
  apiUrl: string;
  token: string;
  region?: string;
  imageId: string;
  hostname: string;
  sshPublicKey: string;
  cpuCount: number;
  memoryMb: number;
  diskMb: number;
  description: string;
  pollIntervalMs: number;
  pollTimeoutMs: number;
}

export interface BegetServerOutputs extends BegetServerInputs {
  ipv4: string;
  status: string;
  sshKeyId: number;
}

/** Tier → configuration_params: RAM and disk from the tier, the tier's minimum vCPU (what sizing assumes). */
export function begetParamsForTier(tier: TierName): BegetConfigurationParams {
  const t = TIERS[tier];
  return { cpu_count: t.vcpu.min, memory: t.ramMb, disk_size: t.diskGb * 1024 };
}

const RESIZABLE = ['cpuCount', 'memoryMb', 'diskMb'] as const;
const REPLACING = ['region', 'imageId', 'hostname', 'sshPublicKey'] as const;
const SETTINGS = ['apiUrl', 'token', 'pollIntervalMs', 'pollTimeoutMs', 'description'] as const;

function apiFor(p: BegetServerInputs): BegetApi {
  return new BegetApi({ baseUrl: p.apiUrl, token: p.token, pollIntervalMs: p.pollIntervalMs, pollTimeoutMs: p.pollTimeoutMs });
}

function paramsOf(p: BegetServerInputs): BegetConfigurationParams {
  return { cpu_count: p.cpuCount, memory: p.memoryMb, disk_size: p.diskMb };
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

export class BegetServerProvider implements pulumi.dynamic.ResourceProvider<BegetServerInputs, BegetServerOutputs> {
  async diff(_id: string, oldsRaw: BegetServerOutputs, newsRaw: BegetServerInputs): Promise<pulumi.dynamic.DiffResult> {
    const olds = unwrap(oldsRaw);
    const news = unwrap(newsRaw);
    const replaces: string[] = REPLACING.filter((k) => (olds[k] ?? '') !== (news[k] ?? ''));
    // Beget grows disks but cannot shrink them: a smaller disk means a new server.
    if (news.diskMb < olds.diskMb) replaces.push('diskMb');
    const changed = [...RESIZABLE, ...SETTINGS].some((k) => olds[k] !== news[k]);
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
    if (inputs.region) {
      const regions = await api.listRegions();
      const region = regions.find((r) => r.id === inputs.region);
      if (!region || region.available === false) {
        const offered = regions.filter((r) => r.available !== false).map((r) => r.id);
        throw new InfraError(
          'MI_ERR_CONFIG',
          `stack config "region": Beget has no available region "${inputs.region}" (available: ${offered.join(', ') || 'none'}); fix: pulumi config set region ${offered[0] ?? '<region>'}`,
        );
      }
    }
    // Two servers with one hostname would make DNS and SSH ambiguous: refuse instead of guessing.
    const clash = (await api.listServers()).find((vps) => vps.hostname === inputs.hostname);
    if (clash) {
      throw new InfraError(
        'MI_ERR_BEGET_HOSTNAME_TAKEN',
        `stack config "hostname": a Beget server named "${inputs.hostname}" already exists (id ${clash.id}); fix: pulumi config set hostname <other-name>, or remove that server`,
      );
    }
    // Prefer a ready-made configuration with exactly the tier's size; otherwise ask for custom params.
    const want = paramsOf(inputs);
    const fixed = (await api.listConfigurations()).find(
      (c) =>
        c.available !== false &&
        c.custom !== true &&
        (!inputs.region || !c.region || c.region === inputs.region) &&
        c.cpu_count === want.cpu_count &&
        c.memory === want.memory &&
        c.disk_size === want.disk_size,
    );
    const key = await api.ensureSshKey(inputs.sshPublicKey);
    const request: BegetCreateVpsRequest = {
      display_name: inputs.hostname,
      hostname: inputs.hostname,
      description: inputs.description,
      image_id: inputs.imageId,
      ssh_keys: [key.id],
      ...(inputs.region ? { region: inputs.region } : {}),
      ...(fixed?.id ? { configuration_id: fixed.id } : { configuration_params: want }),
    };
    const created = await api.createServer(request);
    let running;
    try {
      running = await api.waitUntilRunning(created.id);
    } catch (err) {
      // create must be all or nothing: a server that never came up is removed before reporting.
      await api.removeServer(created.id).catch(() => undefined);
      throw err;
    }
    return {
      id: created.id,
      outs: { ...inputs, ipv4: running.ip_address, status: running.status ?? 'RUNNING', sshKeyId: key.id },
    };
  }

  async read(id: string, propsRaw?: BegetServerOutputs): Promise<pulumi.dynamic.ReadResult<BegetServerOutputs>> {
    // Without state there is no token to ask with: `pulumi import` of a Beget server is not supported.
    if (!propsRaw) throw new InfraError('MI_ERR_BEGET_IMPORT', `Beget server ${id}: import is not supported; create it with this program instead`);
    const props = unwrap(propsRaw);
    const vps = await apiFor(props).getServer(id);
    // An empty id tells the engine the server is gone.
    if (!vps) return { id: '', props: {} as BegetServerOutputs };
    const c = vps.configuration ?? {};
    return {
      id,
      props: {
        ...props,
        ipv4: vps.ip_address ?? props.ipv4,
        status: vps.status ?? props.status,
        cpuCount: c.cpu_count ?? props.cpuCount,
        memoryMb: c.memory ?? props.memoryMb,
        diskMb: c.disk_size ?? props.diskMb,
      },
    };
  }

  async update(id: string, oldsRaw: BegetServerOutputs, newsRaw: BegetServerInputs): Promise<pulumi.dynamic.UpdateResult<BegetServerOutputs>> {
    const olds = unwrap(oldsRaw);
    const news = unwrap(newsRaw);
    const api = apiFor(news);
    let { ipv4, status } = olds;
    if (RESIZABLE.some((k) => olds[k] !== news[k])) {
      await api.changeConfiguration(id, paramsOf(news));
      const running = await api.waitUntilRunning(id);
      ipv4 = running.ip_address;
      status = running.status ?? 'RUNNING';
    }
    return { outs: { ...news, ipv4, status, sshKeyId: olds.sshKeyId } };
  }

  async delete(id: string, propsRaw: BegetServerOutputs): Promise<void> {
    const api = apiFor(unwrap(propsRaw));
    await api.removeServer(id);
    await api.waitUntilGone(id);
  }
}

type BegetServerArgs = { [K in keyof BegetServerInputs]: pulumi.Input<BegetServerInputs[K]> };

/** The dynamic resource; `token` stays a secret in state through additionalSecretOutputs. */
export class BegetServer extends pulumi.dynamic.Resource {
  declare readonly ipv4: pulumi.Output<string>;
  declare readonly status: pulumi.Output<string>;
  declare readonly token: pulumi.Output<string>;
  declare readonly cpuCount: pulumi.Output<number>;
  declare readonly memoryMb: pulumi.Output<number>;
  declare readonly diskMb: pulumi.Output<number>;
  declare readonly region: pulumi.Output<string | undefined>;
  declare readonly sshPublicKey: pulumi.Output<string>;

  constructor(name: string, args: BegetServerArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      new BegetServerProvider(),
      name,
      { ipv4: undefined, status: undefined, sshKeyId: undefined, ...args },
      { ...opts, additionalSecretOutputs: ['token'] },
      'messenger-infra',
      'BegetServer',
    );
  }
}

export const begetProvider: ServerProvider = {
  name: 'beget',
  create(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions): ServerHandle {
    if (!config.begetToken) throw new InfraError('MI_ERR_CONFIG', 'stack config "begetToken": is required; fix: pulumi config set --secret begetToken <token>');
    const params = begetParamsForTier(config.tier);
    const server = new BegetServer(
      name,
      {
        apiUrl: config.begetApiUrl,
        token: config.begetToken,
        ...(config.region ? { region: config.region } : {}),
        imageId: config.image,
        hostname: config.hostname,
        sshPublicKey: config.sshPublicKey,
        cpuCount: params.cpu_count,
        memoryMb: params.memory,
        diskMb: params.disk_size,
        description: `messenger-infra ${pulumi.getStack()} (${config.tier})`,
        pollIntervalMs: config.begetPollIntervalMs,
        pollTimeoutMs: config.begetPollTimeoutMs,
      },
      opts,
    );
    return { ipv4: server.ipv4, id: server.id };
  }
};
