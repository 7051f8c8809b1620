import { afterEach, describe, expect, it } from 'vitest';
import { InfraError } from '../../infra/errors.js';
import { BegetApi, sshKeyName } from '../../infra/providers/beget-api.js';
import { BegetServerProvider, begetParamsForTier, type BegetServerInputs, type BegetServerOutputs } from '../../infra/providers/beget.js';
import { startBegetStandin, type Standin, type StandinOptions } from './beget-standin.js';

const TOKEN = 'test-token-123';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop';

let standin: Standin | undefined;

async function start(opts: Partial<StandinOptions> = {}): Promise<Standin> {
  standin = await startBegetStandin({ token: TOKEN, ...opts });
  return standin;
}

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

function inputs(s: Standin, over: Partial<BegetServerInputs> = {}): BegetServerInputs {
  const p = begetParamsForTier('mvp');
  return {
    apiUrl: s.url,
    token: TOKEN,
    region: 'ru1',
    imageId: 'img-debian-12',
    hostname: 'chat-1',
    sshPublicKey: KEY,
    cpuCount: p.cpu_count,
    memoryMb: p.memory,
    diskMb: p.disk_size,
    description: 'messenger-infra test (mvp)',
    pollIntervalMs: 5,
    pollTimeoutMs: 2_000,
    ...over,
  };
}

/** create() with its outputs, which the provider always returns. */
async function createOk(provider: BegetServerProvider, args: BegetServerInputs): Promise<{ id: string; outs: BegetServerOutputs }> {
  const result = await provider.create(args);
  if (!result.outs) throw new Error('create returned no outputs');
  return { id: result.id, outs: result.outs };
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(InfraError);
    return { code: (err as InfraError).code, message: (err as InfraError).message };
  }
  throw new Error('expected a rejection');
}

describe('Beget dynamic provider against the local stand-in', () => {
  it('creates a server from the tier, waits for RUNNING over several polls and reports its IPv4', async () => {
    const s = await start({ pollsUntilRunning: 4 });
    const provider = new BegetServerProvider();
    const result = await createOk(provider, inputs(s));

    expect(result.id).toMatch(/^vps-/);
    expect(result.outs.ipv4).toMatch(/^198\.51\.100\.\d+$/);
    expect(result.outs.status).toBe('RUNNING');
    const server = s.servers.get(result.id);
    expect(server?.configuration).toEqual({ cpu_count: 2, memory: 2048, disk_size: 20480 });
    expect(server?.region).toBe('ru1');
    expect(server?.image_id).toBe('img-debian-12');
    expect(server?.hostname).toBe('chat-1');
    // The key was registered under its derived name and attached by id.
    const keys = [...s.keys.values()];
    expect(keys).toHaveLength(1);
    expect(keys[0]?.name).toBe(await sshKeyName(KEY));
    expect(keys[0]?.public_key).toBe(KEY);
    expect(server?.ssh_keys).toEqual([keys[0]?.id]);
    expect(result.outs.sshKeyId).toBe(keys[0]?.id);
    // mvp has no ready-made configuration in the stand-in: custom configuration_params were sent.
    const post = s.requests.find((r) => r.method === 'POST' && r.path === '/v1/vps/server');
    expect(post?.body).toMatchObject({ configuration_params: { cpu_count: 2, memory: 2048, disk_size: 20480 }, ssh_keys: [keys[0]?.id], region: 'ru1' });
    // 4 CREATING answers, then RUNNING: exactly five status polls.
    expect(s.requests.filter((r) => r.method === 'GET' && r.path === `/v1/vps/server/${result.id}`)).toHaveLength(5);
  });

  it('uses a ready-made configuration_id when one matches the tier exactly, and reuses the SSH key', async () => {
    const s = await start();
    const provider = new BegetServerProvider();
    const p = begetParamsForTier('growth');
    const a = await provider.create(inputs(s, { hostname: 'chat-a', cpuCount: p.cpu_count, memoryMb: p.memory, diskMb: p.disk_size }));
    await provider.create(inputs(s, { hostname: 'chat-b' }));
    expect(s.servers.get(a.id)?.configuration).toEqual({ id: 'cfg-2-4', cpu_count: 2, memory: 4096, disk_size: 40960 });
    expect(s.keys.size).toBe(1);
    expect(s.requests.filter((r) => r.method === 'POST' && r.path === '/v1/vps/sshKey')).toHaveLength(1);
  });

  it('reads live state and reports a server removed behind its back as gone', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    const read = await provider.read(created.id, created.outs);
    expect(read.id).toBe(created.id);
    expect(read.props).toMatchObject({ ipv4: created.outs.ipv4, status: 'RUNNING', cpuCount: 2, memoryMb: 2048, diskMb: 20480 });

    s.servers.delete(created.id);
    const gone = await provider.read(created.id, created.outs);
    expect(gone.id).toBe('');
  });

  it('diffs: a tier change resizes in place, region/image/hostname/key or a smaller disk replace', async () => {
    const s = await start();
    const provider = new BegetServerProvider();
    const olds = { ...inputs(s), ipv4: '198.51.100.1', status: 'RUNNING', sshKeyId: 100 };
    const growth = begetParamsForTier('growth');

    expect(await provider.diff('vps-1', olds, inputs(s))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    expect(await provider.diff('vps-1', olds, inputs(s, { cpuCount: growth.cpu_count, memoryMb: growth.memory, diskMb: growth.disk_size }))).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(await provider.diff('vps-1', olds, inputs(s, { region: 'ru2' }))).toEqual({ changes: true, replaces: ['region'], deleteBeforeReplace: true });
    expect(await provider.diff('vps-1', olds, inputs(s, { hostname: 'chat-2' }))).toEqual({ changes: true, replaces: ['hostname'], deleteBeforeReplace: false });
    expect((await provider.diff('vps-1', olds, inputs(s, { imageId: 'img-other' }))).replaces).toEqual(['imageId']);
    expect((await provider.diff('vps-1', olds, inputs(s, { sshPublicKey: `${KEY}x` }))).replaces).toEqual(['sshPublicKey']);
    expect((await provider.diff('vps-1', olds, inputs(s, { diskMb: 10240 }))).replaces).toEqual(['diskMb']);
    // A new token is a settings change, not a new server.
    expect(await provider.diff('vps-1', olds, inputs(s, { token: 'rotated' }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it('updates a tier change in place through PUT /configuration and waits out RECONFIGURING', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilReconfigured: 3 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    const scale = begetParamsForTier('scale');
    const news = inputs(s, { cpuCount: scale.cpu_count, memoryMb: scale.memory, diskMb: scale.disk_size });
    const before = s.requests.length;
    const updated = await provider.update(created.id, created.outs, news);

    expect(updated.outs).toMatchObject({ cpuCount: 4, memoryMb: 8192, diskMb: 81920, status: 'RUNNING', ipv4: created.outs.ipv4 });
    expect(s.servers.get(created.id)?.configuration).toEqual({ cpu_count: 4, memory: 8192, disk_size: 81920 });
    const calls = s.requests.slice(before);
    expect(calls[0]).toMatchObject({ method: 'PUT', path: `/v1/vps/server/${created.id}/configuration`, body: { configuration_params: scale } });
    // 3 RECONFIGURING answers, then RUNNING.
    expect(calls.filter((r) => r.method === 'GET')).toHaveLength(4);
    // Same server, no new one.
    expect(s.servers.size).toBe(1);
  });

  it('deletes the server, waits until it is gone, and a second delete is a no-op', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilRemoved: 2 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    await provider.delete(created.id, created.outs);
    expect(s.servers.has(created.id)).toBe(false);
    expect(s.requests.some((r) => r.method === 'POST' && r.path === `/v1/vps/server/${created.id}/remove`)).toBe(true);
    await provider.delete(created.id, created.outs);
  });

  it('a bad token is a clear MI_ERR_BEGET_AUTH error', async () => {
    const s = await start();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { token: 'wrong' })));
    expect(err.code).toBe('MI_ERR_BEGET_AUTH');
    expect(err.message).toContain('HTTP 401');
    expect(err.message).toContain('unauthenticated: invalid or expired token');
    expect(err.message).toContain('pulumi config set --secret begetToken');
    expect(s.servers.size).toBe(0);
  });

  it('validation errors (400) carry the API message', async () => {
    const s = await start();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { imageId: '' })));
    expect(err).toEqual({ code: 'MI_ERR_BEGET_INVALID', message: 'Beget API rejected the request (HTTP 400 POST /v1/vps/server): image_id: value is required' });
    const keyErr = await codeOf(new BegetApi({ baseUrl: s.url, token: TOKEN, pollIntervalMs: 1, pollTimeoutMs: 100 }).ensureSshKey('not a key'));
    expect(keyErr.code).toBe('MI_ERR_BEGET_INVALID');
    expect(keyErr.message).toContain('public_key: invalid OpenSSH public key');
  });

  it('business errors in the model\'s `error` member are reported with their code', async () => {
    const s = await start({ insufficientFunds: true });
    const funds = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(funds.code).toBe('MI_ERR_BEGET_API');
    expect(funds.message).toContain('INSUFFICIENT_FUNDS: not enough money on the balance');
    s.options.insufficientFunds = false;
    const host = await codeOf(new BegetServerProvider().create(inputs(s, { hostname: '-bad-' })));
    expect(host.message).toContain('INVALID_HOSTNAME');
  });

  it('an unknown or unavailable region fails before anything is created, naming the field and the choices', async () => {
    const s = await start();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { region: 'lv1' })));
    expect(err.code).toBe('MI_ERR_CONFIG');
    expect(err.message).toBe('stack config "region": Beget has no available region "lv1" (available: ru1, ru2); fix: pulumi config set region ru1');
    expect(s.requests.some((r) => r.method === 'POST')).toBe(false);
  });

  it('a server that never comes up times out (bounded) and is removed again', async () => {
    const s = await start({ pollsUntilRunning: 1_000_000, pollsUntilRemoved: 0 });
    const started = Date.now();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { pollTimeoutMs: 200 })));
    expect(err.code).toBe('MI_ERR_BEGET_TIMEOUT');
    expect(err.message).toContain('last status CREATING');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect([...s.servers.values()].every((v) => v.status === 'REMOVING')).toBe(true);
    expect(s.requests.some((r) => r.method === 'POST' && r.path.endsWith('/remove'))).toBe(true);
  });

  it('refuses a hostname that is already taken, found by walking every page of the server list', async () => {
    const s = await start();
    for (let i = 0; i < 120; i++) s.seedServer(`other-${i}`);
    s.seedServer('chat-1');
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_HOSTNAME_TAKEN');
    expect(err.message).toContain('stack config "hostname"');
    const pages = s.requests.filter((r) => r.path.startsWith('/v1/vps/server/list'));
    expect(pages.map((r) => r.path)).toEqual([
      '/v1/vps/server/list?offset=0&limit=50',
      '/v1/vps/server/list?offset=50&limit=50',
      '/v1/vps/server/list?offset=100&limit=50',
    ]);
  });

  it('lists all servers across pages and retries a 503 a bounded number of times', async () => {
    const s = await start();
    for (let i = 0; i < 73; i++) s.seedServer(`host-${i}`);
    const api = new BegetApi({ baseUrl: s.url, token: TOKEN, pollIntervalMs: 1, pollTimeoutMs: 100 });
    s.options.failNext503 = 2;
    const all = await api.listServers();
    expect(all.map((v) => v.hostname)).toEqual(Array.from({ length: 73 }, (_, i) => `host-${i}`));
    s.options.failNext503 = 3;
    const err = await codeOf(api.listRegions());
    expect(err.code).toBe('MI_ERR_BEGET_API');
    expect(err.message).toContain('HTTP 503');
  });

  it('an unreachable API is MI_ERR_BEGET_UNREACHABLE', async () => {
    const s = await start();
    const url = s.url;
    await s.close();
    standin = undefined;
    const err = await codeOf(new BegetApi({ baseUrl: url, token: TOKEN, pollIntervalMs: 1, pollTimeoutMs: 100 }).listRegions());
    expect(err.code).toBe('MI_ERR_BEGET_UNREACHABLE');
  });
});
