import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  confirmDestroy,
  findOnPath,
  PULUMI_INSTALL_HINT,
  pulumiEnvironment,
  register,
  requirePulumiCli,
  runCloudUp,
  runDestroy,
  programInput,
  stackConfig,
} from '../../cli/commands/cloud.js';
import { InfraError } from '../../infra/errors.js';

let tmp: string;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mi-cloud-'));
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<InfraError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(InfraError);
    return err as InfraError;
  }
  throw new Error('expected a rejection');
}

/** A PATH made of real system directories minus any that hold a pulumi binary. */
function pathWithoutPulumi(): string {
  return ['/usr/local/sbin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
}

describe('pulumi CLI detection', () => {
  it('is missing from a PATH without it: MI_ERR_PULUMI_MISSING with how to install, on one line', async () => {
    expect(await findOnPath('pulumi', pathWithoutPulumi())).toBeUndefined();
    const err = await rejection(requirePulumiCli({ PATH: pathWithoutPulumi() }));
    expect(err.code).toBe('MI_ERR_PULUMI_MISSING');
    expect(err.message).toContain('curl -fsSL https://get.pulumi.com | sh');
    expect(err.message).toContain('https://www.pulumi.com/docs/install/');
    expect(err.message).not.toContain('\n');
  });

  it('finds an executable named pulumi on PATH, and ignores a non-executable one', async () => {
    const bin = join(tmp, 'bin');
    await mkdir(bin);
    const file = join(bin, 'pulumi');
    await writeFile(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expect(await findOnPath('pulumi', `${pathWithoutPulumi()}:${bin}`)).toBeUndefined();
    await chmod(file, 0o755);
    expect(await requirePulumiCli({ PATH: `${pathWithoutPulumi()}:${bin}` })).toBe(file);
  });

  it('runCloudUp fails on the missing CLI before touching state, config or tokens', async () => {
    const err = await rejection(
      runCloudUp({
        provider: 'beget',
        stackName: 'main',
        tier: 'mvp',
        domain: 'chat.example.com',
        email: 'admin@example.com',
        sshPublicKeyPath: join(tmp, 'does-not-exist.pub'),
        json: false,
        onEvent: () => undefined,
        env: { PATH: pathWithoutPulumi(), XDG_CONFIG_HOME: join(tmp, 'config') },
      }),
    );
    expect(err.code).toBe('MI_ERR_PULUMI_MISSING');
    await expect(stat(join(tmp, 'config'))).rejects.toThrow();
  });

  it('destroy --yes also stops at the missing CLI', async () => {
    const err = await rejection(runDestroy({ stack: 'main', yes: true, onEvent: () => undefined, env: { PATH: pathWithoutPulumi(), XDG_CONFIG_HOME: tmp } }));
    expect(err.code).toBe('MI_ERR_PULUMI_MISSING');
  });
});

describe('up --provider with flags (no stack file)', () => {
  it('needs no target host before provisioning: without Pulumi it stops at MI_ERR_PULUMI_MISSING, one line', async () => {
    const key = join(tmp, 'k');
    await writeFile(`${key}.pub`, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop\n');
    await writeFile(key, 'not used before the server exists\n', { mode: 0o600 });
    const args = ['up', '--provider', 'beget', '--tier', 'mvp', '--domain', 'chat.example.com', '--email', 'ops@example.com', '--ssh-public-key', `${key}.pub`, '--image', 'ID'];
    const env = { PATH: pathWithoutPulumi(), HOME: tmp, XDG_CONFIG_HOME: join(tmp, 'config') };
    // --ssh-key (or --ssh-user, --ssh-port) used to make a target without a host: "stack.target.host: is required; it Invalid input..."
    for (const extra of [[], ['--ssh-key', key, '--ssh-user', 'deploy']]) {
      const r = spawnSync(process.execPath, ['bin/messenger-infra.js', ...args, ...extra], { cwd: new URL('../../', import.meta.url).pathname, env, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe(`error: the pulumi CLI is not on PATH; ${PULUMI_INSTALL_HINT}\n`);
      expect(r.status).toBe(1);
    }
    await expect(stat(join(tmp, 'config'))).rejects.toThrow();
  });
});

describe('destroy confirmation', () => {
  function tty(answer?: string): PassThrough & { isTTY: boolean } {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    if (answer !== undefined) setTimeout(() => input.write(`${answer}\n`), 5);
    return input;
  }

  it('refuses without --yes when stdin is not a terminal', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: false });
    const err = await rejection(confirmDestroy('main', false, input, new PassThrough()));
    expect(err.code).toBe('MI_ERR_DESTROY_UNCONFIRMED');
    expect(err.message).toContain('--yes');
    const viaCommand = await rejection(runDestroy({ stack: 'main', onEvent: () => undefined, input, env: { PATH: pathWithoutPulumi() } }));
    expect(viaCommand.code).toBe('MI_ERR_DESTROY_UNCONFIRMED');
  });

  it('on a terminal, asks and goes on only when the stack name is typed back', async () => {
    const prompt = new PassThrough();
    await confirmDestroy('main', false, tty('main'), prompt);
    expect(String(prompt.read())).toContain('Type the stack name to confirm');
    const err = await rejection(confirmDestroy('main', false, tty('yes'), new PassThrough()));
    expect(err.code).toBe('MI_ERR_DESTROY_UNCONFIRMED');
  });

  it('--yes skips the question', async () => {
    await confirmDestroy('main', true, Object.assign(new PassThrough(), { isTTY: false }), new PassThrough());
  });

  it('registers `destroy [--stack NAME] [--yes]`', () => {
    const program = new Command();
    register(program);
    const destroy = program.commands.find((c) => c.name() === 'destroy');
    expect(destroy?.options.map((o) => o.long)).toEqual(['--stack', '--yes', '--json']);
  });
});

describe('local Pulumi environment', () => {
  it('uses a file backend and a 0600 generated passphrase under XDG_CONFIG_HOME, reused on the next run', async () => {
    const env = { XDG_CONFIG_HOME: join(tmp, 'cfg'), PATH: pathWithoutPulumi() };
    const first = await pulumiEnvironment(env);
    const dir = join(tmp, 'cfg', 'messenger-infra', 'pulumi');
    expect(first.dir).toBe(dir);
    expect(first.envVars.PULUMI_BACKEND_URL).toBe(`file://${dir}/state`);
    expect(first.envVars.PULUMI_CONFIG_PASSPHRASE_FILE).toBe(join(dir, 'passphrase'));
    expect((await stat(join(dir, 'passphrase'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(first.envVars.NODE_OPTIONS).toBe('--import tsx');
    expect(await readlink(join(first.workDir, 'node_modules'))).toMatch(/node_modules$/);
    const passphrase = await readFile(join(dir, 'passphrase'), 'utf8');
    expect(passphrase.trim().length).toBeGreaterThanOrEqual(40);

    await pulumiEnvironment(env);
    expect(await readFile(join(dir, 'passphrase'), 'utf8')).toBe(passphrase);
  });

  it('hands the Beget credentials to the Pulumi CLI (and so the provider) through its environment only', async () => {
    const env = { XDG_CONFIG_HOME: join(tmp, 'cfg'), PULUMI_CONFIG_PASSPHRASE: 'p', BEGET_LOGIN: 'user1', BEGET_PASSWORD: 'pw', BEGET_2FA_CODE: '123456', OTHER: 'x' };
    const { envVars } = await pulumiEnvironment(env);
    expect(envVars).toMatchObject({ BEGET_LOGIN: 'user1', BEGET_PASSWORD: 'pw', BEGET_2FA_CODE: '123456' });
    expect(envVars).not.toHaveProperty('BEGET_TOKEN');
    expect(envVars).not.toHaveProperty('OTHER');
  });

  it('takes PULUMI_CONFIG_PASSPHRASE from the environment instead of writing a file', async () => {
    const env = { XDG_CONFIG_HOME: join(tmp, 'cfg'), PULUMI_CONFIG_PASSPHRASE: 'from-env' };
    const result = await pulumiEnvironment(env);
    expect(result.envVars.PULUMI_CONFIG_PASSPHRASE_FILE).toBeUndefined();
    await expect(stat(join(result.dir, 'passphrase'))).rejects.toThrow();
  });

  it('refuses a passphrase file other users can read', async () => {
    const env = { XDG_CONFIG_HOME: join(tmp, 'cfg') };
    const { dir } = await pulumiEnvironment(env);
    await chmod(join(dir, 'passphrase'), 0o644);
    const err = await rejection(pulumiEnvironment(env));
    expect(err.code).toBe('MI_ERR_PASSPHRASE_MODE');
    expect(err.message).toContain('chmod 600');
  });
});

describe('what reaches Pulumi\'s command line', () => {
  it('hcloud: the token and the host setup key stay out of the stack config (setAllConfig puts values in argv)', async () => {
    const pub = join(tmp, 'k2.pub');
    const key = join(tmp, 'id_test');
    await writeFile(pub, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop\n');
    await writeFile(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-private\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    const opts = {
      provider: 'hcloud' as const, stackName: 'main', tier: 'mvp' as const, domain: 'chat.example.com', email: 'a@example.com', sshPublicKeyPath: pub, json: false,
      onEvent: () => undefined, hostSetup: { sshPrivateKeyPath: key },
    };
    const { config, secrets } = await programInput(opts, { HCLOUD_TOKEN: 'hcloud-token-value' });
    expect(JSON.stringify(config)).not.toMatch(/hcloud-token-value|PRIVATE KEY/);
    expect(Object.keys(config)).not.toContain('hcloudToken');
    expect(Object.keys(config)).not.toContain('sshPrivateKey');
    expect(secrets.hcloudToken).toBe('hcloud-token-value');
    expect(secrets.sshPrivateKey).toContain('b3BlbnNzaC1rZXktdjEAAAAA-private');
    // And nothing is marked for `--secret`: a config value is never a secret any more.
    expect(Object.values(config).some((v) => 'secret' in v)).toBe(false);
  });
});

describe('Beget stack config', () => {
  async function config(env: NodeJS.ProcessEnv, over: { image?: string } = {}) {
    const pub = join(tmp, 'k.pub');
    await writeFile(pub, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop\n');
    const base = { provider: 'beget' as const, stackName: 'main', tier: 'mvp' as const, domain: 'chat.example.com', email: 'a@example.com', sshPublicKeyPath: pub, json: false, onEvent: () => undefined };
    return stackConfig({ ...base, ...over }, env);
  }

  it('needs no --image (the OS comes from the marketplace) and holds no credential', async () => {
    const c = await config({ BEGET_TOKEN: 'secret-token' });
    expect(Object.keys(c).sort()).toEqual(['domain', 'email', 'provider', 'sshPublicKey', 'tier']);
    expect(JSON.stringify(c)).not.toContain('secret-token');
    expect((await config({ BEGET_LOGIN: 'u', BEGET_PASSWORD: 'p' }, { image: 'img-custom-1' })).image).toEqual({ value: 'img-custom-1' });
  });

  it('fails early, on one line, without a login and password or a token', async () => {
    const err = await rejection(config({ BEGET_LOGIN: 'only-login' }));
    expect(err.code).toBe('MI_ERR_BEGET_CREDENTIALS');
    expect(err.message).toBe(
      'the Beget credentials are not in the environment; fix: export BEGET_LOGIN=<login> BEGET_PASSWORD=<password> (plus BEGET_2FA_CODE=<code> when 2FA is on), or BEGET_TOKEN=<token>',
    );
  });
});
