import { InfraError } from '../errors.js';

/**
 * A small client for Beget's cloud VPS API (https://api.beget.com, bearer token), shaped after the
 * models of the public OpenAPI client LTD-Beget/openapi-vps-php (ManageCreateVpsRequest,
 * ManageVpsInfo, ManageGetListResponse, SshKeyAddRequest...).
 *
 * This file is serialized into the Pulumi dynamic provider (closure serialization), so it only
 * uses globals (fetch, crypto, setTimeout) and InfraError: no module imports inside the methods.
 *
 * Units: `memory` and `disk_size` are taken to be MiB, as in Beget's configurator; the published
 * models do not state the unit.
 */

/** ManageVpsInfo.status values from the published model. */
export type BegetVpsStatus =
  | 'UNKNOWN'
  | 'CREATING'
  | 'RUNNING'
  | 'STOPPING'
  | 'RESTARTING'
  | 'REMOVING'
  | 'REMOVED'
  | 'STOPPED'
  | 'STARTING'
  | 'RECONFIGURING'
  | 'REINSTALLING';

export interface BegetConfigurationParams {
  cpu_count: number;
  memory: number;
  disk_size: number;
}

export interface BegetVpsConfiguration extends Partial<BegetConfigurationParams> {
  id?: string;
  name?: string;
  available?: boolean;
  custom?: boolean;
  configurable?: boolean;
  region?: string;
}

export interface BegetVpsInfo {
  id: string;
  hostname?: string;
  display_name?: string;
  description?: string;
  status?: BegetVpsStatus;
  ip_address?: string;
  region?: string;
  configuration?: BegetVpsConfiguration;
  ssh_keys?: BegetSshKeyInfo[];
}

export interface BegetSshKeyInfo {
  id: number;
  name?: string;
  fingerprint?: string;
}

export interface BegetRegionInfo {
  id: string;
  name?: string;
  available?: boolean;
}

/** ManageCreateVpsRequest, the fields this project sends. */
export interface BegetCreateVpsRequest {
  display_name?: string;
  hostname?: string;
  description?: string;
  configuration_id?: string;
  configuration_params?: BegetConfigurationParams;
  image_id?: string;
  ssh_keys?: number[];
  region?: string;
}

export interface BegetApiOptions {
  baseUrl: string;
  token: string;
  /** Delay between status polls and between retries of 429/5xx. */
  pollIntervalMs: number;
  /** Upper bound on one wait for a status. */
  pollTimeoutMs: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

/** Page size used when walking list endpoints. */
export const BEGET_PAGE_SIZE = 50;

export class BegetApi {
  constructor(private readonly opts: BegetApiOptions) {}

  /** One HTTP call; maps status codes and the models' `error` member to InfraError codes. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.opts.baseUrl.replace(/\/+$/, '') + path;
    const where = `${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000),
        });
      } catch (err) {
        throw new InfraError('MI_ERR_BEGET_UNREACHABLE', `Beget API ${this.opts.baseUrl} unreachable (${where}): ${(err as Error).message}`);
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = text === '' ? {} : JSON.parse(text);
      } catch {
        json = { message: text.slice(0, 200) };
      }
      const message = describe(json);
      // Rate limits and gateway hiccups are retried a bounded number of times; everything else is final.
      if ((res.status === 429 || res.status >= 502) && attempt < 3) {
        await sleep(this.opts.pollIntervalMs);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw new InfraError(
          'MI_ERR_BEGET_AUTH',
          `Beget API rejected the token (HTTP ${res.status} ${where}): ${message}; fix: pulumi config set --secret begetToken <token>`,
        );
      }
      if (res.status === 404) throw new InfraError('MI_ERR_BEGET_NOT_FOUND', `Beget API: not found (${where}): ${message}`);
      if (res.status === 400 || res.status === 422) {
        throw new InfraError('MI_ERR_BEGET_INVALID', `Beget API rejected the request (HTTP ${res.status} ${where}): ${message}`);
      }
      if (!res.ok) throw new InfraError('MI_ERR_BEGET_API', `Beget API error (HTTP ${res.status} ${where}): ${message}`);
      // The models report business errors (INSUFFICIENT_FUNDS, INVALID_HOSTNAME...) in an `error` member of a 200.
      const error = (json as { error?: { code?: string; message?: string } }).error;
      if (error && (error.code || error.message)) {
        throw new InfraError('MI_ERR_BEGET_API', `Beget API refused ${where}: ${error.code ?? 'ERROR'}: ${error.message ?? ''}`.trim());
      }
      return json as T;
    }
  }

  async listRegions(): Promise<BegetRegionInfo[]> {
    return (await this.request<{ regions?: BegetRegionInfo[] }>('GET', '/v1/vps/region')).regions ?? [];
  }

  async listConfigurations(): Promise<BegetVpsConfiguration[]> {
    return (await this.request<{ configurations?: BegetVpsConfiguration[] }>('GET', '/v1/vps/configuration')).configurations ?? [];
  }

  /** Walks GET /v1/vps/server/list page by page (offset/limit, total_count); bounded by the total. */
  async listServers(): Promise<BegetVpsInfo[]> {
    const all: BegetVpsInfo[] = [];
    for (let offset = 0; offset < 100_000; offset += BEGET_PAGE_SIZE) {
      const page = await this.request<{ vps?: BegetVpsInfo[]; total_count?: number }>(
        'GET',
        `/v1/vps/server/list?offset=${offset}&limit=${BEGET_PAGE_SIZE}`,
      );
      const items = page.vps ?? [];
      all.push(...items);
      if (items.length === 0 || all.length >= (page.total_count ?? 0)) break;
    }
    return all;
  }

  async listSshKeys(): Promise<BegetSshKeyInfo[]> {
    return (await this.request<{ keys?: BegetSshKeyInfo[] }>('GET', '/v1/vps/sshKey')).keys ?? [];
  }

  /** Registers the public key once: the name is derived from the key, so a second run finds it. */
  async ensureSshKey(publicKey: string): Promise<BegetSshKeyInfo> {
    const name = await sshKeyName(publicKey);
    const existing = (await this.listSshKeys()).find((key) => key.name === name);
    if (existing) return existing;
    const added = await this.request<{ key?: BegetSshKeyInfo }>('POST', '/v1/vps/sshKey', { name, public_key: publicKey });
    if (!added.key) throw new InfraError('MI_ERR_BEGET_API', 'Beget API: POST /v1/vps/sshKey returned no key');
    return added.key;
  }

  async createServer(req: BegetCreateVpsRequest): Promise<BegetVpsInfo> {
    const res = await this.request<{ vps?: BegetVpsInfo }>('POST', '/v1/vps/server', req);
    if (!res.vps?.id) throw new InfraError('MI_ERR_BEGET_API', 'Beget API: POST /v1/vps/server returned no server id');
    return res.vps;
  }

  /** The server, or undefined when Beget no longer knows it (404 or status REMOVED). */
  async getServer(id: string): Promise<BegetVpsInfo | undefined> {
    try {
      const res = await this.request<{ vps?: BegetVpsInfo }>('GET', `/v1/vps/server/${encodeURIComponent(id)}`);
      return res.vps && res.vps.status !== 'REMOVED' ? res.vps : undefined;
    } catch (err) {
      if (err instanceof InfraError && err.code === 'MI_ERR_BEGET_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async changeConfiguration(id: string, params: BegetConfigurationParams): Promise<void> {
    await this.request('PUT', `/v1/vps/server/${encodeURIComponent(id)}/configuration`, { id, configuration_params: params });
  }

  /** Removes the server; one already gone is fine (delete must be idempotent). */
  async removeServer(id: string): Promise<void> {
    try {
      await this.request('POST', `/v1/vps/server/${encodeURIComponent(id)}/remove`, { id });
    } catch (err) {
      if (err instanceof InfraError && err.code === 'MI_ERR_BEGET_NOT_FOUND') return;
      throw err;
    }
  }

  /** Polls GET /v1/vps/server/{id} until RUNNING with an IPv4, bounded by pollTimeoutMs. */
  async waitUntilRunning(id: string): Promise<BegetVpsInfo & { ip_address: string }> {
    const deadline = Date.now() + this.opts.pollTimeoutMs;
    let last: BegetVpsInfo | undefined;
    for (;;) {
      last = await this.getServer(id);
      if (!last) throw new InfraError('MI_ERR_BEGET_API', `Beget server ${id} disappeared while waiting for it to run`);
      if (last.status === 'RUNNING' && last.ip_address) return last as BegetVpsInfo & { ip_address: string };
      if (Date.now() + this.opts.pollIntervalMs > deadline) break;
      await sleep(this.opts.pollIntervalMs);
    }
    throw new InfraError(
      'MI_ERR_BEGET_TIMEOUT',
      `Beget server ${id} not running after ${Math.round(this.opts.pollTimeoutMs / 1000)} s (last status ${last.status ?? 'unknown'})`,
    );
  }

  /** Polls until the server is gone, bounded by pollTimeoutMs. */
  async waitUntilGone(id: string): Promise<void> {
    const deadline = Date.now() + this.opts.pollTimeoutMs;
    for (;;) {
      const vps = await this.getServer(id);
      if (!vps) return;
      if (Date.now() + this.opts.pollIntervalMs > deadline) {
        throw new InfraError('MI_ERR_BEGET_TIMEOUT', `Beget server ${id} still present after removal (status ${vps.status ?? 'unknown'})`);
      }
      await sleep(this.opts.pollIntervalMs);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The human part of an error body: grpc-gateway style `{code, message}` or the models' `{error: {...}}`. */
function describe(json: unknown): string {
  if (json && typeof json === 'object') {
    const o = json as { message?: unknown; error?: { message?: unknown; code?: unknown } | string };
    if (typeof o.message === 'string' && o.message !== '') return o.message;
    if (typeof o.error === 'string') return o.error;
    if (o.error && typeof o.error.message === 'string') return o.error.message;
  }
  return 'no message';
}

/** `messenger-infra-` plus 12 hex chars of the key's SHA-256: stable, so the key is registered once. */
export async function sshKeyName(publicKey: string): Promise<string> {
  const material = publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(material));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  return `messenger-infra-${hex.slice(0, 12)}`;
}
