import { InfraError } from '../errors.js';
import { BegetSession, type BegetCredentials } from './beget-auth.js';
import { describe, sendJson, sleep } from './beget-http.js';
import type {
  BusinessError,
  ConfigurationGroup,
  ConfigurationParams,
  ConfiguratorInfo,
  CreateVpsRequest,
  RegionInfo,
  SoftwareInfo,
  SshKeyInfo,
  VpsConfiguration,
  VpsInfo,
} from './beget-models.js';

/**
 * A small client for Beget's cloud-server API (https://api.beget.com), its paths and fields as in
 * LTD-Beget/openapi-vps-go api/openapi.yaml v1.8.0 (see beget-models.ts).
 *
 * The spec declares only HTTP 200, with business errors in an `error {code, message}` member; the
 * handling of 401/404/4xx/5xx below is assumed (grpc-gateway conventions) and kept. Only reads and
 * the (repeatable) removal are retried: a create whose reply was lost is never sent again, the
 * provider looks the server up by name instead.
 *
 * Serialized into the Pulumi dynamic provider: only globals and imported functions, no module
 * objects captured.
 */
export interface BegetApiOptions {
  baseUrl: string;
  credentials: BegetCredentials;
  /** Delay between status polls and between retries of 429/5xx. */
  pollIntervalMs: number;
  /** Upper bound on one wait for a status. */
  pollTimeoutMs: number;
  requestTimeoutMs?: number;
}

/** Page size used when walking GET /v1/vps/server/list (the spec declares no cap). */
export const BEGET_PAGE_SIZE = 50;

/** Attempts for a retried request when the API answers 429 or 502-504. */
const ATTEMPTS = 3;

/** The Beget error code (`error.code`) an InfraError carries, if any. */
export function begetCode(err: unknown): string | undefined {
  return err instanceof InfraError ? (err.details.begetCode as string | undefined) : undefined;
}

/**
 * A failure whose outcome is unknown and may pass: the API unreachable (network error, timeout) or
 * an HTTP 5xx. A 4xx or a business error code is a definite answer and is not transient.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof InfraError)) return false;
  if (err.code === 'MI_ERR_BEGET_UNREACHABLE') return true;
  const status = err.details.httpStatus;
  return err.code === 'MI_ERR_BEGET_API' && typeof status === 'number' && status >= 500;
}

function businessError(where: string, error: BusinessError): InfraError {
  const code = error.code ?? 'ERROR';
  const funds = error.insufficient_funds_error;
  if (code === 'INSUFFICIENT_FUNDS') {
    const amounts = funds ? ` (needs ${funds.needed_balance ?? '?'}, balance ${funds.current_balance ?? '?'})` : '';
    return new InfraError('MI_ERR_BEGET_FUNDS', `Beget: not enough money on the balance for ${where}${amounts}; fix: top up the Beget balance and run again`, { begetCode: code });
  }
  return new InfraError('MI_ERR_BEGET_API', `Beget API refused ${where}: ${code}: ${error.message ?? ''}`.trim(), { begetCode: code });
}

export class BegetApi {
  readonly session: BegetSession;

  constructor(readonly opts: BegetApiOptions) {
    this.session = new BegetSession(opts, opts.credentials);
  }

  /**
   * One call with the session's token. `retry` (reads and removal) allows resending after 429/5xx
   * and after a renewed token; without it the request goes out exactly once.
   */
  async request<T>(method: string, path: string, body?: unknown, retry = method === 'GET'): Promise<T> {
    const where = `${method} ${path.split('?')[0]}`;
    let token = await this.session.token();
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const { status, json } = await sendJson(this.opts, method, path, body, token);
      if (retry && (status === 429 || (status >= 502 && status <= 504)) && attempt < ATTEMPTS) {
        await sleep(this.opts.pollIntervalMs);
        continue;
      }
      if (retry && status === 401 && !renewed) {
        token = await this.session.renew(token);
        renewed = true;
        continue;
      }
      if (status === 401 || status === 403) {
        throw new InfraError(
          'MI_ERR_BEGET_AUTH',
          `Beget API rejected the token (HTTP ${status} ${where}): ${describe(json)}; fix: export a fresh BEGET_TOKEN, or BEGET_LOGIN and BEGET_PASSWORD`,
        );
      }
      if (status === 404) throw new InfraError('MI_ERR_BEGET_NOT_FOUND', `Beget API: not found (${where}): ${describe(json)}`);
      if (status === 400 || status === 422) throw new InfraError('MI_ERR_BEGET_INVALID', `Beget API rejected the request (HTTP ${status} ${where}): ${describe(json)}`);
      if (status !== 200) throw new InfraError('MI_ERR_BEGET_API', `Beget API error (HTTP ${status} ${where}): ${describe(json)}`, { httpStatus: status });
      const error = (json as { error?: BusinessError }).error;
      if (error && (error.code || error.message)) throw businessError(where, error);
      return json as T;
    }
  }

  async listRegions(): Promise<RegionInfo[]> {
    return (await this.request<{ regions?: RegionInfo[] }>('GET', '/v1/vps/region')).regions ?? [];
  }

  async getConfigurations(): Promise<{ configurations: VpsConfiguration[]; configurationGroups: ConfigurationGroup[] }> {
    const res = await this.request<{ configurations?: VpsConfiguration[]; configuration_groups?: ConfigurationGroup[] }>('GET', '/v1/vps/configuration');
    return { configurations: res.configurations ?? [], configurationGroups: res.configuration_groups ?? [] };
  }

  async configuratorInfo(region: string | undefined, group: string | undefined): Promise<ConfiguratorInfo> {
    const query = new URLSearchParams({ ...(region ? { region } : {}), ...(group ? { configuration_group: group } : {}) }).toString();
    return this.request<ConfiguratorInfo>('GET', `/v1/vps/configurator/info${query ? `?${query}` : ''}`);
  }

  async listSoftware(): Promise<SoftwareInfo[]> {
    return (await this.request<{ software?: SoftwareInfo[] }>('GET', '/v1/vps/marketplace/software/list')).software ?? [];
  }

  /** Walks GET /v1/vps/server/list page by page (offset/limit, total_count). Removed, archived servers included. */
  async listServers(): Promise<VpsInfo[]> {
    const all: VpsInfo[] = [];
    for (let offset = 0; offset < 100_000; offset += BEGET_PAGE_SIZE) {
      const page = await this.request<{ vps?: VpsInfo[]; total_count?: number }>('GET', `/v1/vps/server/list?offset=${offset}&limit=${BEGET_PAGE_SIZE}`);
      const items = page.vps ?? [];
      all.push(...items);
      if (items.length === 0 || all.length >= (page.total_count ?? 0)) break;
    }
    return all;
  }

  /** The server as Beget reports it (REMOVED and archived ones too); undefined on a 404, which the spec does not declare. */
  async getServer(id: string): Promise<VpsInfo | undefined> {
    try {
      return (await this.request<{ vps?: VpsInfo }>('GET', `/v1/vps/server/${encodeURIComponent(id)}`)).vps;
    } catch (err) {
      if (err instanceof InfraError && err.code === 'MI_ERR_BEGET_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Sent exactly once: not idempotent (a resend could make and bill a second server). */
  async createServer(req: CreateVpsRequest): Promise<VpsInfo> {
    const res = await this.request<{ vps?: VpsInfo }>('POST', '/v1/vps/server', req, false);
    if (!res.vps?.id) throw new InfraError('MI_ERR_BEGET_API', 'Beget API: POST /v1/vps/server returned no server id');
    return res.vps;
  }

  async changeConfiguration(id: string, change: { configuration_id: string } | { configuration_params: ConfigurationParams }): Promise<VpsInfo | undefined> {
    return (await this.request<{ vps?: VpsInfo }>('PUT', `/v1/vps/server/${encodeURIComponent(id)}/configuration`, { id, ...change }, false)).vps;
  }

  /**
   * Removes the server and its public address (`ip_action: DELETE`, sent explicitly so no address is
   * left billed on the account). A server already being removed, or already removed, is success.
   */
  async removeServer(id: string): Promise<void> {
    try {
      await this.request('POST', `/v1/vps/server/${encodeURIComponent(id)}/remove`, { id, ip_action: 'DELETE' }, true);
    } catch (err) {
      const code = begetCode(err);
      if (code === 'ALREADY_REMOVING') return;
      if (err instanceof InfraError && err.code === 'MI_ERR_BEGET_NOT_FOUND') return;
      if (code === 'INVALID_STATE') {
        // A repeated delete meets a server that is REMOVED (or archived): nothing left to do.
        const vps = await this.getServer(id);
        if (!vps || vps.archived === true || vps.status === 'REMOVED' || vps.status === 'REMOVING') return;
      }
      throw err;
    }
  }

  async listSshKeys(): Promise<SshKeyInfo[]> {
    return (await this.request<{ keys?: SshKeyInfo[] }>('GET', '/v1/vps/sshKey')).keys ?? [];
  }

  async addSshKey(name: string, publicKey: string): Promise<SshKeyInfo> {
    const added = await this.request<{ key?: SshKeyInfo }>('POST', '/v1/vps/sshKey', { name, public_key: publicKey }, false);
    if (!added.key) throw new InfraError('MI_ERR_BEGET_API', 'Beget API: POST /v1/vps/sshKey returned no key');
    return added.key;
  }
}
