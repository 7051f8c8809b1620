import * as pulumi from '@pulumi/pulumi';
import { readInfraConfig, type InfraConfig } from './config.js';
import { hostSetupDigest } from '../src/executor/host-setup-api.js';
import { HostSetup } from './host-setup.js';
import { getServerProvider } from './providers/index.js';

/** What the stack exports. No secret goes here: only the address and the public URLs. */
export interface StackOutputs {
  serverIp: pulumi.Output<string>;
  httpsUrl: pulumi.Output<string>;
  wsUrl: pulumi.Output<string>;
  provider: pulumi.Output<string>;
  tier: pulumi.Output<string>;
  /** With host setup: the server's SSH host key as a known_hosts line, pinned after the first setup. */
  hostKey?: pulumi.Output<string>;
  /** With `servers`: each server's public and private address, for the stack file's servers section. */
  servers?: pulumi.Output<Record<string, { host: string; privateAddress: string }>>;
}

/**
 * The messenger-infra Pulumi program: one server from the configured provider, then (when an SSH
 * private key is configured) the host setup resource converging it. Used both by `infra/index.ts`
 * (the `pulumi` CLI) and as the inline program of the Automation API (`messenger-infra up --provider`).
 */
export function messengerInfra(config: InfraConfig = readInfraConfig()): StackOutputs {
  if (config.servers) return networkedServers(config, config.servers);
  const server = getServerProvider(config.provider).create('server', config);

  let hostKey: pulumi.Output<string> | undefined;
  if (config.hostSetup) {
    const hs = config.hostSetup;
    hostKey = new HostSetup(
      'host-setup',
      {
        host: server.ipv4,
        sshPort: hs.sshPort,
        sshUser: hs.sshUser,
        sshPrivateKey: pulumi.secret(hs.sshPrivateKey),
        knownHosts: hs.knownHosts,
        tier: config.tier,
        domain: config.domain,
        email: config.email,
        acmeServer: hs.acmeServer,
        // Unless given, computed here: a changed template or bundle becomes a diff in `pulumi preview`.
        renderedDigest:
          hs.renderedDigest || hostSetupDigest({ tier: config.tier, domain: config.domain, email: config.email, acmeServer: hs.acmeServer, sshUser: hs.sshUser, sshPort: hs.sshPort }),
      },
      // Setting up the host needs the server to exist; the IP dependency already orders them.
    ).hostKey;
  }

  return {
    serverIp: server.ipv4,
    httpsUrl: pulumi.output(`https://${config.domain}/`),
    wsUrl: pulumi.output(`wss://${config.domain}/ws`),
    provider: pulumi.output(config.provider),
    tier: pulumi.output(config.tier),
    ...(hostKey ? { hostKey } : {}),
  };
}

/**
 * Several servers on the provider's private network, for a stack with servers and hosts: the
 * program declares them; `messenger-infra up --stack` sets them up over SSH (the first one is the edge).
 */
function networkedServers(config: InfraConfig, names: readonly string[]): StackOutputs {
  const provider = getServerProvider(config.provider);
  if (!provider.createNetworked) throw new Error(`provider ${config.provider} declares no private network`);
  const handles = provider.createNetworked(names, config);
  const servers = pulumi
    .all(names.map((n) => pulumi.all([handles[n]!.ipv4, handles[n]!.privateIp])))
    .apply((pairs) => Object.fromEntries(pairs.map(([host, privateAddress], i) => [names[i]!, { host, privateAddress }])));
  return {
    serverIp: handles[names[0]!]!.ipv4,
    httpsUrl: pulumi.output(`https://${config.domain}/`),
    wsUrl: pulumi.output(`wss://${config.domain}/ws`),
    provider: pulumi.output(config.provider),
    tier: pulumi.output(config.tier),
    servers,
  };
}
