import * as hcloud from '@pulumi/hcloud';
import * as pulumi from '@pulumi/pulumi';
import type { TierName } from '../../src/core/tiers.js';
import type { InfraConfig } from '../config.js';
import { InfraError } from '../errors.js';
import type { ServerHandle, ServerProvider } from './types.js';

/**
 * Hetzner Cloud through the official @pulumi/hcloud package. Tiers map to the shared-vCPU CPX line,
 * chosen so RAM equals the tier's and vCPUs fall in the tier's range:
 *
 *   tier    tier RAM / vCPU   server type   type RAM / vCPU / disk
 *   mvp     2 GB / 2          cpx11         2 GB / 2 / 40 GB
 *   growth  4 GB / 2-4        cpx21         4 GB / 3 / 80 GB
 *   scale   8 GB / 4          cpx31         8 GB / 4 / 160 GB
 *
 * (The CX line — cx22/cx32/cx42 — has twice the RAM per vCPU, so it matches no tier on both axes.)
 * Hetzner renames lines from time to time; this table is the one place to change.
 */
export interface HcloudServerType {
  serverType: string;
  ramMb: number;
  vcpu: number;
  diskGb: number;
}

export const HCLOUD_SERVER_TYPES: Readonly<Record<TierName, HcloudServerType>> = {
  mvp: { serverType: 'cpx11', ramMb: 2048, vcpu: 2, diskGb: 40 },
  growth: { serverType: 'cpx21', ramMb: 4096, vcpu: 3, diskGb: 80 },
  scale: { serverType: 'cpx31', ramMb: 8192, vcpu: 4, diskGb: 160 },
};

export const hcloudProvider: ServerProvider = {
  name: 'hcloud',
  create(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions): ServerHandle {
    if (!config.hcloudToken) throw new InfraError('MI_ERR_CONFIG', 'stack config "hcloudToken": is required; fix: pulumi config set --secret hcloudToken <token>');
    // An explicit provider instance keeps the token in this stack's config (a secret) instead of the environment.
    const provider = new hcloud.Provider(`${name}-hcloud`, { token: config.hcloudToken }, opts);
    const childOpts: pulumi.CustomResourceOptions = { ...opts, provider };
    const key = new hcloud.SshKey(`${name}-key`, { name: `${config.hostname}-messenger-infra`, publicKey: config.sshPublicKey }, childOpts);
    const server = new hcloud.Server(
      name,
      {
        name: config.hostname,
        serverType: HCLOUD_SERVER_TYPES[config.tier].serverType,
        image: config.image,
        location: config.region,
        sshKeys: [key.id],
        publicNets: [{ ipv4Enabled: true, ipv6Enabled: true }],
        labels: { 'managed-by': 'messenger-infra', tier: config.tier },
      },
      childOpts,
    );
    return { ipv4: server.ipv4Address, id: server.id };
  },
};
