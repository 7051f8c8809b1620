import type { ProgramSecrets } from '../../infra/config.js';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, readFile, stat, symlink, writeFile, lstat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { OsId } from '../../src/core/os-profiles.js';
import type { TierName } from '../../src/core/tiers.js';
import { InfraError } from '../../infra/errors.js';
import { BEGET_ENV, begetCredentialsFromEnv } from '../../infra/providers/beget-auth.js';
import { runAction } from '../run-action.js';

/**
 * The cloud path of the CLI: `messenger-infra up --provider beget|hcloud` (runCloudUp, called by the
 * `up` command) and `messenger-infra destroy`. Both run the Pulumi program in infra/ through the
 * Automation API: inline program, local file backend and passphrase secrets under the user's config
 * directory, so nothing leaves the machine but the provider API calls. `--host` never comes here and
 * works without Pulumi. The Automation API is imported lazily so the rest of the CLI loads without it.
 */

export const PROJECT_NAME = 'messenger-infra';
export const DEFAULT_STACK_NAME = 'main';
export const PULUMI_INSTALL_HINT = 'install it with: curl -fsSL https://get.pulumi.com | sh (or see https://www.pulumi.com/docs/install/), or use --host to skip the cloud';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const CLOUD_PROVIDERS = ['beget', 'hcloud'] as const;
export type CloudProviderName = (typeof CLOUD_PROVIDERS)[number];

export interface CloudUpOptions {
  provider: CloudProviderName;
  stackName: string;
  tier: TierName;
  region?: string;
  domain: string;
  email: string;
  sshPublicKeyPath: string;
  /** hcloud image (default debian-12), or a custom Beget image_id; Beget's stock OS comes from `os`. */
  image?: string;
  /** The OS of a Beget server, from its marketplace (default debian13). */
  os?: OsId;
  hostname?: string;
  /** Optional host setup through the stack (infra/host-setup.ts); omitted = server only. */
  hostSetup?: {
    sshPrivateKeyPath: string;
    sshUser?: string;
    sshPort?: number;
    knownHosts?: string;
    acmeServer?: string;
    renderedDigest?: string;
  };
  /** Beget API base URL override (stack config begetApiUrl). */
  begetApiUrl?: string;
  json: boolean;
  onEvent: (line: string) => void;
  /** Defaults to process.env; tests pass their own (PATH, XDG_CONFIG_HOME, tokens). */
  env?: NodeJS.ProcessEnv;
}

export interface CloudUpResult {
  stackName: string;
  serverIp: string;
  httpsUrl: string;
  wsUrl: string;
  /** Resource operation counts from the engine ({ create: 1, same: 2, ... }). */
  changes: Record<string, number>;
}

/** Finds an executable on PATH without running it. */
export async function findOnPath(name: string, envPath: string | undefined): Promise<string | undefined> {
  for (const dir of (envPath ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Throws MI_ERR_PULUMI_MISSING (one line, with how to install) when the `pulumi` CLI is not on PATH. */
export async function requirePulumiCli(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const found = await findOnPath('pulumi', env.PATH);
  if (!found) throw new InfraError('MI_ERR_PULUMI_MISSING', `the pulumi CLI is not on PATH; ${PULUMI_INSTALL_HINT}`);
  return found;
}

/** `${XDG_CONFIG_HOME:-~/.config}/messenger-infra/pulumi`: state, passphrase and workspace live here. */
export function pulumiStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'messenger-infra', 'pulumi');
}

/**
 * The environment the Pulumi CLI and its plugins run with: file backend, passphrase (from
 * PULUMI_CONFIG_PASSPHRASE[_FILE] or a generated 0600 file), and tsx for the dynamic-provider
 * process so host setup can import the TypeScript executor.
 */
export async function pulumiEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<{ dir: string; workDir: string; envVars: Record<string, string> }> {
  const dir = pulumiStateDir(env);
  const backendDir = join(dir, 'state');
  const workDir = join(dir, 'workspace');
  await mkdir(backendDir, { recursive: true, mode: 0o700 });
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  // The dynamic-provider plugin resolves @pulumi/pulumi from its working directory (the workspace).
  const link = join(workDir, 'node_modules');
  try {
    await lstat(link);
  } catch {
    await symlink(join(PACKAGE_ROOT, 'node_modules'), link, 'dir');
  }

  const envVars: Record<string, string> = { PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_SKIP_UPDATE_CHECK: 'true' };
  // The Beget provider reads its credentials from its process environment at every operation; they
  // reach it through the Pulumi CLI's environment, never through argv, stack config or state.
  for (const name of Object.values(BEGET_ENV)) if (env[name]) envVars[name] = env[name];
  if (!env.PULUMI_CONFIG_PASSPHRASE && !env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    envVars.PULUMI_CONFIG_PASSPHRASE_FILE = await passphraseFile(dir);
  }
  // Resolved from the plugin's cwd (the workspace), whose node_modules link holds tsx.
  envVars.NODE_OPTIONS = [env.NODE_OPTIONS, '--import tsx'].filter(Boolean).join(' ');
  return { dir, workDir, envVars };
}

/** A random passphrase kept in a 0600 file, created once; an existing file readable by others is refused. */
export async function passphraseFile(dir: string): Promise<string> {
  const file = join(dir, 'passphrase');
  try {
    await writeFile(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) {
    throw new InfraError('MI_ERR_PASSPHRASE_MODE', `${file} is readable by other users (mode ${mode.toString(8)}); fix: chmod 600 ${file}`);
  }
  return file;
}

function requireEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name];
  if (!value) throw new InfraError('MI_ERR_CONFIG', `${name} is not set; fix: export ${name}=<${what}>`);
  return value;
}

/**
 * Stack config for the program: plain settings only. Pulumi's setAllConfig runs `pulumi config set-all
 * --secret KEY=VALUE`, where any user's `ps` would show a secret: the cloud token and the SSH private
 * key go to the inline program in memory instead (`ProgramSecrets`), which this process runs itself.
 */
export async function stackConfig(opts: CloudUpOptions, env: NodeJS.ProcessEnv): Promise<Record<string, { value: string }>> {
  return (await programInput(opts, env)).config;
}

/** The settings (stack config) and the secrets (handed to the inline program, never to a command line). */
export async function programInput(opts: CloudUpOptions, env: NodeJS.ProcessEnv): Promise<{ config: Record<string, { value: string }>; secrets: ProgramSecrets }> {
  let sshPublicKey: string;
  try {
    sshPublicKey = (await readFile(opts.sshPublicKeyPath, 'utf8')).trim();
  } catch (err) {
    throw new InfraError('MI_ERR_CONFIG', `--ssh-public-key: cannot read ${opts.sshPublicKeyPath} (${(err as NodeJS.ErrnoException).code ?? 'error'}); fix: point it at an OpenSSH .pub file`);
  }
  const secrets: ProgramSecrets = {};
  const c: Record<string, { value: string }> = {
    tier: { value: opts.tier },
    provider: { value: opts.provider },
    domain: { value: opts.domain },
    email: { value: opts.email },
    sshPublicKey: { value: sshPublicKey },
  };
  if (opts.region) c.region = { value: opts.region };
  if (opts.image) c.image = { value: opts.image };
  if (opts.os) c.os = { value: opts.os };
  if (opts.hostname) c.hostname = { value: opts.hostname };
  if (opts.begetApiUrl) c.begetApiUrl = { value: opts.begetApiUrl };
  if (opts.provider === 'beget') {
    // Checked here so a missing login fails before Pulumi starts; the provider reads them itself.
    begetCredentialsFromEnv(env);
  } else {
    secrets.hcloudToken = requireEnv(env, 'HCLOUD_TOKEN', 'Hetzner Cloud API token');
  }
  const hs = opts.hostSetup;
  if (hs) {
    secrets.sshPrivateKey = await readFile(hs.sshPrivateKeyPath, 'utf8');
    if (hs.sshUser) c.sshUser = { value: hs.sshUser };
    if (hs.sshPort) c.sshPort = { value: String(hs.sshPort) };
    if (hs.knownHosts) c.knownHosts = { value: hs.knownHosts };
    if (hs.acmeServer) c.acmeServer = { value: hs.acmeServer };
    if (hs.renderedDigest) c.renderedDigest = { value: hs.renderedDigest };
  }
  return { config: c, secrets };
}

async function openStack(stackName: string, env: NodeJS.ProcessEnv, secrets: ProgramSecrets = {}) {
  await requirePulumiCli(env);
  const { LocalWorkspace } = await import('@pulumi/pulumi/automation/index.js');
  const { messengerInfra } = await import('../../infra/program.js');
  const { readInfraConfig } = await import('../../infra/config.js');
  const { workDir, envVars } = await pulumiEnvironment(env);
  return LocalWorkspace.createOrSelectStack(
    // The program runs in this process: its secrets come from memory, not from the stack's config.
    { stackName, projectName: PROJECT_NAME, program: async () => messengerInfra(readInfraConfig(undefined, secrets)) },
    {
      workDir,
      envVars,
      secretsProvider: 'passphrase',
      projectSettings: { name: PROJECT_NAME, runtime: 'nodejs', backend: { url: envVars.PULUMI_BACKEND_URL } },
    },
  );
}

function streamLines(onEvent: (line: string) => void): (out: string) => void {
  let pending = '';
  return (out: string) => {
    pending += out;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') onEvent(line);
  };
}

/** `up --provider beget|hcloud`: creates or updates the stack and returns its outputs. */
export async function runCloudUp(opts: CloudUpOptions): Promise<CloudUpResult> {
  const env = opts.env ?? process.env;
  // Detect first: no state directory or config is touched when Pulumi is missing.
  await requirePulumiCli(env);
  const { config, secrets } = await programInput(opts, env);
  const stack = await openStack(opts.stackName, env, secrets);
  await stack.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [`${PROJECT_NAME}:${k}`, v])));
  const result = await stack.up(
    opts.json ? { onEvent: (event) => opts.onEvent(JSON.stringify(event)) } : { onOutput: streamLines(opts.onEvent), color: 'never' },
  );
  const out = result.outputs;
  const value = (key: string): string => {
    const o = out[key];
    if (!o || typeof o.value !== 'string') throw new InfraError('MI_ERR_PULUMI_OUTPUT', `stack output "${key}" missing after pulumi up`);
    return o.value;
  };
  return {
    stackName: opts.stackName,
    serverIp: value('serverIp'),
    httpsUrl: value('httpsUrl'),
    wsUrl: value('wsUrl'),
    changes: (result.summary.resourceChanges ?? {}) as Record<string, number>,
  };
}

export interface DestroyOptions {
  stack: string;
  yes?: boolean;
  json?: boolean;
}

/** Asks on a TTY unless --yes; refuses without --yes when stdin is not a TTY (scripts must opt in). */
export async function confirmDestroy(stackName: string, yes: boolean, input: NodeJS.ReadableStream & { isTTY?: boolean }, output: NodeJS.WritableStream): Promise<void> {
  if (yes) return;
  if (!input.isTTY) {
    throw new InfraError('MI_ERR_DESTROY_UNCONFIRMED', `destroy: stdin is not a terminal, refusing to delete stack "${stackName}" without --yes; fix: messenger-infra destroy --stack ${stackName} --yes`);
  }
  const rl = createInterface({ input, output });
  try {
    const answer = await rl.question(`Delete the server and everything in stack "${stackName}"? Type the stack name to confirm: `);
    if (answer.trim() !== stackName) throw new InfraError('MI_ERR_DESTROY_UNCONFIRMED', `destroy: not confirmed; stack "${stackName}" left as it is`);
  } finally {
    rl.close();
  }
}

export async function runDestroy(opts: DestroyOptions & { onEvent: (line: string) => void; env?: NodeJS.ProcessEnv; input?: NodeJS.ReadableStream & { isTTY?: boolean } }): Promise<Record<string, number>> {
  const env = opts.env ?? process.env;
  await confirmDestroy(opts.stack, opts.yes ?? false, opts.input ?? process.stdin, process.stderr);
  await requirePulumiCli(env);
  const stack = await openStack(opts.stack, env);
  const result = await stack.destroy(
    opts.json ? { onEvent: (event) => opts.onEvent(JSON.stringify(event)) } : { onOutput: streamLines(opts.onEvent), color: 'never' },
  );
  return (result.summary.resourceChanges ?? {}) as Record<string, number>;
}

/** Adds `destroy [--stack NAME] [--yes]`; `up --provider` is wired by the `up` command through runCloudUp. */
export function register(program: Command): void {
  program
    .command('destroy')
    .description('tear down a cloud stack created with `up --provider` (asks first unless --yes)')
    .option('--stack <name>', 'stack name', DEFAULT_STACK_NAME)
    .option('--yes', 'do not ask for confirmation (required when stdin is not a terminal)', false)
    .option('--json', 'engine events as JSON lines', false)
    .action(
      runAction(async (o: { stack: string; yes: boolean; json: boolean }) => {
        const changes = await runDestroy({ stack: o.stack, yes: o.yes, json: o.json, onEvent: (line) => process.stdout.write(line + '\n') });
        if (o.json) process.stdout.write(JSON.stringify({ event: 'destroyed', stack: o.stack, changes }) + '\n');
        else process.stdout.write(`stack "${o.stack}" destroyed (${Object.entries(changes).map(([k, v]) => `${k}: ${v}`).join(', ') || 'nothing to do'})\n`);
      }),
    );
}

