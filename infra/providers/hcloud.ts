import * as hcloud from '@pulumi/hcloud';
import * as pulumi from '@pulumi/pulumi';
import type { TierName } from '../../src/core/tiers.js';
import type { InfraConfig } from '../config.js';
import { InfraError } from '../errors.js';
import type { NetworkedServerHandle, ServerHandle, ServerProvider } from './types.js';

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

/** The private network of a stack of several servers: a /16 with one cloud subnet; servers from .2 up. */
export const HCLOUD_NETWORK = { ipRange: '10.0.0.0/16', subnet: '10.0.1.0/24', firstHost: 2 } as const;

/** Hetzner's network zone of each location (a subnet serves the servers of one zone). */
export const HCLOUD_NETWORK_ZONES: Readonly<Record<string, string>> = {
  fsn1: 'eu-central',
  nbg1: 'eu-central',
  hel1: 'eu-central',
  ash: 'us-east',
  hil: 'us-west',
  sin: 'ap-southeast',
};

function providerAndKey(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions) {
  if (!config.hcloudToken) throw new InfraError('MI_ERR_CONFIG', 'stack config "hcloudToken": is required; fix: pulumi config set --secret hcloudToken <token>');
  // An explicit provider instance keeps the token in this stack's config (a secret) instead of the environment.
  const provider = new hcloud.Provider(`${name}-hcloud`, { token: config.hcloudToken }, opts);
  const childOpts: pulumi.CustomResourceOptions = { ...opts, provider };
  const key = new hcloud.SshKey(`${name}-key`, { name: `${config.hostname}-messenger-infra`, publicKey: config.sshPublicKey }, childOpts);
  return { childOpts, key };
}

function serverArgs(config: InfraConfig, hostname: string, key: hcloud.SshKey): hcloud.ServerArgs {
  return {
    name: hostname,
    serverType: HCLOUD_SERVER_TYPES[config.tier].serverType,
    image: config.image,
    location: config.region,
    sshKeys: [key.id],
    publicNets: [{ ipv4Enabled: true, ipv6Enabled: true }],
    labels: { 'managed-by': 'messenger-infra', tier: config.tier },
  };
}

export const hcloudProvider: ServerProvider = {
  name: 'hcloud',
  create(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions): ServerHandle {
    const { childOpts, key } = providerAndKey(name, config, opts);
    const server = new hcloud.Server(name, serverArgs(config, config.hostname, key), childOpts);
    return { ipv4: server.ipv4Address, id: server.id };
  },
  createNetworked(names: readonly string[], config: InfraConfig, opts?: pulumi.CustomResourceOptions): Record<string, NetworkedServerHandle> {
    const zone = HCLOUD_NETWORK_ZONES[config.region ?? ''];
    if (!zone) {
      throw new InfraError('MI_ERR_CONFIG', `stack config "region": "${config.region}" has no known network zone for a private network; fix: pulumi config set region fsn1 (one of ${Object.keys(HCLOUD_NETWORK_ZONES).join(', ')})`);
    }
    const { childOpts, key } = providerAndKey('servers', config, opts);
    const network = new hcloud.Network('private', { name: `${config.hostname}-messenger-infra`, ipRange: HCLOUD_NETWORK.ipRange, labels: { 'managed-by': 'messenger-infra' } }, childOpts);
    const subnet = new hcloud.NetworkSubnet(
      'private-subnet',
      { networkId: network.id.apply(Number), type: 'cloud', networkZone: zone, ipRange: HCLOUD_NETWORK.subnet },
      childOpts,
    );
    const base = HCLOUD_NETWORK.subnet.split('.').slice(0, 3).join('.');
    return Object.fromEntries(
      names.map((serverName, i) => {
        const ip = `${base}.${HCLOUD_NETWORK.firstHost + i}`;
        const server = new hcloud.Server(
          `server-${serverName}`,
          { ...serverArgs(config, `${serverName}.${config.hostname}`, key), networks: [{ networkId: network.id.apply(Number), ip }] },
          // The subnet must exist before a server can take an address in it.
          { ...childOpts, dependsOn: [subnet] },
        );
        return [serverName, { ipv4: server.ipv4Address, id: server.id, privateIp: pulumi.output(ip) }];
      }),
    );
  },
};
