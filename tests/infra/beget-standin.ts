import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in of Beget's cloud VPS API, built from the models of the public OpenAPI client
 * LTD-Beget/openapi-vps-php: ManageVpsInfo (status enum UNKNOWN..REINSTALLING), ManageCreateVpsRequest,
 * ManageGetListResponse {vps, total_count} with offset/limit, SshKeyAddRequest/Response,
 * ManageGetRegionListResponse, ManageGetAvailableConfigurationResponse, and business errors in an
 * `error: {code, message}` member (INVALID_HOSTNAME, INSUFFICIENT_FUNDS...). Transport errors use
 * the grpc-gateway shape `{code, message}` with 400/401/404. It listens on 127.0.0.1, port 0.
 */
export interface StandinOptions {
  token: string;
  /** GETs of a new server answered CREATING before it turns RUNNING. */
  pollsUntilRunning?: number;
  /** GETs answered RECONFIGURING after a configuration change. */
  pollsUntilReconfigured?: number;
  /** GETs answered REMOVING after a removal. */
  pollsUntilRemoved?: number;
  /** Answer every create with INSUFFICIENT_FUNDS. */
  insufficientFunds?: boolean;
  /** Answer the next N requests with 503, to exercise retries. */
  failNext503?: number;
}

export interface StandinServer {
  id: string;
  hostname: string;
  display_name: string;
  description: string;
  status: string;
  ip_address: string;
  region: string;
  image_id: string;
  configuration: { id?: string; cpu_count: number; memory: number; disk_size: number };
  ssh_keys: number[];
  /** Remaining GETs before the next status transition. */
  countdown: number;
  next: 'RUNNING' | 'GONE' | null;
}

export interface Standin {
  url: string;
  servers: Map<string, StandinServer>;
  keys: Map<number, { id: number; name: string; public_key: string }>;
  requests: { method: string; path: string; body: unknown }[];
  options: StandinOptions;
  /** Adds a server directly (as if made in the panel), e.g. to fill list pages. */
  seedServer(hostname: string): StandinServer;
  close(): Promise<void>;
}

export const STANDIN_REGIONS = [
  { id: 'ru1', name: 'Санкт-Петербург', name_en: 'Saint Petersburg', country: 'RU', available: true, priority: 1 },
  { id: 'ru2', name: 'Москва', name_en: 'Moscow', country: 'RU', available: true, priority: 2 },
  { id: 'lv1', name: 'Рига', name_en: 'Riga', country: 'LV', available: false, priority: 3 },
];

/** Fixed configurations; growth (2 vCPU / 4 GiB / 40 GiB) exists ready-made, mvp and scale need custom params. */
export const STANDIN_CONFIGURATIONS = [
  { id: 'cfg-1-1', name: 'Start', cpu_count: 1, memory: 1024, disk_size: 10240, available: true, custom: false, configurable: false, region: 'ru1' },
  { id: 'cfg-2-4', name: 'Standard', cpu_count: 2, memory: 4096, disk_size: 40960, available: true, custom: false, configurable: false, region: 'ru1' },
  { id: 'cfg-custom', name: 'Custom', available: true, custom: true, configurable: true, region: 'ru1' },
];

const SSH_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+/;
const HOSTNAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** grpc-gateway style transport error. */
function fail(res: ServerResponse, status: number, grpcCode: number, message: string): void {
  send(res, status, { code: grpcCode, message, details: [] });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  return JSON.parse(text);
}

function isParams(p: unknown): p is { cpu_count: number; memory: number; disk_size: number } {
  const o = p as Record<string, unknown> | undefined;
  return !!o && [o.cpu_count, o.memory, o.disk_size].every((v) => Number.isInteger(v) && (v as number) > 0);
}

export async function startBegetStandin(options: StandinOptions): Promise<Standin> {
  const servers = new Map<string, StandinServer>();
  const keys = new Map<number, { id: number; name: string; public_key: string }>();
  const requests: Standin['requests'] = [];
  let nextServer = 1;
  let nextKey = 100;

  function newServer(hostname: string, region: string, image: string, configuration: StandinServer['configuration'], sshKeys: number[], description = ''): StandinServer {
    const n = nextServer++;
    const server: StandinServer = {
      id: `vps-${String(n).padStart(4, '0')}`,
      hostname,
      display_name: hostname,
      description,
      status: 'CREATING',
      ip_address: '',
      region,
      image_id: image,
      configuration,
      ssh_keys: sshKeys,
      countdown: options.pollsUntilRunning ?? 3,
      next: 'RUNNING',
    };
    servers.set(server.id, server);
    return server;
  }

  function view(s: StandinServer): Record<string, unknown> {
    return {
      id: s.id,
      slug: s.id,
      hostname: s.hostname,
      display_name: s.display_name,
      description: s.description,
      status: s.status,
      ip_address: s.ip_address,
      region: s.region,
      configuration: s.configuration,
      ssh_keys: s.ssh_keys.map((id) => ({ id, name: keys.get(id)?.name ?? '' })),
    };
  }

  /** A GET advances a pending transition by one step, which is how "takes a few polls" is modelled. */
  function tick(s: StandinServer): void {
    if (s.next === null) return;
    if (s.countdown > 0) {
      s.countdown--;
      return;
    }
    if (s.next === 'RUNNING') {
      s.status = 'RUNNING';
      // TEST-NET-2 address: data only, nothing ever connects to it.
      s.ip_address ||= `198.51.100.${Number(s.id.slice(4)) % 250}`;
    } else {
      servers.delete(s.id);
    }
    s.next = null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const method = req.method ?? 'GET';
    let body: unknown;
    try {
      body = await readBody(req);
    } catch {
      return fail(res, 400, 3, 'invalid JSON body');
    }
    requests.push({ method, path: url.pathname + url.search, body });

    if ((options.failNext503 ?? 0) > 0) {
      options.failNext503 = (options.failNext503 ?? 0) - 1;
      return fail(res, 503, 14, 'service unavailable');
    }
    if (req.headers.authorization !== `Bearer ${options.token}`) return fail(res, 401, 16, 'unauthenticated: invalid or expired token');

    const p = url.pathname;
    if (method === 'GET' && p === '/v1/vps/region') return send(res, 200, { regions: STANDIN_REGIONS });
    if (method === 'GET' && p === '/v1/vps/configuration') return send(res, 200, { configurations: STANDIN_CONFIGURATIONS });

    if (method === 'GET' && p === '/v1/vps/server/list') {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 10);
      if (!Number.isInteger(offset) || offset < 0) return fail(res, 400, 3, 'offset must be a non-negative integer');
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return fail(res, 400, 3, 'limit must be between 1 and 100');
      const all = [...servers.values()];
      return send(res, 200, { vps: all.slice(offset, offset + limit).map(view), total_count: all.length });
    }

    if (method === 'GET' && p === '/v1/vps/sshKey') return send(res, 200, { keys: [...keys.values()].map(({ id, name }) => ({ id, name })) });
    if (method === 'POST' && p === '/v1/vps/sshKey') {
      const b = body as { name?: string; public_key?: string } | undefined;
      if (!b?.name) return fail(res, 400, 3, 'name: value is required');
      if (!b.public_key || !SSH_KEY_RE.test(b.public_key)) return fail(res, 400, 3, 'public_key: invalid OpenSSH public key');
      const key = { id: nextKey++, name: b.name, public_key: b.public_key };
      keys.set(key.id, key);
      return send(res, 200, { key: { id: key.id, name: key.name, fingerprint: '', vps_id: [] } });
    }

    if (method === 'POST' && p === '/v1/vps/server') {
      const b = (body ?? {}) as Record<string, unknown>;
      if (typeof b.image_id !== 'string' || b.image_id === '') return fail(res, 400, 3, 'image_id: value is required');
      const sshKeys = Array.isArray(b.ssh_keys) ? (b.ssh_keys as unknown[]) : [];
      const unknownKey = sshKeys.find((k) => !keys.has(k as number));
      if (unknownKey !== undefined) return fail(res, 400, 3, `ssh_keys: unknown key id ${String(unknownKey)}`);
      let configuration: StandinServer['configuration'];
      if (typeof b.configuration_id === 'string') {
        const c = STANDIN_CONFIGURATIONS.find((x) => x.id === b.configuration_id && !x.custom);
        if (!c || c.cpu_count === undefined) return fail(res, 400, 3, `configuration_id: unknown configuration ${b.configuration_id}`);
        configuration = { id: c.id, cpu_count: c.cpu_count, memory: c.memory, disk_size: c.disk_size };
      } else if (isParams(b.configuration_params)) {
        configuration = { ...b.configuration_params };
      } else {
        return fail(res, 400, 3, 'either configuration_id or configuration_params {cpu_count, memory, disk_size} is required');
      }
      const region = typeof b.region === 'string' ? b.region : 'ru1';
      if (!STANDIN_REGIONS.some((r) => r.id === region && r.available)) return fail(res, 400, 3, `region: unavailable region ${region}`);
      const hostname = typeof b.hostname === 'string' ? b.hostname : '';
      if (!HOSTNAME_RE.test(hostname)) return send(res, 200, { error: { code: 'INVALID_HOSTNAME', message: `invalid hostname "${hostname}"` } });
      if (options.insufficientFunds) {
        return send(res, 200, { error: { code: 'INSUFFICIENT_FUNDS', message: 'not enough money on the balance', insufficient_funds_error: { required_amount: 100 } } });
      }
      const s = newServer(hostname, region, b.image_id, configuration, sshKeys as number[], typeof b.description === 'string' ? b.description : '');
      return send(res, 200, { vps: view(s) });
    }

    const m = /^\/v1\/vps\/server\/([^/]+)(\/configuration|\/remove)?$/.exec(p);
    if (m) {
      const s = servers.get(decodeURIComponent(m[1] ?? ''));
      if (!s) return fail(res, 404, 5, 'vps not found');
      if (method === 'GET' && !m[2]) {
        tick(s);
        if (!servers.has(s.id)) return fail(res, 404, 5, 'vps not found');
        return send(res, 200, { vps: view(s) });
      }
      if (method === 'PUT' && m[2] === '/configuration') {
        const b = (body ?? {}) as Record<string, unknown>;
        if (!isParams(b.configuration_params)) return fail(res, 400, 3, 'configuration_params {cpu_count, memory, disk_size} is required');
        if (s.status !== 'RUNNING') return send(res, 200, { error: { code: 'INVALID_STATUS', message: `cannot reconfigure a server in status ${s.status}` } });
        if (b.configuration_params.disk_size < s.configuration.disk_size) return fail(res, 400, 3, 'disk_size: the disk cannot be decreased');
        s.configuration = { ...b.configuration_params };
        s.status = 'RECONFIGURING';
        s.countdown = options.pollsUntilReconfigured ?? 2;
        s.next = 'RUNNING';
        return send(res, 200, { vps: view(s) });
      }
      if (method === 'POST' && m[2] === '/remove') {
        s.status = 'REMOVING';
        s.countdown = options.pollsUntilRemoved ?? 1;
        s.next = 'GONE';
        return send(res, 200, { vps: view(s) });
      }
    }
    return fail(res, 404, 5, `no route ${method} ${p}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => fail(res, 500, 13, err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    servers,
    keys,
    requests,
    options,
    seedServer(hostname: string) {
      const s = newServer(hostname, 'ru1', 'img-debian-12', { cpu_count: 1, memory: 1024, disk_size: 10240 }, []);
      s.status = 'RUNNING';
      s.ip_address = `198.51.100.${Number(s.id.slice(4)) % 250}`;
      s.next = null;
      return s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
