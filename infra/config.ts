import * as pulumi from '@pulumi/pulumi';
import { isDnsName, isEmail, isHostname } from '../src/config/schema.js';
import { OS_IDS, type OsId } from '../src/core/os-profiles.js';
import { TIER_NAMES, isTierName, type TierName } from '../src/core/tiers.js';
import { configError } from './errors.js';

/**
 * The typed stack config of the Pulumi program (`pulumi config set KEY VALUE`, namespace
 * `messenger-infra`). Everything is validated here, at load time, so a bad value fails before any
 * resource is touched, with one line naming the key and the command that fixes it.
 */
export const PROVIDER_NAMES = ['beget', 'hcloud', 'existing'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const DEFAULT_BEGET_API_URL = 'https://api.beget.com';
export const DEFAULT_HCLOUD_IMAGE = 'debian-12';
export const DEFAULT_OS: OsId = 'debian13';
export const DEFAULT_HCLOUD_LOCATION = 'fsn1';
export const DEFAULT_ACME_SERVER = 'https://acme-v02.api.letsencrypt.org/directory';

export interface HostSetupConfig {
  sshUser: string;
  sshPort: number;
  sshPrivateKey: pulumi.Output<string>;
  knownHosts: string;
  acmeServer: string;
  renderedDigest: string;
}

export interface InfraConfig {
  tier: TierName;
  provider: ProviderName;
  /** Provider region/location; undefined lets Beget pick its default. */
  region: string | undefined;
  domain: string;
  email: string;
  sshPublicKey: string;
  /** hcloud image name, or a custom Beget image_id (image API); '' for Beget's marketplace OS. */
  image: string;
  /** The OS a Beget server gets from the marketplace (unless `image` is set). */
  os: OsId;
  /** Beget configuration group (CPU line); undefined = the first Beget lists. */
  begetConfigurationGroup: string | undefined;
  hostname: string;
  /** Only for provider `existing`. */
  serverAddress: string | undefined;
  /** Hetzner's token, a secret. Beget's credentials are not config: they expire, so its provider reads them from the environment (beget-auth.ts). */
  hcloudToken: pulumi.Output<string> | undefined;
  begetApiUrl: string;
  /** Poll settings for the Beget provider; small values in tests, defaults in real use. */
  begetPollIntervalMs: number;
  begetPollTimeoutMs: number;
  /** `allowServerReplace`: a change that would delete and recreate the server is allowed (default: refused). */
  allowServerReplace: boolean;
  /** Present when `sshPrivateKey` is set: the host setup resource is then part of the stack. */
  hostSetup: HostSetupConfig | undefined;
  /**
   * `servers`: names of several servers on a private network (a stack with servers and hosts), the
   * first one the edge; undefined: one server.
   */
  servers: string[] | undefined;
}

const SSH_KEY_RE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;

function set(key: string, example: string): string {
  return `pulumi config set ${key} ${example}`;
}

function required(cfg: pulumi.Config, key: string, example: string): string {
  const value = cfg.get(key);
  if (value === undefined || value.trim() === '') throw configError(key, 'is required', set(key, example));
  return value.trim();
}

function positiveInt(cfg: pulumi.Config, key: string, fallback: number): number {
  const raw = cfg.get(key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw configError(key, `must be a positive integer (got "${raw}")`, set(key, String(fallback)));
  return n;
}

/**
 * Secrets the inline program gets from the CLI in memory (`up --provider`), never through the stack's
 * config: Pulumi sets config with `pulumi config set-all --secret KEY=VALUE`, a command line any
 * user's `ps` shows. The `pulumi` CLI (infra/index.ts) still reads them from its config.
 */
export interface ProgramSecrets {
  hcloudToken?: string;
  sshPrivateKey?: string;
}

function secret(cfg: pulumi.Config, key: string, when: boolean, example: string, given?: string): pulumi.Output<string> | undefined {
  if (given !== undefined) return pulumi.secret(given);
  // getSecret, not get: reading a secret key in plain text makes Pulumi warn and risks a leak.
  const value = cfg.getSecret(key);
  if (!when) return value;
  if (value === undefined) throw configError(key, 'is required for this provider', `pulumi config set --secret ${key} ${example}`);
  return cfg.requireSecret(key);
}

/** Reads and validates the stack config; throws an InfraError (code MI_ERR_CONFIG) on the first bad key. */
export function readInfraConfig(cfg: pulumi.Config = new pulumi.Config('messenger-infra'), secrets: ProgramSecrets = {}): InfraConfig {
  const tier = required(cfg, 'tier', 'mvp');
  if (!isTierName(tier)) throw configError('tier', `must be one of ${TIER_NAMES.join(', ')} (got "${tier}")`, set('tier', 'mvp'));

  const provider = required(cfg, 'provider', 'beget');
  if (!(PROVIDER_NAMES as readonly string[]).includes(provider)) {
    throw configError('provider', `must be one of ${PROVIDER_NAMES.join(', ')} (got "${provider}")`, set('provider', 'beget'));
  }
  const providerName = provider as ProviderName;

  const domain = required(cfg, 'domain', 'chat.example.com').toLowerCase();
  // The same rules as the stack file's (src/config/schema.ts), in this program's message format.
  if (!isHostname(domain)) {
    throw configError('domain', `must be a fully qualified domain name (got "${domain}")`, set('domain', 'chat.example.com'));
  }
  const email = required(cfg, 'email', 'admin@example.com');
  if (!isEmail(email)) throw configError('email', `must be an e-mail address (got "${email}")`, set('email', 'admin@example.com'));

  const cloud = providerName !== 'existing';
  let sshPublicKey = cfg.get('sshPublicKey')?.trim() ?? '';
  if (cloud && sshPublicKey === '') throw configError('sshPublicKey', 'is required to create a server', 'pulumi config set sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"');
  if (sshPublicKey !== '' && !SSH_KEY_RE.test(sshPublicKey)) {
    throw configError('sshPublicKey', 'must be an OpenSSH public key line ("ssh-ed25519 AAAA... comment")', 'pulumi config set sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"');
  }
  sshPublicKey = sshPublicKey.replace(/\s+/g, ' ');

  const hostname = (cfg.get('hostname') ?? domain).toLowerCase();
  if (!isDnsName(hostname)) throw configError('hostname', `must be a valid host name (got "${hostname}")`, set('hostname', 'chat-1'));

  let image = cfg.get('image');
  if (image === undefined && providerName === 'hcloud') image = DEFAULT_HCLOUD_IMAGE;
  // Beget: the stock OS comes from its marketplace by name and version; `image` is a custom image only.
  const os = cfg.get('os') ?? DEFAULT_OS;
  if (!(OS_IDS as readonly string[]).includes(os)) throw configError('os', `must be one of ${OS_IDS.join(', ')} (got "${os}")`, set('os', DEFAULT_OS));

  let region = cfg.get('region');
  if (region === undefined && providerName === 'hcloud') region = DEFAULT_HCLOUD_LOCATION;

  const serverAddress = cfg.get('serverAddress');
  if (providerName === 'existing' && (serverAddress === undefined || serverAddress.trim() === '')) {
    throw configError('serverAddress', 'is required for provider "existing"', set('serverAddress', '203.0.113.10'));
  }

  const begetApiUrl = cfg.get('begetApiUrl') ?? DEFAULT_BEGET_API_URL;
  try {
    const url = new URL(begetApiUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw configError('begetApiUrl', `must be an http(s) URL (got "${begetApiUrl}")`, set('begetApiUrl', DEFAULT_BEGET_API_URL));
  }

  return {
    tier,
    provider: providerName,
    region,
    domain,
    email,
    sshPublicKey,
    image: image ?? '',
    os: os as OsId,
    begetConfigurationGroup: cfg.get('begetConfigurationGroup'),
    hostname,
    serverAddress: serverAddress?.trim(),
    hcloudToken: secret(cfg, 'hcloudToken', providerName === 'hcloud', '<token>', secrets.hcloudToken),
    begetApiUrl: begetApiUrl.replace(/\/+$/, ''),
    begetPollIntervalMs: positiveInt(cfg, 'begetPollIntervalMs', 5_000),
    begetPollTimeoutMs: positiveInt(cfg, 'begetPollTimeoutMs', 15 * 60_000),
    allowServerReplace: cfg.getBoolean('allowServerReplace') ?? false,
    hostSetup: readHostSetup(cfg, secrets.sshPrivateKey),
    servers: readServers(cfg, providerName, secrets),
  };
}

/** The stack file's rule for a server name (src/config/schema.ts), so the two always agree. */
const SERVER_NAME = /^[a-z][a-z0-9-]{0,30}$/;

function readServers(cfg: pulumi.Config, provider: ProviderName, secrets: ProgramSecrets): string[] | undefined {
  const raw = cfg.get('servers');
  if (raw === undefined || raw.trim() === '') return undefined;
  const names = raw.split(',').map((n) => n.trim());
  const example = set('servers', 'web,db');
  const bad = names.find((n) => !SERVER_NAME.test(n));
  if (bad !== undefined) throw configError('servers', `"${bad}" must be a short name of a-z, 0-9 and - like web or db-1`, example);
  if (names.length < 2) throw configError('servers', 'must name at least two servers (one server needs no servers key)', example);
  if (new Set(names).size !== names.length) throw configError('servers', 'names a server twice', example);
  if (provider !== 'hcloud') {
    throw configError('servers', `takes provider hcloud for now (${provider}: no private network this program can declare); create the servers there and list their addresses in the stack's servers section`, set('provider', 'hcloud'));
  }
  if (secrets.sshPrivateKey !== undefined || cfg.getSecret('sshPrivateKey') !== undefined) {
    throw configError('sshPrivateKey', 'sets up one server; several are set up by `messenger-infra up --stack STACK` over SSH once they exist', 'pulumi config rm sshPrivateKey');
  }
  return names;
}

function readHostSetup(cfg: pulumi.Config, given?: string): HostSetupConfig | undefined {
  const sshPrivateKey = given === undefined ? cfg.getSecret('sshPrivateKey') : pulumi.secret(given);
  if (sshPrivateKey === undefined) return undefined;
  const sshPort = positiveInt(cfg, 'sshPort', 22);
  if (sshPort > 65535) throw configError('sshPort', `must be a TCP port (got ${sshPort})`, set('sshPort', '22'));
  return {
    sshUser: cfg.get('sshUser') ?? 'root',
    sshPort,
    sshPrivateKey,
    knownHosts: cfg.get('knownHosts') ?? '',
    acmeServer: cfg.get('acmeServer') ?? DEFAULT_ACME_SERVER,
    renderedDigest: cfg.get('renderedDigest') ?? '',
  };
}
