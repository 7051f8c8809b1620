import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { findOperation, queryViolations, schema, violations, type Operation } from './beget-spec.js';

/**
 * A local stand-in of Beget's cloud-server and auth APIs, listening on 127.0.0.1 (port 0). Its
 * routes are the operations of tests/infra/fixtures/beget-openapi.yaml (the part of Beget's
 * published spec this project uses): every request body and query is checked against the spec's
 * request schema and every reply against the response schema, strictly (undeclared fields are
 * violations). Violations are answered 400/500 and collected in `specViolations`, which the tests
 * require to stay empty, so the client and the stand-in cannot drift from the spec or each other.
 *
 * As the spec declares: business errors in a 200's `error` member (INVALID_STATE, ALREADY_REMOVING,
 * INSUFFICIENT_FUNDS with needed_balance / current_balance / charge_on_add...); a removed server
 * stays, REMOVED and archived; a resize turns RECONFIGURING after the PUT has returned. Not declared,
 * so assumed: 401 for a bad token (grpc-gateway shape), a 404 only for an id that never existed, how
 * the marketplace spells an OS, how fingerprints are written, and the unit of sizes (`units`).
 */
export interface StandinOptions {
  /** A token accepted from the start, as if made by hand with POST /v1/auth. */
  token?: string;
  /** The account POST /v1/auth accepts; `code` makes it ask for a 2FA code. */
  account?: { login: string; password: string; code?: string };
  /** The unit of `memory` and `disk_size` in plans, ranges and requests (default MiB). */
  units?: 'MiB' | 'GiB';
  /** How key fingerprints are written (default sha256: OpenSSH's "SHA256:base64"). */
  fingerprint?: 'sha256' | 'md5';
  /** GETs of a new server answered CREATING before it turns RUNNING. */
  pollsUntilRunning?: number;
  /** GETs after a PUT /configuration still answered RUNNING with the old size (default 1). */
  pollsBeforeReconfiguring?: number;
  /** GETs answered RECONFIGURING (default 2). */
  pollsUntilReconfigured?: number;
  /** GETs answered REMOVING after a removal (default 1). */
  pollsUntilRemoved?: number;
  /** Answer every create with INSUFFICIENT_FUNDS and these balances. */
  insufficientFunds?: { needed: number; current: number };
  /** Answer the next N requests with 503. */
  failNext503?: number;
  /** The next create: 'before' answers 503 and creates nothing, 'after' creates the server and answers 502. */
  failCreate?: 'before' | 'after';
  /** The next `count` GETs of a server (ManageService_GetInfo) fail: with this HTTP status, or 'reset' (connection dropped, no reply). */
  failServerGets?: { count: number; status: number | 'reset' };
  /** The next `count` replies send their headers and part of the body, then drop the connection ('reset') or send nothing more ('stall'). */
  bodyFault?: { count: number; kind: 'reset' | 'stall' };
  /** Every removal is answered HTTP 500 and removes nothing. */
  failRemove?: boolean;
  /** After a create, the next N list replies do not show the new server yet (the list lags). */
  listLagAfterCreate?: number;
  /** New servers never get a public address (as with network_interfaces lacking a public one). */
  noPublicIp?: boolean;
  /** The marketplace list (default STANDIN_SOFTWARE). */
  software?: StandinSoftware[];
}

export interface StandinSoftware {
  id: number;
  name: string;
  display_name: string;
  version: string;
  slug: string;
  is_available: boolean;
}

type Params = { cpu_count: number; memory: number; disk_size: number };

export interface StandinServer {
  id: string;
  hostname: string;
  description: string;
  status: string;
  ip_address: string;
  archived: boolean;
  region: string;
  software_id?: string;
  image_id?: string;
  /** In the stand-in's `units`. */
  configuration: Partial<Params> & { id?: string; group?: string };
  ssh_keys: number[];
  /** The ip_action the removal asked for. */
  ipAction?: string;
  publicIp: boolean;
  /** Remaining GETs before the next status transition. */
  countdown: number;
  next: 'RUNNING' | 'RECONFIGURING' | 'REMOVED' | null;
  pending?: StandinServer['configuration'];
}

export interface StandinKey {
  id: number;
  name: string;
  public_key: string;
  fingerprint: string;
}

export interface Standin {
  url: string;
  servers: Map<string, StandinServer>;
  keys: Map<number, StandinKey>;
  requests: { method: string; path: string; body: unknown; authorization?: string }[];
  /** Requests or replies that do not conform to beget-openapi.yaml. Must stay empty. */
  specViolations: string[];
  options: StandinOptions;
  /** Adds a RUNNING server directly (as if made in the panel). */
  seedServer(hostname: string, over?: Partial<StandinServer>): StandinServer;
  /** Registers a key directly (as if added in the panel, under any name). */
  seedKey(name: string, publicKey: string): StandinKey;
  /** Every token issued so far stops working (a refresh still renews it) / cannot even be refreshed. */
  expireTokens(): void;
  revokeTokens(): void;
  close(): Promise<void>;
}

export const STANDIN_REGIONS = [
  { id: 'ru1', name: 'Санкт-Петербург', name_en: 'Saint Petersburg', country: 'RU', available: true, priority: 1 },
  { id: 'ru2', name: 'Москва', name_en: 'Moscow', country: 'RU', available: true, priority: 2 },
  { id: 'lv1', name: 'Рига', name_en: 'Riga', country: 'LV', available: false, priority: 3 },
];

export const STANDIN_GROUPS = [
  { group: 'normal_cpu', name: 'Standard 3+ GHz' },
  { group: 'high_cpu', name: 'High frequency' },
];

/** Ready-made plans in ru1, sizes in MiB (listed in the stand-in's units): growth (2 / 4 GiB / 40 GiB) exists ready-made. */
export const STANDIN_PLANS = [
  { id: 'cfg-1-1', name: 'Start', cpu_count: 1, memory: 1024, disk_size: 10240, group: 'normal_cpu' },
  { id: 'cfg-2-4', name: 'Standard', cpu_count: 2, memory: 4096, disk_size: 40960, group: 'normal_cpu' },
  { id: 'cfg-hi-2-4', name: 'Fast', cpu_count: 2, memory: 4096, disk_size: 40960, group: 'high_cpu' },
];

/** Custom sizes per group, in MiB: cpu 1-16, memory 1-64 GiB in 1 GiB steps, disk 10 GiB-1000 GiB in 5 GiB steps. */
const RANGES = {
  cpu_count: { min: 1, max: 16, step: 1 },
  memory: { min: 1024, max: 65536, step: 1024 },
  disk_size: { min: 10240, max: 1024000, step: 5120 },
};

export const STANDIN_SOFTWARE: StandinSoftware[] = [
  { id: 6101, name: 'debian', display_name: 'Debian 12', version: '12', slug: 'debian-12', is_available: true },
  { id: 6102, name: 'debian', display_name: 'Debian 13', version: '13', slug: 'debian-13', is_available: true },
  { id: 6153, name: 'ubuntu', display_name: 'Ubuntu 24.04', version: '24.04', slug: 'ubuntu-24-04', is_available: true },
  { id: 6150, name: 'ubuntu', display_name: 'Ubuntu 22.04', version: '22.04', slug: 'ubuntu-22-04', is_available: true },
  { id: 7001, name: 'docker', display_name: 'Docker', version: '27.3', slug: 'docker', is_available: true },
];

/** Images of the image API, for `image_id`: tied to a region. */
export const STANDIN_IMAGES = [{ id: 'img-custom-1', region: 'ru1' }];

const SSH_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+/;
const HOSTNAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** grpc-gateway style transport error (not declared by the spec). */
function fail(res: ServerResponse, status: number, grpcCode: number, message: string): void {
  send(res, status, { code: grpcCode, message, details: [] });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

export function standinFingerprint(publicKey: string, format: 'sha256' | 'md5'): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64');
  if (format === 'md5') return (createHash('md5').update(blob).digest('hex').match(/../g) ?? []).join(':');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export async function startBegetStandin(options: StandinOptions): Promise<Standin> {
  const servers = new Map<string, StandinServer>();
  const keys = new Map<number, StandinKey>();
  const tokens = new Map<string, 'valid' | 'expired' | 'revoked'>();
  const requests: Standin['requests'] = [];
  const specViolations: string[] = [];
  if (options.token) tokens.set(options.token, 'valid');
  let nextServer = 1;
  let nextKey = 100;
  let nextToken = 1;
  /** Servers the list does not show yet, for `listLag` more list replies (listLagAfterCreate). */
  const lagging = new Set<string>();
  let listLag = 0;

  const gib = () => options.units === 'GiB';
  /** MiB → the stand-in's unit, for memory and disk sizes. */
  const unit = (mib: number) => (gib() ? mib / 1024 : mib);
  const sizedPlans = () =>
    STANDIN_PLANS.map((p) => ({ ...p, memory: unit(p.memory), disk_size: unit(p.disk_size), available: true, custom: false, configurable: false, region: 'ru1' }));
  /** What GET /v1/vps/configuration lists: the plans, and the sizeless "custom" entry. */
  const plans = () => [...sizedPlans(), { id: 'cfg-custom', name: 'Custom', available: true, custom: true, configurable: true, region: 'ru1' }];
  const ranges = () => ({
    cpu_count: RANGES.cpu_count,
    memory: { min: unit(RANGES.memory.min), max: unit(RANGES.memory.max), step: unit(RANGES.memory.step) },
    disk_size: { min: unit(RANGES.disk_size.min), max: unit(RANGES.disk_size.max), step: unit(RANGES.disk_size.step) },
  });
  const inRanges = (p: Params) =>
    (Object.entries(ranges()) as [keyof Params, { min: number; max: number; step: number }][]).every(
      ([k, r]) => Number.isInteger(p[k]) && p[k] >= r.min && p[k] <= r.max && (p[k] - r.min) % r.step === 0,
    );

  function newServer(hostname: string, region: string, configuration: StandinServer['configuration'], sshKeys: number[], over: Partial<StandinServer> = {}): StandinServer {
    const n = nextServer++;
    const server: StandinServer = {
      id: `vps-${String(n).padStart(4, '0')}`,
      hostname,
      description: '',
      status: 'CREATING',
      ip_address: '',
      archived: false,
      region,
      configuration,
      ssh_keys: sshKeys,
      publicIp: true,
      countdown: options.pollsUntilRunning ?? 3,
      next: 'RUNNING',
      ...over,
    };
    servers.set(server.id, server);
    return server;
  }

  function view(s: StandinServer): Record<string, unknown> {
    return {
      id: s.id,
      slug: s.id,
      hostname: s.hostname,
      display_name: s.hostname,
      description: s.description,
      status: s.status,
      ip_address: s.ip_address,
      archived: s.archived,
      region: s.region,
      configuration: s.configuration,
      ssh_keys: s.ssh_keys.map((id) => ({ id, name: keys.get(id)?.name ?? '', fingerprint: keys.get(id)?.fingerprint ?? '' })),
      ...(s.software_id ? { software_id: s.software_id } : {}),
      ...(s.image_id ? { image_id: s.image_id } : {}),
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
      if (s.publicIp) s.ip_address ||= `198.51.100.${Number(s.id.slice(4)) % 250}`;
      s.next = null;
    } else if (s.next === 'RECONFIGURING') {
      s.configuration = { ...s.configuration, ...s.pending };
      const polls = options.pollsUntilReconfigured ?? 2;
      s.status = polls > 0 ? 'RECONFIGURING' : 'RUNNING';
      s.countdown = Math.max(0, polls - 1);
      s.next = polls > 0 ? 'RUNNING' : null;
    } else {
      s.status = 'REMOVED';
      s.archived = true;
      s.next = null;
    }
  }

  /** A 200 reply, checked against the operation's response schema first. */
  function reply(res: ServerResponse, op: Operation, body: unknown): void {
    const wrong = violations(schema(op.response), body);
    if (wrong.length > 0) {
      specViolations.push(...wrong.map((w) => `reply of ${op.operationId}: ${w}`));
      return fail(res, 500, 13, `stand-in reply violates the spec: ${wrong.join('; ')}`);
    }
    send(res, 200, body);
  }

  const error = (code: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { code, message, ...extra } });

  function createVps(b: Record<string, unknown>): Record<string, unknown> {
    const sources = ['software', 'image_id', 'snapshot_id'].filter((k) => b[k] !== undefined);
    if (sources.length !== 1) return error('INVALID_PARAMS', 'exactly one of software, image_id, snapshot_id is required');
    const region = typeof b.region === 'string' ? b.region : 'ru1';
    if (!STANDIN_REGIONS.some((r) => r.id === region && r.available)) return error('INVALID_PARAMS', `region ${region} is not available`);
    const group = typeof b.configuration_group === 'string' ? b.configuration_group : 'normal_cpu';
    if (!STANDIN_GROUPS.some((g) => g.group === group)) return error('INVALID_PARAMS', `unknown configuration_group ${group}`);
    const over: Partial<StandinServer> = {};
    if (b.software) {
      const sw = (options.software ?? STANDIN_SOFTWARE).find((x) => x.id === (b.software as { id?: number }).id && x.is_available);
      if (!sw) return error('INVALID_PARAMS', `unknown software ${JSON.stringify(b.software)}`);
      over.software_id = String(sw.id);
    } else if (b.image_id) {
      const image = STANDIN_IMAGES.find((i) => i.id === b.image_id);
      if (!image) return error('INVALID_PARAMS', `unknown image_id ${String(b.image_id)}`);
      if (image.region !== region) return error('IMAGE_REGION_MISMATCH', `image ${image.id} is in ${image.region}, not ${region}`);
      over.image_id = image.id;
    }
    const sshKeys = (b.ssh_keys as number[] | undefined) ?? [];
    if (sshKeys.some((k) => !keys.has(k))) return error('INVALID_PARAMS', `unknown ssh key in ${JSON.stringify(sshKeys)}`);
    let configuration: StandinServer['configuration'];
    if (typeof b.configuration_id === 'string') {
      const plan = sizedPlans().find((p) => p.id === b.configuration_id && p.region === region && p.group === group);
      if (!plan) return error('INVALID_PARAMS', `configuration ${b.configuration_id} is not offered in ${region} / ${group}`);
      configuration = { id: plan.id, group, cpu_count: plan.cpu_count, memory: plan.memory, disk_size: plan.disk_size };
    } else if (b.configuration_params && inRanges(b.configuration_params as Params)) {
      configuration = { group, ...(b.configuration_params as Params) };
    } else {
      return error('INVALID_PARAMS', `configuration_params ${JSON.stringify(b.configuration_params)} outside the configurator's ranges`);
    }
    const hostname = typeof b.hostname === 'string' ? b.hostname : '';
    if (!HOSTNAME_RE.test(hostname)) return error('INVALID_HOSTNAME', `invalid hostname "${hostname}"`);
    const funds = options.insufficientFunds;
    if (funds) {
      return error('INSUFFICIENT_FUNDS', 'not enough money on the balance', {
        insufficient_funds_error: { needed_balance: funds.needed, current_balance: funds.current, charge_on_add: true },
      });
    }
    // No network_interfaces means the default public address; given without a public one, none.
    const interfaces = b.network_interfaces as { public?: unknown }[] | undefined;
    over.publicIp = !options.noPublicIp && (!interfaces || interfaces.some((i) => i.public !== undefined));
    over.description = typeof b.description === 'string' ? b.description : '';
    return { vps: view(newServer(hostname, region, configuration, sshKeys, over)) };
  }

  function changeConfiguration(s: StandinServer, b: Record<string, unknown>): Record<string, unknown> {
    if (s.status !== 'RUNNING') return error('INVALID_STATE', `cannot reconfigure a server in status ${s.status}`);
    const group = s.configuration.group ?? 'normal_cpu';
    let wanted: StandinServer['configuration'];
    if (typeof b.configuration_id === 'string') {
      const plan = sizedPlans().find((p) => p.id === b.configuration_id && p.group === group);
      if (!plan) return error('INVALID_CONFIGURATION', `configuration ${b.configuration_id} is not offered for group ${group}`);
      wanted = { id: plan.id, group, cpu_count: plan.cpu_count, memory: plan.memory, disk_size: plan.disk_size };
    } else if (b.configuration_params && inRanges(b.configuration_params as Params)) {
      wanted = { group, ...(b.configuration_params as Params) };
    } else {
      return error('INVALID_CONFIGURATION', `configuration_params ${JSON.stringify(b.configuration_params)} outside the configurator's ranges`);
    }
    if ((wanted.disk_size ?? 0) < (s.configuration.disk_size ?? 0)) return error('INVALID_CONFIGURATION', 'the disk cannot be decreased');
    // The change starts after this reply: the server still answers RUNNING with the old size here.
    s.pending = wanted;
    s.countdown = options.pollsBeforeReconfiguring ?? 1;
    s.next = 'RECONFIGURING';
    return { vps: view(s) };
  }

  function removeVps(s: StandinServer, b: Record<string, unknown>): Record<string, unknown> {
    if (s.status === 'REMOVING') return error('ALREADY_REMOVING', 'the server is already being removed');
    if (s.status === 'REMOVED' || s.archived || s.status === 'RECONFIGURING') return error('INVALID_STATE', `cannot remove a server in status ${s.status}`);
    s.ipAction = typeof b.ip_action === 'string' ? b.ip_action : undefined;
    s.status = 'REMOVING';
    s.countdown = options.pollsUntilRemoved ?? 1;
    s.next = 'REMOVED';
    return { vps: view(s) };
  }

  function addKey(b: { name?: string; public_key?: string }): Record<string, unknown> {
    if (!b.name) return error('INVALID_NAME', 'name is required');
    if (!b.public_key || !SSH_KEY_RE.test(b.public_key)) return error('INVALID_PUBLIC_KEY', 'invalid OpenSSH public key');
    const fingerprint = standinFingerprint(b.public_key, options.fingerprint ?? 'sha256');
    if ([...keys.values()].some((k) => k.fingerprint === fingerprint)) return error('KEY_EXISTS', 'this key is already registered');
    const key = { id: nextKey++, name: b.name, public_key: b.public_key, fingerprint };
    keys.set(key.id, key);
    return { key: { id: key.id, name: key.name, fingerprint, vps_id: [] } };
  }

  function issueToken(): string {
    const token = `tok-${nextToken++}`;
    tokens.set(token, 'valid');
    return token;
  }

  function login(b: { login?: string; password?: string; code?: string }): Record<string, unknown> {
    const account = options.account;
    if (!b.login) return { error: 'EMPTY_LOGIN' };
    if (!b.password) return { error: 'EMPTY_PASSWORD' };
    if (!account || b.login !== account.login || b.password !== account.password) return { error: 'INCORRECT_CREDENTIALS' };
    if (account.code && !b.code) return { error: 'CODE_REQUIRED' };
    if (account.code && b.code !== account.code) return { error: 'INCORRECT_CODE' };
    return { token: issueToken() };
  }

  function refresh(bearer: string | undefined): Record<string, unknown> {
    const state = bearer ? tokens.get(bearer) : undefined;
    if (!bearer || state === undefined || state === 'revoked') return { error: 'TOKEN_REVOKED' };
    tokens.set(bearer, 'revoked');
    return { token: issueToken() };
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
    requests.push({ method, path: url.pathname + url.search, body, authorization: req.headers.authorization });
    if ((options.failNext503 ?? 0) > 0) {
      options.failNext503 = (options.failNext503 ?? 0) - 1;
      return fail(res, 503, 14, 'service unavailable');
    }
    if (options.bodyFault && options.bodyFault.count > 0) {
      options.bodyFault.count--;
      const kind = options.bodyFault.kind;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":', () => kind === 'reset' && res.destroy());
      return;
    }

    const found = findOperation(method, url.pathname);
    if (!found) return fail(res, 404, 5, `no operation ${method} ${url.pathname} in the spec`);
    const { op, params } = found;
    const wrong = [
      ...queryViolations(op, url.searchParams),
      ...(op.request ? violations(schema(op.request), body ?? {}) : body === undefined ? [] : ['$: the operation takes no body']),
    ];
    if (wrong.length > 0) {
      specViolations.push(...wrong.map((w) => `request of ${op.operationId}: ${w}`));
      return fail(res, 400, 3, `request violates the spec: ${wrong.join('; ')}`);
    }

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (op.operationId === 'AuthService_Auth') return reply(res, op, login((body ?? {}) as Record<string, string>));
    if (op.operationId === 'AuthService_RefreshToken') return reply(res, op, refresh(bearer));
    if (!bearer || tokens.get(bearer) !== 'valid') return fail(res, 401, 16, 'unauthenticated: invalid or expired token');

    const b = (body ?? {}) as Record<string, unknown>;
    const server = params.id === undefined ? undefined : servers.get(params.id);
    // Undeclared: an id that never existed. Removed servers stay (REMOVED, archived) and never 404.
    if (params.id !== undefined && !server) return fail(res, 404, 5, 'vps not found');
    switch (op.operationId) {
      case 'ManageService_GetRegionList':
        return reply(res, op, { regions: STANDIN_REGIONS });
      case 'ManageService_GetAvailableConfiguration':
        return reply(res, op, { configurations: plans(), configuration_groups: STANDIN_GROUPS });
      case 'ConfiguratorService_GetConfiguratorInfo': {
        const region = url.searchParams.get('region') ?? 'ru1';
        const r = ranges();
        const axis = (a: { min: number; max: number; step: number }) => ({ range: { min: a.min, max: a.max }, available_range: { min: a.min, max: a.max }, step: a.step });
        return reply(res, op, {
          is_available: STANDIN_REGIONS.some((x) => x.id === region && x.available),
          settings: { cpu_settings: axis(r.cpu_count), memory_settings: axis(r.memory), disk_settings: axis(r.disk_size) },
        });
      }
      case 'MarketplaceService_GetSoftwareList':
        return reply(res, op, { software: options.software ?? STANDIN_SOFTWARE });
      case 'ManageService_GetList': {
        const offset = Number(url.searchParams.get('offset') ?? 0);
        const limit = Number(url.searchParams.get('limit') ?? 0);
        let all = [...servers.values()];
        if (listLag > 0) {
          listLag--;
          all = all.filter((v) => !lagging.has(v.id));
        }
        // The spec declares no cap and no default: 0 or absent is taken as "the rest".
        return reply(res, op, { vps: all.slice(offset, limit > 0 ? offset + limit : undefined).map(view), total_count: all.length });
      }
      case 'ManageService_GetInfo':
        if (options.failServerGets && options.failServerGets.count > 0) {
          options.failServerGets.count--;
          if (options.failServerGets.status === 'reset') return void req.socket.destroy();
          return fail(res, options.failServerGets.status, 14, `failing GET with ${options.failServerGets.status}`);
        }
        if (server) tick(server);
        return reply(res, op, server ? { vps: view(server) } : {});
      case 'ManageService_CreateVps': {
        if (options.failCreate === 'before') {
          options.failCreate = undefined;
          return fail(res, 503, 14, 'service unavailable');
        }
        const result = createVps(b);
        if (options.listLagAfterCreate && result.vps) {
          lagging.add((result.vps as { id: string }).id);
          listLag = options.listLagAfterCreate;
        }
        if (options.failCreate === 'after' && result.vps) {
          options.failCreate = undefined;
          return fail(res, 502, 14, 'bad gateway');
        }
        return reply(res, op, result);
      }
      case 'ManageService_ChangeConfiguration':
        return reply(res, op, server ? changeConfiguration(server, b) : {});
      case 'ManageService_RemoveVps':
        if (options.failRemove) return fail(res, 500, 13, 'internal error');
        return reply(res, op, server ? removeVps(server, b) : {});
      case 'SshKeyService_GetAll':
        return reply(res, op, { keys: [...keys.values()].map(({ id, name, fingerprint }) => ({ id, name, fingerprint })) });
      case 'SshKeyService_Add':
        return reply(res, op, addKey(b as { name?: string; public_key?: string }));
      default:
        return fail(res, 501, 12, `stand-in does not implement ${op.operationId}`);
    }
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((err: Error) => fail(res, 500, 13, err.message));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    servers,
    keys,
    requests,
    specViolations,
    options,
    seedServer(hostname, over = {}) {
      return newServer(hostname, 'ru1', { group: 'normal_cpu', cpu_count: 1, memory: unit(1024), disk_size: unit(10240) }, [], {
        status: 'RUNNING',
        ip_address: `198.51.100.${nextServer % 250}`,
        next: null,
        countdown: 0,
        ...over,
      });
    },
    seedKey(name, publicKey) {
      const key = { id: nextKey++, name, public_key: publicKey, fingerprint: standinFingerprint(publicKey, options.fingerprint ?? 'sha256') };
      keys.set(key.id, key);
      return key;
    },
    expireTokens() {
      for (const [t, state] of tokens) if (state === 'valid') tokens.set(t, 'expired');
    },
    revokeTokens() {
      for (const t of tokens.keys()) tokens.set(t, 'revoked');
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
