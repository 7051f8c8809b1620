import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InfraError } from '../../infra/errors.js';
import { BegetApi } from '../../infra/providers/beget-api.js';
import { BEGET_ENV } from '../../infra/providers/beget-auth.js';
import { sshKeyName } from '../../infra/providers/beget-ssh.js';
import { BegetServerProvider, begetSizeForTier, type BegetServerInputs, type BegetServerOutputs } from '../../infra/providers/beget.js';
import { startBegetStandin, type Standin, type StandinOptions } from './beget-standin.js';

const TOKEN = 'test-token-123';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop';

let standin: Standin | undefined;

/** The provider reads its credentials from process.env at every operation, like the engine's plugin. */
function setEnv(vars: Partial<Record<keyof typeof BEGET_ENV, string>>): void {
  for (const [k, name] of Object.entries(BEGET_ENV)) {
    const value = vars[k as keyof typeof BEGET_ENV];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

async function start(opts: Partial<StandinOptions> = {}): Promise<Standin> {
  standin = await startBegetStandin({ token: TOKEN, ...opts });
  return standin;
}

beforeEach(() => setEnv({ token: TOKEN }));

afterEach(async () => {
  setEnv({});
  // Every request the client sent and every reply the stand-in gave conformed to the spec fixture.
  expect(standin?.specViolations ?? []).toEqual([]);
  await standin?.close();
  standin = undefined;
});

function inputs(s: Standin, over: Partial<BegetServerInputs> = {}): BegetServerInputs {
  return {
    apiUrl: s.url,
    region: 'ru1',
    os: 'debian13',
    hostname: 'chat-1',
    sshPublicKey: KEY,
    ...begetSizeForTier('mvp'),
    description: 'messenger-infra test (mvp)',
    pollIntervalMs: 5,
    pollTimeoutMs: 2_000,
    ...over,
  };
}

function apiOf(s: Standin): BegetApi {
  return new BegetApi({ baseUrl: s.url, credentials: { token: TOKEN }, pollIntervalMs: 1, pollTimeoutMs: 100 });
}

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

const posts = (s: Standin, path: string) => s.requests.filter((r) => r.method === 'POST' && r.path === path);

describe('creating a Beget server as the spec describes it', () => {
  it('installs Debian 13 from the marketplace, sizes it from the tier, waits for RUNNING and reports the public IPv4', async () => {
    const s = await start({ pollsUntilRunning: 4 });
    const result = await createOk(new BegetServerProvider(), inputs(s));

    expect(result.id).toMatch(/^vps-/);
    expect(result.outs).toMatchObject({ ipv4: expect.stringMatching(/^198\.51\.100\.\d+$/), status: 'RUNNING', softwareId: 6102 });
    const [post] = posts(s, '/v1/vps/server');
    // A stock OS is `software {id, variable}`, never image_id; the group and a public interface are explicit.
    expect(post?.body).toEqual({
      display_name: 'chat-1',
      hostname: 'chat-1',
      description: 'messenger-infra test (mvp)',
      configuration_params: { cpu_count: 2, memory: 2048, disk_size: 20480 },
      configuration_group: 'normal_cpu',
      software: { id: 6102, variable: {} },
      ssh_keys: [100],
      region: 'ru1',
      network_interfaces: [{ public: { allocate_new: {} } }],
    });
    const key = s.keys.get(100);
    expect(key).toMatchObject({ name: await sshKeyName(KEY), public_key: KEY });
    expect(result.outs.sshKeyId).toBe(100);
    // 4 CREATING answers, then RUNNING: exactly five status polls.
    expect(s.requests.filter((r) => r.method === 'GET' && r.path === `/v1/vps/server/${result.id}`)).toHaveLength(5);
    // No credential reaches the outputs (and so the state).
    expect(JSON.stringify(result.outs)).not.toContain(TOKEN);
  });

  for (const units of ['MiB', 'GiB'] as const) {
    it(`derives the size unit from GET /v1/vps/configuration: plans listed in ${units}`, async () => {
      const s = await start({ units, pollsUntilRunning: 0 });
      const provider = new BegetServerProvider();
      const created = await createOk(provider, inputs(s));
      const want = units === 'MiB' ? { cpu_count: 2, memory: 2048, disk_size: 20480 } : { cpu_count: 2, memory: 2, disk_size: 20 };
      expect(s.servers.get(created.id)?.configuration).toEqual({ group: 'normal_cpu', ...want });
      // State keeps the tier's MiB whatever the API's unit; read converts back.
      expect(created.outs).toMatchObject({ memoryMb: 2048, diskMb: 20480 });
      expect((await provider.read(created.id, created.outs)).props).toMatchObject({ cpuCount: 2, memoryMb: 2048, diskMb: 20480 });
      // A ready-made plan matches in either unit.
      const growth = await createOk(provider, inputs(s, { hostname: 'chat-g', ...begetSizeForTier('growth') }));
      expect(s.servers.get(growth.id)?.configuration.id).toBe('cfg-2-4');
    });
  }

  it('uses a ready-made configuration_id when one matches exactly, and registers the SSH key once', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const provider = new BegetServerProvider();
    const a = await provider.create(inputs(s, { hostname: 'chat-a', ...begetSizeForTier('growth') }));
    await provider.create(inputs(s, { hostname: 'chat-b' }));
    expect(s.servers.get(a.id)?.configuration).toEqual({ id: 'cfg-2-4', group: 'normal_cpu', cpu_count: 2, memory: 4096, disk_size: 40960 });
    expect(posts(s, '/v1/vps/sshKey')).toHaveLength(1);
  });

  for (const fingerprint of ['sha256', 'md5'] as const) {
    it(`reuses a key registered by hand under another name, matched by its ${fingerprint} fingerprint`, async () => {
      const s = await start({ fingerprint, pollsUntilRunning: 0 });
      const mine = s.seedKey('my laptop', KEY);
      const created = await createOk(new BegetServerProvider(), inputs(s));
      expect(created.outs.sshKeyId).toBe(mine.id);
      expect(posts(s, '/v1/vps/sshKey')).toHaveLength(0);
    });
  }

  it('chooses Ubuntu by name and version, and refuses an OS the marketplace does not offer before creating anything', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const ubuntu = await createOk(new BegetServerProvider(), inputs(s, { os: 'ubuntu2404' }));
    expect(s.servers.get(ubuntu.id)?.software_id).toBe('6153');

    s.options.software = [{ id: 6101, name: 'debian', display_name: 'Debian 12', version: '12', slug: 'debian-12', is_available: true }];
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { hostname: 'chat-2' })));
    expect(err.code).toBe('MI_ERR_BEGET_OS_UNAVAILABLE');
    expect(err.message).toContain('no available Debian 13 (Debian/Ubuntu offered: Debian 12 (12))');
    expect(err.message).toContain('pulumi config set os debian12');
    expect(posts(s, '/v1/vps/server')).toHaveLength(1);
  });

  it('passes --image through as image_id (a custom image of the image API), with no marketplace software', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const created = await createOk(new BegetServerProvider(), inputs(s, { imageId: 'img-custom-1' }));
    expect(posts(s, '/v1/vps/server')[0]?.body).toMatchObject({ image_id: 'img-custom-1' });
    expect(posts(s, '/v1/vps/server')[0]?.body).not.toHaveProperty('software');
    expect(created.outs.softwareId).toBeUndefined();
    const elsewhere = await codeOf(new BegetServerProvider().create(inputs(s, { hostname: 'chat-2', region: 'ru2', imageId: 'img-custom-1' })));
    expect(elsewhere.message).toContain('IMAGE_REGION_MISMATCH');
  });

  it('sends the configured configuration group and refuses one Beget does not list', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const fast = await createOk(new BegetServerProvider(), inputs(s, { configurationGroup: 'high_cpu', ...begetSizeForTier('growth') }));
    expect(s.servers.get(fast.id)?.configuration).toMatchObject({ id: 'cfg-hi-2-4', group: 'high_cpu' });
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { hostname: 'chat-2', configurationGroup: 'gpu' })));
    expect(err).toEqual({
      code: 'MI_ERR_CONFIG',
      message: 'stack config "begetConfigurationGroup": Beget lists no configuration group "gpu" (listed: normal_cpu, high_cpu); fix: pulumi config set begetConfigurationGroup normal_cpu',
    });
  });

  it('checks custom sizes against GET /v1/vps/configurator/info (ranges and steps) before the create', async () => {
    const s = await start();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { cpuCount: 64, memoryMb: 1536 })));
    expect(err.code).toBe('MI_ERR_BEGET_CONFIGURATION');
    expect(err.message).toContain('cpu_count 64 is outside 1-16');
    expect(err.message).toContain('memory (MiB) 1536 is not 1024 plus a multiple of 1024');
    expect(s.requests.some((r) => r.path === '/v1/vps/configurator/info?region=ru1&configuration_group=normal_cpu')).toBe(true);
    expect(posts(s, '/v1/vps/server')).toHaveLength(0);
  });

  it('a server that is RUNNING without a public IPv4 is a named error, and is removed again', async () => {
    const s = await start({ pollsUntilRunning: 0, noPublicIp: true, pollsUntilRemoved: 0 });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_NO_PUBLIC_IPV4');
    expect([...s.servers.values()].map((v) => v.status)).toEqual(['REMOVING']);
  });
});

describe('credentials from the environment, never from state', () => {
  it('without any, fails before a single request', async () => {
    const s = await start();
    setEnv({});
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_CREDENTIALS');
    expect(err.message).toContain('BEGET_LOGIN');
    expect(s.requests).toEqual([]);
  });

  it('logs in with BEGET_LOGIN / BEGET_PASSWORD (POST /v1/auth) and uses the token it gets', async () => {
    const s = await start({ token: undefined, account: { login: 'user1', password: 'pw' }, pollsUntilRunning: 0 });
    setEnv({ login: 'user1', password: 'pw' });
    const created = await createOk(new BegetServerProvider(), inputs(s));
    expect(posts(s, '/v1/auth').map((r) => r.body)).toEqual([{ login: 'user1', password: 'pw', saveMe: false }]);
    expect(s.requests.filter((r) => r.path !== '/v1/auth').every((r) => r.authorization === 'Bearer tok-1')).toBe(true);
    expect(JSON.stringify(created.outs)).not.toMatch(/pw|tok-1|user1/);
  });

  it('asks for BEGET_2FA_CODE when the account needs one, and sends it', async () => {
    const s = await start({ token: undefined, account: { login: 'user2', password: 'pw', code: '123456' }, pollsUntilRunning: 0 });
    setEnv({ login: 'user2', password: 'pw' });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_2FA');
    expect(err.message).toContain('export BEGET_2FA_CODE=');
    setEnv({ login: 'user2', password: 'pw', code: '123456' });
    await createOk(new BegetServerProvider(), inputs(s));
    expect(posts(s, '/v1/auth').at(-1)?.body).toEqual({ login: 'user2', password: 'pw', code: '123456', saveMe: false });
  });

  it('an expired token is refreshed (POST /v1/auth/refresh) and the read goes on', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    s.expireTokens();
    const read = await provider.read(created.id, created.outs);
    expect(read.id).toBe(created.id);
    expect(posts(s, '/v1/auth/refresh')).toHaveLength(1);
  });

  it('a revoked token fails with the fix, or falls back to the login; a destroy later uses whatever the environment has then', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilRemoved: 0, account: { login: 'user3', password: 'pw' } });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    s.revokeTokens();
    const err = await codeOf(provider.read(created.id, created.outs));
    expect(err.code).toBe('MI_ERR_BEGET_AUTH');
    expect(err.message).toContain('TOKEN_REVOKED');
    expect(err.message).toContain('BEGET_LOGIN');
    // "A day later": the old token is dead, the state holds none; the environment's login works.
    setEnv({ token: TOKEN, login: 'user3', password: 'pw' });
    await provider.delete(created.id, created.outs);
    expect(s.servers.get(created.id)?.status).toBe('REMOVED');
  });
});

describe('reading, resizing and removing', () => {
  it('reads live state; a REMOVED, archived server (or an unknown id) is gone', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    expect((await provider.read(created.id, created.outs)).props).toMatchObject({ ipv4: created.outs.ipv4, status: 'RUNNING' });
    Object.assign(s.servers.get(created.id) ?? {}, { status: 'REMOVED', archived: true });
    expect((await provider.read(created.id, created.outs)).id).toBe('');
    s.servers.delete(created.id);
    expect((await provider.read(created.id, created.outs)).id).toBe('');
  });

  it('diffs: a tier change resizes in place; region, OS, image, hostname, key or group replace only when confirmed; a smaller disk is refused', async () => {
    const s = await start();
    const provider = new BegetServerProvider();
    const olds = { ...inputs(s), ipv4: '198.51.100.1', status: 'RUNNING', sshKeyId: 100 };
    const same = { changes: false, replaces: [], deleteBeforeReplace: false };
    expect(await provider.diff('vps-1', olds, inputs(s))).toEqual(same);
    expect(await provider.diff('vps-1', olds, inputs(s, begetSizeForTier('growth')))).toEqual({ ...same, changes: true });
    // A replacement deletes the server and its data: refused unless confirmed (issue 14, finding 10).
    const yes = { allowReplace: true };
    for (const change of [{ sshPublicKey: `${KEY}x` }, { region: 'ru2' }, { os: 'debian12' as const }, { hostname: 'chat-2' }]) {
      const refused = await codeOf(provider.diff('vps-1', olds, inputs(s, change)));
      expect(refused.code, JSON.stringify(change)).toBe('MI_ERR_BEGET_REPLACE_REFUSED');
      expect(refused.message).toMatch(/would replace the Beget server .*: delete it with everything on its disk.*allowServerReplace true/);
    }
    expect(await provider.diff('vps-1', olds, inputs(s, { region: 'ru2', ...yes }))).toEqual({ changes: true, replaces: ['region'], deleteBeforeReplace: true });
    expect(await provider.diff('vps-1', olds, inputs(s, { hostname: 'chat-2', ...yes }))).toEqual({ changes: true, replaces: ['hostname'], deleteBeforeReplace: false });
    expect((await provider.diff('vps-1', olds, inputs(s, { os: 'debian12', ...yes }))).replaces).toEqual(['os']);
    expect((await provider.diff('vps-1', olds, inputs(s, { imageId: 'img-custom-1', ...yes }))).replaces).toEqual(['os', 'imageId']);
    expect((await provider.diff('vps-1', olds, inputs(s, { sshPublicKey: `${KEY}x`, ...yes }))).replaces).toEqual(['sshPublicKey']);
    expect((await provider.diff('vps-1', olds, inputs(s, { configurationGroup: 'high_cpu', ...yes }))).replaces).toEqual(['configurationGroup']);
    // The confirmation alone changes nothing on the server.
    expect((await provider.diff('vps-1', olds, inputs(s, yes))).replaces).toEqual([]);
    // With a custom image the marketplace OS is irrelevant.
    const imaged = { ...olds, imageId: 'img-custom-1' };
    expect(await provider.diff('vps-1', imaged, inputs(s, { imageId: 'img-custom-1', os: 'ubuntu2204' }))).toEqual(same);
    const shrink = await codeOf(provider.diff('vps-1', { ...olds, ...begetSizeForTier('scale') }, inputs(s)));
    expect(shrink.code).toBe('MI_ERR_BEGET_DISK_SHRINK');
    expect(shrink.message).toContain('it has 80 GiB, the tier asks for 20 GiB');
    // State written when the token was an input: an update drops it.
    expect((await provider.diff('vps-1', { ...olds, token: 'old' } as BegetServerOutputs, inputs(s))).changes).toBe(true);
  });

  it('resizes through PUT /configuration and waits until the server has left RUNNING and is RUNNING again', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsBeforeReconfiguring: 2, pollsUntilReconfigured: 3 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    const before = s.requests.length;
    const updated = await provider.update(created.id, created.outs, inputs(s, begetSizeForTier('scale')));

    expect(updated.outs).toMatchObject({ cpuCount: 4, memoryMb: 8192, diskMb: 81920, status: 'RUNNING', ipv4: created.outs.ipv4 });
    expect(s.servers.get(created.id)?.configuration).toEqual({ group: 'normal_cpu', cpu_count: 4, memory: 8192, disk_size: 81920 });
    const calls = s.requests.slice(before).filter((r) => r.path.startsWith(`/v1/vps/server/${created.id}`));
    expect(calls[1]).toMatchObject({ method: 'PUT', body: { id: created.id, configuration_params: { cpu_count: 4, memory: 8192, disk_size: 81920 } } });
    // After the PUT: 2 RUNNING-with-the-old-size answers (not done yet), 3 RECONFIGURING, then RUNNING.
    expect(calls.slice(2).map((r) => r.method)).toEqual(Array(6).fill('GET'));
    expect(s.servers.size).toBe(1);
  });

  it('refuses to shrink the live disk before sending any change', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    // Grown in the panel meanwhile; the stack still says mvp.
    Object.assign(s.servers.get(created.id)?.configuration ?? {}, { disk_size: 40960 });
    const err = await codeOf(provider.update(created.id, created.outs, inputs(s, { memoryMb: 4096 })));
    expect(err.code).toBe('MI_ERR_BEGET_DISK_SHRINK');
    expect(s.requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it('removes with an explicit ip_action, waits for REMOVED (no 404), and a repeated delete succeeds', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilRemoved: 2 });
    const provider = new BegetServerProvider();
    const created = await createOk(provider, inputs(s));
    await provider.delete(created.id, created.outs);
    expect(s.servers.get(created.id)).toMatchObject({ status: 'REMOVED', archived: true, ipAction: 'DELETE' });
    // Again: Beget answers INVALID_STATE for a REMOVED server, which counts as done.
    await provider.delete(created.id, created.outs);
    expect(posts(s, `/v1/vps/server/${created.id}/remove`)).toHaveLength(2);
  });

  it('a delete while the server is already REMOVING (ALREADY_REMOVING) succeeds', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilRemoved: 3 });
    const created = await createOk(new BegetServerProvider(), inputs(s));
    await apiOf(s).removeServer(created.id);
    await new BegetServerProvider().delete(created.id, created.outs);
    expect(s.servers.get(created.id)?.status).toBe('REMOVED');
  });
});

describe('errors and the one create', () => {
  it('never resends the create: a lost reply (502 after creating) is resolved by looking the server up by name', async () => {
    const s = await start({ pollsUntilRunning: 1, failCreate: 'after' });
    const created = await createOk(new BegetServerProvider(), inputs(s));
    expect(posts(s, '/v1/vps/server')).toHaveLength(1);
    expect(s.servers.size).toBe(1);
    expect(created.outs.status).toBe('RUNNING');
  });

  it('a create that failed (503, nothing made) is reported, not retried', async () => {
    const s = await start({ failCreate: 'before' });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err).toEqual({
      code: 'MI_ERR_BEGET_API',
      message: 'Beget API error (HTTP 503 POST /v1/vps/server): service unavailable; a server may have been created; check the Beget panel for chat-1 before retrying',
    });
    expect(posts(s, '/v1/vps/server')).toHaveLength(1);
    expect(s.servers.size).toBe(0);
  });

  it('a bad token is MI_ERR_BEGET_AUTH with the environment fix', async () => {
    const s = await start();
    setEnv({ token: 'wrong' });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_AUTH');
    expect(err.message).toContain('BEGET_TOKEN');
    expect(s.servers.size).toBe(0);
  });

  it('insufficient funds name the amounts; other business errors their code', async () => {
    const s = await start({ insufficientFunds: { needed: 120.5, current: 10 } });
    const funds = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(funds.code).toBe('MI_ERR_BEGET_FUNDS');
    expect(funds.message).toContain('(needs 120.5, balance 10)');
    s.options.insufficientFunds = undefined;
    const host = await codeOf(new BegetServerProvider().create(inputs(s, { hostname: '-bad-' })));
    expect(host.message).toContain('INVALID_HOSTNAME');
    const key = await codeOf(apiOf(s).addSshKey('k', 'not a key'));
    expect(key.message).toContain('INVALID_PUBLIC_KEY');
  });

  it('an unknown or unavailable region fails before anything is created, naming the choices', async () => {
    const s = await start();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { region: 'lv1' })));
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
  });

  it('refuses a taken hostname (walking every page) but not one of a removed, archived server', async () => {
    const s = await start({ pollsUntilRunning: 0 });
    for (let i = 0; i < 120; i++) s.seedServer(`other-${i}`);
    s.seedServer('chat-old', { status: 'REMOVED', archived: true });
    await createOk(new BegetServerProvider(), inputs(s, { hostname: 'chat-old' }));
    s.seedServer('chat-1');
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_HOSTNAME_TAKEN');
    expect(s.requests.filter((r) => r.path.startsWith('/v1/vps/server/list')).slice(-3).map((r) => r.path)).toEqual([
      '/v1/vps/server/list?offset=0&limit=50',
      '/v1/vps/server/list?offset=50&limit=50',
      '/v1/vps/server/list?offset=100&limit=50',
    ]);
  });

  it('retries a 503 on reads a bounded number of times', async () => {
    const s = await start();
    for (let i = 0; i < 73; i++) s.seedServer(`host-${i}`);
    const api = apiOf(s);
    s.options.failNext503 = 2;
    expect((await api.listServers()).map((v) => v.hostname)).toEqual(Array.from({ length: 73 }, (_, i) => `host-${i}`));
    s.options.failNext503 = 3;
    expect((await codeOf(api.listRegions())).message).toContain('HTTP 503');
  });

  it('an unreachable API is MI_ERR_BEGET_UNREACHABLE', async () => {
    const s = await start();
    await s.close();
    standin = undefined;
    expect((await codeOf(apiOf(s).listRegions())).code).toBe('MI_ERR_BEGET_UNREACHABLE');
  });
});

describe('review fixes: transient failures, cleanup, bodies, lagging lists', () => {
  const serverGets = (s: Standin, id: string) => s.requests.filter((r) => r.method === 'GET' && r.path === `/v1/vps/server/${id}`);
  const lists = (s: Standin) => s.requests.filter((r) => r.path.startsWith('/v1/vps/server/list'));

  for (const status of [503, 'reset'] as const) {
    it(`a transient failure (${status}) while waiting for a new server counts as "not yet", and the server is kept`, async () => {
      // 503: three attempts of one poll fail (the read retries are used up), then one more; 'reset': two polls drop the connection.
      const s = await start({ pollsUntilRunning: 1, failServerGets: { count: status === 503 ? 4 : 2, status } });
      const created = await createOk(new BegetServerProvider(), inputs(s));
      expect(created.outs.status).toBe('RUNNING');
      expect(s.servers.get(created.id)?.status).toBe('RUNNING');
      expect(posts(s, `/v1/vps/server/${created.id}/remove`)).toHaveLength(0);
    });
  }

  it('transient failures still end in the bounded timeout, naming the last error', async () => {
    const s = await start({ pollsUntilRunning: 0, pollsUntilRemoved: 0, failServerGets: { count: 1_000_000, status: 503 } });
    const started = Date.now();
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { pollTimeoutMs: 200 })));
    expect(err.code).toBe('MI_ERR_BEGET_TIMEOUT');
    expect(err.message).toContain('last error: Beget API error (HTTP 503 GET /v1/vps/server/vps-0001)');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(s.servers.get('vps-0001')?.status).toBe('REMOVING');
  });

  it('a 4xx while waiting fails at once', async () => {
    const s = await start({ pollsUntilRunning: 1, pollsUntilRemoved: 0, failServerGets: { count: 1, status: 400 } });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err.code).toBe('MI_ERR_BEGET_INVALID');
    expect(serverGets(s, 'vps-0001')).toHaveLength(1);
  });

  it('a failed cleanup removal names the billed server and the fix, keeping why create failed', async () => {
    const s = await start({ pollsUntilRunning: 1_000_000, failRemove: true });
    const err = await codeOf(new BegetServerProvider().create(inputs(s, { pollTimeoutMs: 100 })));
    expect(err.code).toBe('MI_ERR_BEGET_TIMEOUT');
    expect(err.message).toContain('last status CREATING');
    expect(err.message).toContain('removing the new Beget server vps-0001 (hostname chat-1) then failed: Beget API error (HTTP 500');
    expect(err.message).toContain('fix: remove server vps-0001 (chat-1) in the Beget panel');
    expect(s.servers.get('vps-0001')?.status).toBe('CREATING');
  });

  for (const kind of ['reset', 'stall'] as const) {
    it(`a reply body that is cut off (${kind}) is MI_ERR_BEGET_UNREACHABLE`, async () => {
      const s = await start({ bodyFault: { count: 1, kind } });
      const api = new BegetApi({ baseUrl: s.url, credentials: { token: TOKEN }, pollIntervalMs: 1, pollTimeoutMs: 100, requestTimeoutMs: 300 });
      const err = await codeOf(api.listRegions());
      expect(err.code).toBe('MI_ERR_BEGET_UNREACHABLE');
      expect(err.message).toContain('GET /v1/vps/region');
    });
  }

  it('after a lost create reply, a lagging list is asked again (a poll interval apart) until the server shows', async () => {
    const s = await start({ pollsUntilRunning: 0, failCreate: 'after', listLagAfterCreate: 2 });
    const created = await createOk(new BegetServerProvider(), inputs(s));
    expect(created.id).toBe('vps-0001');
    expect(posts(s, '/v1/vps/server')).toHaveLength(1);
    // One hostname check before the create, three lookups after it.
    expect(lists(s)).toHaveLength(4);
  });

  it('a server still not listed after three lookups: the error says one may exist', async () => {
    const s = await start({ pollsUntilRunning: 0, failCreate: 'after', listLagAfterCreate: 10 });
    const err = await codeOf(new BegetServerProvider().create(inputs(s)));
    expect(err).toEqual({
      code: 'MI_ERR_BEGET_API',
      message: 'Beget API error (HTTP 502 POST /v1/vps/server): bad gateway; a server may have been created; check the Beget panel for chat-1 before retrying',
    });
    expect(lists(s)).toHaveLength(4);
    expect(s.servers.size).toBe(1);
  });
});
