import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { TIERS, TIER_NAMES, type TierName } from '../../src/core/tiers.js';
import { PROVIDER_NAMES, readInfraConfig, type ProgramSecrets, type ProviderName } from '../../infra/config.js';
import { HOST_SETUP_API_URL } from '../../infra/host-setup.js';
import { HCLOUD_SERVER_TYPES } from '../../infra/providers/hcloud.js';
import { messengerInfra, type StackOutputs } from '../../infra/program.js';

/**
 * The Pulumi program under pulumi.runtime.setMocks: no engine, no cloud. The mocks record every
 * resource registration with its inputs as they cross the RPC boundary, where secrets are still
 * wrapped, so "marked secret" is checked on the wire, not on our own objects.
 */
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop';
const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';
const IP = '203.0.113.7';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

function baseConfig(provider: ProviderName, tier: TierName): Record<string, string> {
  const c: Record<string, string> = {
    tier,
    provider,
    domain: 'chat.example.com',
    email: 'admin@example.com',
  };
  if (provider === 'beget') Object.assign(c, { region: 'ru1', sshPublicKey: KEY });
  if (provider === 'hcloud') Object.assign(c, { region: 'nbg1', sshPublicKey: KEY, hcloudToken: 'hcloud-secret-token' });
  if (provider === 'existing') Object.assign(c, { serverAddress: IP });
  return c;
}

const SECRET_KEYS = ['hcloudToken', 'sshPrivateKey'];
/** Beget credentials live in the environment of the provider process, never in config, inputs or state. */
const BEGET_ENV_TOKEN = 'beget-secret-token';

async function run(config: Record<string, string>, secrets: ProgramSecrets = {}): Promise<{ registered: Registered[]; outputs: Record<string, unknown>; raw: StackOutputs }> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'hcloud:index/server:Server') state.ipv4Address = IP;
        if (args.type.includes(':BegetServer')) Object.assign(state, { ipv4: IP, status: 'RUNNING', sshKeyId: 100 });
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    'messenger-infra',
    'test',
    false,
  );
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) all[`messenger-infra:${k}`] = v;
  pulumi.runtime.setAllConfig(all, SECRET_KEYS.filter((k) => k in config).map((k) => `messenger-infra:${k}`));

  // Set for the whole declaration and serialization: none of it may pick the token up.
  process.env.BEGET_TOKEN = BEGET_ENV_TOKEN;
  try {
    return await declare(registered, secrets);
  } finally {
    delete process.env.BEGET_TOKEN;
  }
}

async function declare(registered: Registered[], secrets: ProgramSecrets): Promise<{ registered: Registered[]; outputs: Record<string, unknown>; raw: StackOutputs }> {
  const raw = messengerInfra(readInfraConfig(undefined, secrets));
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) outputs[k] = await new Promise((resolve) => (v as pulumi.Output<unknown>).apply(resolve));
  // Registrations no output depends on (host setup) finish here; waitForRPCs is untyped in 3.248.
  await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
  return { registered, outputs, raw };
}

function isWireSecret(value: unknown): boolean {
  return pulumi.runtime.isRpcSecret(value);
}

async function outputIsSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}

describe('program under mocks: every tier x provider', () => {
  for (const provider of PROVIDER_NAMES) {
    for (const tier of TIER_NAMES) {
      it(`${provider} / ${tier}`, async () => {
        const { registered, outputs, raw } = await run(baseConfig(provider, tier));
        const t = TIERS[tier];

        expect(outputs).toEqual({
          serverIp: IP,
          httpsUrl: 'https://chat.example.com/',
          wsUrl: 'wss://chat.example.com/ws',
          provider,
          tier,
        });
        for (const o of Object.values(raw)) expect(await outputIsSecret(o)).toBe(false);
        // No secret value shows up in any stack output.
        expect(JSON.stringify(outputs)).not.toMatch(/secret-token/);

        if (provider === 'beget') {
          const server = registered.find((r) => r.type === 'pulumi-nodejs:dynamic/messenger-infra:BegetServer');
          expect(server).toBeDefined();
          const { __provider, ...inputs } = server?.inputs ?? {};
          expect(inputs).toEqual({
            apiUrl: 'https://api.beget.com',
            region: 'ru1',
            os: 'debian13',
            hostname: 'chat.example.com',
            sshPublicKey: KEY,
            cpuCount: t.vcpu.min,
            memoryMb: t.ramMb,
            diskMb: t.diskGb * 1024,
            description: `messenger-infra test (${tier})`,
            pollIntervalMs: 5_000,
            pollTimeoutMs: 15 * 60_000,
          });
          // No credential among the inputs, nor in the provider code serialized for the engine.
          expect(JSON.stringify(inputs)).not.toContain(BEGET_ENV_TOKEN);
          expect(typeof __provider).toBe('string');
          expect(String(__provider)).not.toContain(BEGET_ENV_TOKEN);
          expect(registered.map((r) => r.type)).toEqual(['pulumi-nodejs:dynamic/messenger-infra:BegetServer']);
        }

        if (provider === 'hcloud') {
          const server = registered.find((r) => r.type === 'hcloud:index/server:Server');
          const key = registered.find((r) => r.type === 'hcloud:index/sshKey:SshKey');
          const prov = registered.find((r) => r.type === 'pulumi:providers:hcloud');
          const type = HCLOUD_SERVER_TYPES[tier];
          expect(server?.inputs).toMatchObject({ serverType: type.serverType, location: 'nbg1', image: 'debian-12', name: 'chat.example.com' });
          // Same RAM as the tier, vCPUs inside the tier's range.
          expect(type.ramMb).toBe(t.ramMb);
          expect(type.vcpu).toBeGreaterThanOrEqual(t.vcpu.min);
          expect(type.vcpu).toBeLessThanOrEqual(t.vcpu.max);
          expect(type.diskGb).toBeGreaterThanOrEqual(t.diskGb);
          // The server gets the registered key's id.
          expect(key?.inputs.publicKey).toBe(KEY);
          expect(server?.inputs.sshKeys).toEqual([`${key?.name}-id`]);
          expect(isWireSecret(prov?.inputs.token)).toBe(true);
          expect(JSON.stringify(server?.inputs)).not.toContain('hcloud-secret-token');
        }

        if (provider === 'existing') {
          // Nothing is created for an existing server.
          expect(registered).toEqual([]);
        }
        // Without an SSH private key in the config, no host setup is declared.
        expect(registered.some((r) => r.type.includes('HostSetup'))).toBe(false);
      });
    }
  }
});

describe('host setup resource wiring', () => {
  it('registers HostSetup with the server IP, the config and a secret private key', async () => {
    const config = {
      ...baseConfig('beget', 'growth'),
      sshPrivateKey: PRIVATE_KEY,
      sshPort: '2222',
      knownHosts: `[${IP}]:2222 ssh-ed25519 AAAAhostkey`,
      acmeServer: 'https://127.0.0.1:14000/dir',
      renderedDigest: 'sha256:abc123',
    };
    const { registered } = await run(config);
    const hs = registered.find((r) => r.type === 'pulumi-nodejs:dynamic/messenger-infra:HostSetup');
    expect(hs).toBeDefined();
    const { __provider, sshPrivateKey, ...rest } = hs?.inputs ?? {};
    expect(rest).toEqual({
      host: IP,
      sshPort: 2222,
      sshUser: 'root',
      knownHosts: `[${IP}]:2222 ssh-ed25519 AAAAhostkey`,
      tier: 'growth',
      domain: 'chat.example.com',
      email: 'admin@example.com',
      acmeServer: 'https://127.0.0.1:14000/dir',
      renderedDigest: 'sha256:abc123',
    });
    expect(isWireSecret(sshPrivateKey)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(sshPrivateKey)).toBe(PRIVATE_KEY);
    // The serialized provider points at the executor module by absolute URL and holds no key material.
    expect(String(__provider)).toContain(HOST_SETUP_API_URL);
    expect(String(__provider)).not.toContain('OPENSSH PRIVATE KEY');
  });
});

describe('secrets from the CLI in memory (up --provider), never in the stack config', () => {
  it('the Hetzner token and the SSH private key reach their resources as secrets with no config key set', async () => {
    const { hcloudToken: _t, ...config } = baseConfig('hcloud', 'mvp');
    const { registered } = await run(config, { hcloudToken: 'in-memory-token', sshPrivateKey: PRIVATE_KEY });
    const prov = registered.find((r) => r.type === 'pulumi:providers:hcloud');
    expect(isWireSecret(prov?.inputs.token)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(prov?.inputs.token)).toBe('in-memory-token');
    const hs = registered.find((r) => r.type === 'pulumi-nodejs:dynamic/messenger-infra:HostSetup');
    expect(isWireSecret(hs?.inputs.sshPrivateKey)).toBe(true);
    expect(pulumi.runtime.unwrapRpcSecret(hs?.inputs.sshPrivateKey)).toBe(PRIVATE_KEY);
    expect(JSON.stringify(registered.filter((r) => r.type !== 'pulumi:providers:hcloud' && !r.type.includes('HostSetup')))).not.toContain('in-memory-token');
  });
});

describe('stack config validation', () => {
  async function configError(config: Record<string, string>): Promise<string> {
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: 'x', state: a.inputs }), call: (a) => a.inputs }, 'messenger-infra', 'test', false);
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) all[`messenger-infra:${k}`] = v;
    pulumi.runtime.setAllConfig(all, SECRET_KEYS.filter((k) => k in config).map((k) => `messenger-infra:${k}`));
    try {
      readInfraConfig();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('MI_ERR_CONFIG');
      const message = (err as Error).message;
      expect(message).not.toContain('\n');
      return message;
    }
    throw new Error('expected a config error');
  }

  it('a bad tier is one line naming the field and the fix', async () => {
    expect(await configError({ ...baseConfig('beget', 'mvp'), tier: 'huge' })).toBe(
      'stack config "tier": must be one of mvp, growth, scale (got "huge"); fix: pulumi config set tier mvp',
    );
  });

  it('names each missing or malformed field', async () => {
    expect(await configError({ ...baseConfig('beget', 'mvp'), provider: 'aws' })).toMatch(/^stack config "provider": must be one of beget, hcloud, existing/);
    expect(await configError({ ...baseConfig('beget', 'mvp'), os: 'windows' })).toBe(
      'stack config "os": must be one of debian13, debian12, ubuntu2404, ubuntu2204 (got "windows"); fix: pulumi config set os debian13',
    );
    expect(await configError({ ...baseConfig('hcloud', 'mvp'), sshPublicKey: 'not-a-key' })).toMatch(/^stack config "sshPublicKey": must be an OpenSSH public key line/);
    expect(await configError({ ...baseConfig('beget', 'mvp'), domain: 'localhost' })).toMatch(/^stack config "domain": must be a fully qualified domain name/);
    expect(await configError({ ...baseConfig('beget', 'mvp'), email: 'nobody' })).toMatch(/^stack config "email"/);
    // The stack file's rules (src/config/schema.ts): a numeric top-level label is no domain, an e-mail needs one.
    expect(await configError({ ...baseConfig('beget', 'mvp'), domain: 'chat.example.123' })).toMatch(/^stack config "domain": must be a fully qualified domain name/);
    expect(await configError({ ...baseConfig('beget', 'mvp'), email: 'ops@example.123' })).toMatch(/^stack config "email": must be an e-mail address/);
    const noAddress = baseConfig('existing', 'mvp');
    delete noAddress.serverAddress;
    expect(await configError(noAddress)).toMatch(/^stack config "serverAddress": is required for provider "existing"/);
    expect(await configError({ ...baseConfig('beget', 'mvp'), begetApiUrl: 'ftp://x' })).toMatch(/^stack config "begetApiUrl"/);
  });

  it('Beget: os, a custom image and the configuration group reach the provider', async () => {
    const { registered } = await run({ ...baseConfig('beget', 'mvp'), os: 'ubuntu2404', image: 'img-custom-1', begetConfigurationGroup: 'high_cpu' });
    const server = registered.find((r) => r.type.endsWith(':BegetServer'));
    expect(server?.inputs).toMatchObject({ os: 'ubuntu2404', imageId: 'img-custom-1', configurationGroup: 'high_cpu' });
  });

  it('begetApiUrl points the Beget provider at another base URL', async () => {
    const { registered } = await run({ ...baseConfig('beget', 'mvp'), begetApiUrl: 'http://127.0.0.1:9/' });
    const server = registered.find((r) => r.type.endsWith(':BegetServer'));
    expect(server?.inputs.apiUrl).toBe('http://127.0.0.1:9');
  });
});

describe('several servers on a private network (a stack with servers and hosts)', () => {
  it('hcloud: one network, one subnet in the location\'s zone, each server with its fixed private address', async () => {
    const { registered, outputs } = await run({ ...baseConfig('hcloud', 'mvp'), servers: 'web,db' });
    const of = (type: string) => registered.filter((r) => r.type === type);
    expect(of('hcloud:index/network:Network').map((r) => r.inputs)).toEqual([expect.objectContaining({ ipRange: '10.0.0.0/16' })]);
    expect(of('hcloud:index/networkSubnet:NetworkSubnet').map((r) => r.inputs)).toEqual([expect.objectContaining({ type: 'cloud', networkZone: 'eu-central', ipRange: '10.0.1.0/24' })]);
    const servers = of('hcloud:index/server:Server');
    expect(servers.map((r) => [r.name, r.inputs.name, (r.inputs.networks as { ip: string }[])[0]?.ip])).toEqual([
      ['server-web', 'web.chat.example.com', '10.0.1.2'],
      ['server-db', 'db.chat.example.com', '10.0.1.3'],
    ]);
    // One SSH key for both; the edge (the first) is the stack's serverIp.
    expect(of('hcloud:index/sshKey:SshKey')).toHaveLength(1);
    expect(outputs).toMatchObject({ serverIp: IP, servers: { web: { host: IP, privateAddress: '10.0.1.2' }, db: { host: IP, privateAddress: '10.0.1.3' } } });
    expect(JSON.stringify(outputs)).not.toMatch(/secret-token/);
  });

  it('refuses what it cannot declare, naming the key and the fix', async () => {
    async function problem(config: Record<string, string>): Promise<string> {
      try {
        await run(config);
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      }
    }
    expect(await problem({ ...baseConfig('beget', 'mvp'), servers: 'web,db' })).toMatch(/^stack config "servers": takes provider hcloud for now \(beget: no private network/);
    expect(await problem({ ...baseConfig('hcloud', 'mvp'), servers: 'web' })).toMatch(/^stack config "servers": must name at least two servers/);
    expect(await problem({ ...baseConfig('hcloud', 'mvp'), servers: 'web,Web' })).toMatch(/^stack config "servers": "Web" must be a short name/);
    expect(await problem({ ...baseConfig('hcloud', 'mvp'), servers: 'web,web' })).toMatch(/^stack config "servers": names a server twice/);
    expect(await problem({ ...baseConfig('hcloud', 'mvp'), servers: 'web,db', region: 'xyz1' })).toMatch(/^stack config "region": "xyz1" has no known network zone/);
    expect(await problem({ ...baseConfig('hcloud', 'mvp'), servers: 'web,db', sshPrivateKey: PRIVATE_KEY })).toMatch(/^stack config "sshPrivateKey": sets up one server/);
  });
});
