import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostSetupProvider, type HostSetupApi } from '../../infra/host-setup.js';
import { begetSizeForTier } from '../../infra/providers/beget.js';
import { startBegetStandin, type Standin } from './beget-standin.js';

/**
 * The engine never runs our TypeScript: it runs the provider's serialized closure in its own plain
 * `node` process (pulumi-resource-pulumi-nodejs, require-from-string). This test does the same: the
 * program is declared under `node --import tsx` like the CLI does, and the serialized Beget provider
 * is loaded in a separate plain node process and driven against the stand-in.
 */
const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const TOKEN = 'serialized-token';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop';

const DRIVER = `
const requireFromString = require('require-from-string');
const fs = require('node:fs');
const [providerFile, inputsJson] = process.argv.slice(1);
const provider = requireFromString(fs.readFileSync(providerFile, 'utf8')).handler();
(async () => {
  const inputs = JSON.parse(inputsJson);
  const created = await provider.create(inputs);
  const diff = await provider.diff(created.id, created.outs, { ...inputs, memoryMb: inputs.memoryMb * 2 });
  await provider.delete(created.id, created.outs);
  // Credentials come from the environment at every operation, not from the inputs.
  process.env.BEGET_TOKEN = 'bad';
  let authError;
  try { await provider.create({ ...inputs, hostname: 'serialized-2' }); } catch (e) { authError = { code: e.code, message: e.message }; }
  process.stdout.write(JSON.stringify({ created, diff, authError }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

let standin: Standin;
let dir: string;
let serialized: Record<string, string>;

beforeAll(async () => {
  standin = await startBegetStandin({ token: TOKEN, pollsUntilRunning: 2, pollsUntilRemoved: 1 });
  dir = await mkdtemp(join(tmpdir(), 'mi-serialized-'));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'tests/infra/fixtures/print-serialized-providers.ts'], { cwd: ROOT, timeout: 60_000 });
  serialized = JSON.parse(stdout) as Record<string, string>;
});

afterAll(async () => {
  await standin?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('serialized dynamic providers', () => {
  it('the Beget provider runs from its serialized text in a plain node process', async () => {
    const file = join(dir, 'beget-provider.js');
    await writeFile(file, serialized.BegetServer ?? '');
    const inputs = {
      apiUrl: standin.url,
      region: 'ru1',
      os: 'debian13',
      hostname: 'serialized-1',
      sshPublicKey: KEY,
      ...begetSizeForTier('mvp'),
      description: 'serialized',
      pollIntervalMs: 5,
      pollTimeoutMs: 2_000,
    };
    // Plain node: no tsx, no TypeScript, only what the serialized text carries.
    const { stdout } = await run(process.execPath, ['-e', DRIVER, file, JSON.stringify(inputs)], {
      cwd: ROOT,
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', BEGET_TOKEN: TOKEN },
    });
    const result = JSON.parse(stdout) as {
      created: { id: string; outs: { ipv4: string; status: string } };
      diff: { changes: boolean; replaces: string[] };
      authError: { code: string; message: string };
    };
    expect(result.created.id).toMatch(/^vps-/);
    expect(result.created.outs.status).toBe('RUNNING');
    expect(result.created.outs.ipv4).toMatch(/^198\.51\.100\./);
    expect(result.diff).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    // Removed servers stay, REMOVED and archived, as the spec has it.
    expect(standin.servers.get(result.created.id)).toMatchObject({ status: 'REMOVED', archived: true });
    expect(standin.specViolations).toEqual([]);
    // The serialized text carries no credential.
    expect(serialized.BegetServer).not.toContain(TOKEN);
    expect(result.authError.code).toBe('MI_ERR_BEGET_AUTH');
    // Errors keep their message after serialization (the engine prints it).
    expect(result.authError.message).toContain('Beget API rejected the token from BEGET_TOKEN');
  });

  it('the serialized host setup provider imports the executor lazily by absolute URL (tsx in NODE_OPTIONS)', async () => {
    const file = join(dir, 'host-setup-provider.js');
    await writeFile(file, serialized.HostSetup ?? '');
    // Loopback and a closed port: if the executor exists it fails fast on connect, never leaving the host.
    const input = {
      host: '127.0.0.1', sshPort: 1, sshUser: 'root', sshPrivateKey: 'k', knownHosts: '', tier: 'mvp', domain: 'chat.example.com',
      email: 'admin@example.com', acmeServer: 'https://127.0.0.1:14000/dir', renderedDigest: 'sha256:1',
    };
    const driver = `
      const provider = require('require-from-string')(require('node:fs').readFileSync(process.argv[1], 'utf8')).handler();
      const input = JSON.parse(process.argv[2]);
      provider.diff('id', { ...input, changed: 0, ok: 0, failed: 0 }, input)
        .then((r) => process.stdout.write(JSON.stringify({ result: r })))
        .catch((e) => process.stdout.write(JSON.stringify({ code: e.code, message: String(e.message) })));
    `;
    const { stdout } = await run(process.execPath, ['-e', driver, file, JSON.stringify(input)], {
      cwd: ROOT,
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '--import tsx' },
    });
    const outcome = JSON.parse(stdout) as { code?: string; message?: string; result?: unknown };
    if (existsSync(new URL('../../src/executor/host-setup-api.ts', import.meta.url))) {
      // The executor loaded and ran (it answers or fails on the closed port, but not as "unavailable").
      expect(outcome.code).not.toBe('MI_ERR_HOST_SETUP_UNAVAILABLE');
    } else {
      expect(outcome.code).toBe('MI_ERR_HOST_SETUP_UNAVAILABLE');
      expect(outcome.message).toContain('src/executor/host-setup-api.ts');
      expect(outcome.message).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
    }
  });

  it('the host setup provider serializes with the executor module URL and no secrets', () => {
    const text = serialized.HostSetup ?? '';
    expect(text).toContain('src/executor/host-setup-api.ts');
    expect(text).toContain('return import(specifier)');
    expect(text).not.toContain('unused');
  });
});

/** The host setup resource's inputs for a server at 203.0.113.10 (no host is contacted). */
const HOST_SETUP_INPUT = {
  host: '203.0.113.10',
  sshPort: 22,
  sshUser: 'root',
  sshPrivateKey: 'k',
  knownHosts: '',
  tier: 'mvp' as const,
  domain: 'chat.example.com',
  email: 'admin@example.com',
  acmeServer: 'https://acme-v02.api.letsencrypt.org/directory',
  renderedDigest: 'sha256:1',
};

describe('host setup provider diff (no host contacted)', () => {
  const input = HOST_SETUP_INPUT;

  it('a changed rendered digest or tier is a change without asking the host', async () => {
    const provider = new HostSetupProvider();
    const olds = { ...input, changed: 0, ok: 10, failed: 0 };
    expect(await provider.diff('id', olds, { ...input, renderedDigest: 'sha256:2' })).toEqual({ changes: true });
    expect(await provider.diff('id', olds, { ...input, tier: 'scale' })).toEqual({ changes: true });
  });

  it('an address not known yet (server being replaced) is a change', async () => {
    const provider = new HostSetupProvider();
    const unknown = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
    const olds = { ...input, host: unknown, changed: 0, ok: 10, failed: 0 };
    expect(await provider.diff('id', olds, { ...input, host: unknown })).toEqual({ changes: true });
  });
});

describe('the host key recorded at setup is pinned', () => {
  const input = HOST_SETUP_INPUT;
  /** The executor's API as the provider calls it, recording the known_hosts each call was given. */
  function recording() {
    const seen: string[] = [];
    const api: HostSetupApi = {
      planHostSetup: async (i) => (seen.push(i.knownHosts), { changes: [] }),
      applyHostSetup: async (i) => (seen.push(i.knownHosts), { changed: 0, ok: 1, failed: 0, hostKey: '203.0.113.10 ssh-ed25519 AAAAnew' }),
    };
    return { seen, provider: new HostSetupProvider(async () => api) };
  }

  it('for the address and SSH port as they are now; the stack’s own knownHosts wins; a new address trusts on first use', async () => {
    const { seen, provider } = recording();
    const olds = { ...input, sshPort: 2222, changed: 0, ok: 1, failed: 0, hostKey: '[203.0.113.10]:2222 ssh-ed25519 AAAArecorded' };
    await provider.update('id', olds, input);
    await provider.update('id', olds, { ...input, knownHosts: '203.0.113.10 ssh-ed25519 AAAAgiven\n' });
    await provider.update('id', { ...olds, host: '198.51.100.7' }, input);
    expect(seen).toEqual(['203.0.113.10 ssh-ed25519 AAAArecorded\n', '203.0.113.10 ssh-ed25519 AAAAgiven\n', '']);
    // What the host presented is recorded for the next run.
    expect((await provider.create(input)).outs?.hostKey).toBe('203.0.113.10 ssh-ed25519 AAAAnew');
  });
});
