import * as pulumi from '@pulumi/pulumi';
import type { TierName } from '../src/core/tiers.js';
import { InfraError } from './errors.js';
import { nativeImport } from './native-import.js';

/**
 * Host setup as a Pulumi dynamic resource: it drives the same executor as `messenger-infra up`
 * (src/executor/host-setup-api.ts, owned by the executor), so `pulumi preview` asks the executor for
 * a plan and `pulumi up` converges the host. `renderedDigest` is a digest of the rendered configs and
 * versions, so a changed template is a diff even when the host has not drifted.
 *
 * Nothing here knows how to set up a host: the executor module is imported lazily inside the
 * provider methods, so this program loads (and its tests run) without it.
 */
export interface HostSetupInput {
  host: string;
  sshPort: number;
  sshUser: string;
  sshPrivateKey: string;
  knownHosts: string;
  tier: TierName;
  domain: string;
  email: string;
  acmeServer: string;
  /** PEM of a private ACME CA the host's certbot must trust (e.g. a staging or in-house CA); optional. */
  acmeCaBundle?: string;
  renderedDigest: string;
}

export interface HostSetupApi {
  planHostSetup(input: HostSetupInput): Promise<{ changes: string[] }>;
  applyHostSetup(input: HostSetupInput): Promise<{ changed: number; ok: number; failed: number; hostKey: string }>;
}

export interface HostSetupOutputs extends HostSetupInput {
  changed: number;
  ok: number;
  failed: number;
  /**
   * The known_hosts line of the key the host presented when it was set up. A server Pulumi has just
   * created is trusted on first use; from then on this recorded key is pinned (a different key is
   * MI_ERR_SSH_HOSTKEY_MISMATCH), unless the stack gives knownHosts itself.
   */
  hostKey?: string;
}

const INPUT_KEYS = [
  'host',
  'sshPort',
  'sshUser',
  'sshPrivateKey',
  'knownHosts',
  'tier',
  'domain',
  'email',
  'acmeServer',
  'acmeCaBundle',
  'renderedDigest',
] as const satisfies readonly (keyof HostSetupInput)[];

/**
 * Absolute URL of the executor's module, fixed when this file loads so the serialized provider finds
 * it from any cwd. The dynamic-provider process needs a TypeScript loader (`NODE_OPTIONS=--import
 * tsx`, which runCloudUp sets) for nativeImport to load the .ts module.
 */
export const HOST_SETUP_API_URL = new URL('../src/executor/host-setup-api.ts', import.meta.url).href;

/** The engine's "not known yet" placeholder (e.g. the IP of a server still to be created). */
const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

function pick(props: HostSetupInput): HostSetupInput {
  const out: Record<string, unknown> = {};
  for (const key of INPUT_KEYS) {
    const value: unknown = props[key];
    // Secrets can arrive still wrapped in their RPC envelope.
    out[key] = value && typeof value === 'object' && '4dabf18193072939515e22adb298388d' in value ? (value as unknown as { value: unknown }).value : value;
  }
  return out as unknown as HostSetupInput;
}

/**
 * The input with the key recorded at creation as its known_hosts, when the stack gives none and the
 * address is the same server's (a new address is a new server: trusted on first use again).
 */
function pinned(input: HostSetupInput, olds: HostSetupOutputs | undefined): HostSetupInput {
  const recorded = olds?.hostKey?.trim().split(/\s+/);
  if (input.knownHosts.trim() !== '' || !olds || !recorded || recorded.length < 3 || pick(olds).host !== input.host) return input;
  // The key, for the address and SSH port as they are now (a changed sshPort is the same server).
  const [, type, key] = recorded;
  const pattern = input.sshPort === 22 ? input.host : `[${input.host}]:${input.sshPort}`;
  return { ...input, knownHosts: `${pattern} ${type} ${key}\n` };
}

export class HostSetupProvider implements pulumi.dynamic.ResourceProvider<HostSetupInput, HostSetupOutputs> {
  /** `loadApi` is for tests that run inside a module-rewriting runner; the program uses the default. */
  constructor(private readonly loadApi?: () => Promise<HostSetupApi>) {}

  private async api(): Promise<HostSetupApi> {
    let mod: Partial<HostSetupApi>;
    try {
      mod = (await (this.loadApi ? this.loadApi() : nativeImport(HOST_SETUP_API_URL))) as Partial<HostSetupApi>;
    } catch (err) {
      throw new InfraError('MI_ERR_HOST_SETUP_UNAVAILABLE', `host setup executor not loadable (${HOST_SETUP_API_URL}): ${(err as Error).message}`);
    }
    if (typeof mod.planHostSetup !== 'function' || typeof mod.applyHostSetup !== 'function') {
      throw new InfraError('MI_ERR_HOST_SETUP_UNAVAILABLE', `host setup executor ${HOST_SETUP_API_URL} does not export planHostSetup and applyHostSetup`);
    }
    return mod as HostSetupApi;
  }

  private async apply(input: HostSetupInput, olds?: HostSetupOutputs): Promise<HostSetupOutputs> {
    const result = await (await this.api()).applyHostSetup(pinned(input, olds));
    if (result.failed > 0) {
      throw new InfraError('MI_ERR_HOST_SETUP', `host setup on ${input.host}: ${result.failed} step(s) failed (${result.changed} changed, ${result.ok} ok)`);
    }
    return { ...input, changed: result.changed, ok: result.ok, failed: result.failed, hostKey: result.hostKey };
  }

  async diff(_id: string, oldsRaw: HostSetupOutputs, newsRaw: HostSetupInput): Promise<pulumi.dynamic.DiffResult> {
    const olds = pick(oldsRaw);
    const news = pick(newsRaw);
    const changedInputs = INPUT_KEYS.filter((k) => olds[k] !== news[k]);
    if (changedInputs.length > 0) return { changes: true };
    // Inputs equal: ask the host itself, so drift made by hand shows up in `pulumi preview`.
    if (news.host === UNKNOWN) return { changes: true };
    const plan = await (await this.api()).planHostSetup(pinned(news, oldsRaw));
    return { changes: plan.changes.length > 0 };
  }

  async create(inputs: HostSetupInput): Promise<pulumi.dynamic.CreateResult<HostSetupOutputs>> {
    const input = pick(inputs);
    const outs = await this.apply(input);
    return { id: `${input.sshUser}@${input.host}:${input.sshPort}`, outs };
  }

  async update(_id: string, olds: HostSetupOutputs, news: HostSetupInput): Promise<pulumi.dynamic.UpdateResult<HostSetupOutputs>> {
    return { outs: await this.apply(pick(news), olds) };
  }

  // delete: nothing to undo on the host; the server itself goes with its own resource.
}

type HostSetupArgs = { [K in keyof HostSetupInput]: pulumi.Input<HostSetupInput[K]> };

export class HostSetup extends pulumi.dynamic.Resource {
  declare readonly host: pulumi.Output<string>;
  declare readonly sshPrivateKey: pulumi.Output<string>;
  declare readonly renderedDigest: pulumi.Output<string>;
  declare readonly changed: pulumi.Output<number>;
  declare readonly ok: pulumi.Output<number>;
  declare readonly failed: pulumi.Output<number>;
  declare readonly hostKey: pulumi.Output<string>;

  constructor(name: string, args: HostSetupArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      new HostSetupProvider(),
      name,
      { changed: undefined, ok: undefined, failed: undefined, hostKey: undefined, ...args },
      { ...opts, additionalSecretOutputs: ['sshPrivateKey'] },
      'messenger-infra',
      'HostSetup',
    );
  }
}
