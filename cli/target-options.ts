import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { resolveBackupSecrets, type ResolvedBackupSecrets } from '../src/config/backup-secrets.js';
import { resolveAppSecrets, resolveJwtSecret } from '../src/config/jwt-secret.js';
import { loadStack, readStackFile, type StackOverrides } from '../src/config/load.js';
import { placementsOf } from '../src/core/topology.js';
import type { ServerTarget } from '../src/executor/up-many.js';
import type { ServerConfig, StackConfig } from '../src/config/schema.js';

type SshConfig = ServerConfig['ssh'];
import type { AppBundle } from '../src/core/desired-state.js';
import { ConfigError } from '../src/errors/index.js';
import { readAppBundle } from '../src/executor/bundle.js';
import type { SshTarget } from '../src/executor/ssh-host.js';
import { LOCK_WAIT_SECONDS } from '../src/executor/host-lock.js';
import { plannedHosts, SANDBOX_ENDPOINT, SANDBOX_OSES, type SandboxHost, type SandboxInfo, type SandboxOs } from '../src/sandbox/index.js';
import { parsePort, parseSeconds } from './run-action.js';

/** Flags shared by `up` and `plan`: the stack and how to reach the host. */
export interface TargetFlags {
  stack?: string;
  tier?: string;
  domain?: string;
  email?: string;
  host?: string;
  sshUser?: string;
  sshPort?: number;
  sshKey?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  acmeServer?: string;
  acmeCa?: string;
  verifyCa?: string;
  appPort?: number;
  sandbox?: boolean;
  os?: SandboxOs;
  lockWait?: number;
}

export function addTargetOptions(command: Command): Command {
  return command
    .option('--stack <file>', 'stack file (YAML); flags override it')
    .option('--tier <tier>', 'mvp | growth | scale')
    .option('--domain <name>', 'the chat domain, e.g. chat.example.com')
    .option('--email <address>', 'ACME account e-mail')
    .option('--host <address>', 'the server to set up (IP or name)')
    .option('--ssh-user <user>', 'SSH user: root, or a user with passwordless sudo (default root)')
    .option('--ssh-port <port>', 'SSH port (default 22)', parsePort)
    .option('--ssh-key <file>', 'SSH private key (default: the SSH agent)')
    .option('--known-hosts <file>', 'known_hosts file used to check the host key (default ~/.ssh/known_hosts)')
    .option('--accept-new-host-key', 'trust a host key that known_hosts does not list yet (a fresh server)')
    .option('--acme-server <url>', "ACME directory URL (default: Let's Encrypt)")
    .option('--acme-ca <file>', "CA bundle the host's certbot must trust to reach the ACME server")
    .option('--verify-ca <file>', 'root the issued certificate chains to, for the closing check')
    .option('--app-port <port>', 'first loopback port of the chat server (default 3000)', parsePort)
    .option('--lock-wait <seconds>', `how long to wait for another run's host lock (default ${LOCK_WAIT_SECONDS})`, parseSeconds)
    .option('--sandbox', 'target the local sandbox VPS (started if needed), with its ACME CA')
    .addOption(new Option('--os <os>', 'OS of the sandbox (with --sandbox) or the new cloud server (with --provider)').choices(SANDBOX_OSES).default('debian13'));
}

/** The sandbox as the stack sees it: its fixed endpoint, plus its files and guests once it has booted. */
type SandboxTarget = Pick<SandboxInfo, keyof typeof SANDBOX_ENDPOINT> &
  Partial<Pick<SandboxInfo, 'sshKeyPath' | 'knownHostsPath' | 'acmeCaBundlePath' | 'verifyCaPath'>> & {
    hosts?: readonly Pick<SandboxHost, 'sshHost' | 'sshPort' | 'privateAddress'>[];
  };

/**
 * The servers of a multi-host stack file, the edge first: the order they take the sandbox's guests
 * in (guest 1 is the one whose 80/443 this machine forwards). Empty for a one-server stack.
 */
export function stackServerNames(flags: Pick<TargetFlags, 'stack'>): string[] {
  if (!flags.stack) return [];
  const { data } = readStackFile(flags.stack);
  const servers = data.servers;
  if (typeof servers !== 'object' || servers === null) return [];
  const names = Object.keys(servers);
  const edge = (data.hosts as { edge?: unknown } | undefined)?.edge;
  return typeof edge === 'string' && names.includes(edge) ? [edge, ...names.filter((n) => n !== edge)] : names;
}

/** Each server of the stack on a sandbox guest: its SSH port here and its private address. */
function sandboxServers(names: readonly string[], sandbox: SandboxTarget): Record<string, unknown> {
  const hosts = sandbox.hosts ?? plannedHosts(names.length);
  return Object.fromEntries(
    names.map((name, i) => {
      const guest = hosts[i];
      if (!guest) throw new ConfigError('stack.servers', `names ${names.length} servers but the sandbox has ${hosts.length} guests; stop it with \`messenger-infra sandbox down\` and retry`);
      return [
        name,
        defined({
          host: guest.sshHost,
          privateAddress: guest.privateAddress ?? undefined,
          ssh: defined({ user: sandbox.sshUser, port: guest.sshPort, key: sandbox.sshKeyPath, knownHosts: sandbox.knownHostsPath }),
        }),
      ];
    }),
  );
}

function defined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0))) as T;
}

/** CLI flags as a partial stack (only the flags that were given). */
export function overridesFrom(flags: TargetFlags, sandbox?: SandboxTarget, servers: readonly string[] = []): StackOverrides {
  const multi = sandbox !== undefined && servers.length > 0;
  return defined({
    tier: flags.tier ?? (sandbox && !flags.stack ? 'mvp' : undefined),
    domain: flags.domain ?? sandbox?.domain,
    email: flags.email ?? sandbox?.email,
    servers: multi ? sandboxServers(servers, sandbox) : undefined,
    target: multi
      ? undefined
      : sandbox
      ? { host: sandbox.sshHost, ssh: { user: sandbox.sshUser, port: sandbox.sshPort, key: sandbox.sshKeyPath, knownHosts: sandbox.knownHostsPath } }
      : flags.host || flags.sshUser || flags.sshPort || flags.sshKey || flags.knownHosts
        ? (defined({
            host: flags.host,
            ssh: defined({ user: flags.sshUser, port: flags.sshPort, key: flags.sshKey, knownHosts: flags.knownHosts }),
          }) as StackOverrides['target'])
        : undefined,
    acme: defined({ server: flags.acmeServer ?? sandbox?.acmeDirectory, caBundle: flags.acmeCa ?? sandbox?.acmeCaBundlePath }),
    verify: defined({ ca: flags.verifyCa ?? sandbox?.verifyCaPath }),
    app: defined({ port: flags.appPort }),
  } as StackOverrides);
}

export function loadTargetStack(flags: TargetFlags, sandbox?: SandboxTarget): StackConfig {
  const servers = sandbox ? stackServerNames(flags) : [];
  return loadStack({ ...(flags.stack ? { file: flags.stack } : {}), overrides: overridesFrom(flags, sandbox, servers) });
}

/** Every server of a multi-host stack with how to reach it, the db server first (placementsOf). */
export function serverTargetsOf(stack: StackConfig, flags: TargetFlags): ServerTarget[] {
  return placementsOf(stack).map((placement) => {
    const server = stack.servers?.[placement.name];
    const field = `stack.servers.${placement.name}.host`;
    if (!server?.host) throw new ConfigError(field, 'is required: the address this machine reaches the server at over SSH (or use --sandbox)');
    return { placement, target: sshTargetAt(server.host, server.ssh, flags) };
  });
}

/** A stack of several servers (servers + hosts), which up-many converges. */
export function isMultiHost(stack: StackConfig): boolean {
  return stack.hosts !== undefined;
}

export function sshTargetOf(stack: StackConfig, flags: TargetFlags): SshTarget {
  if (isMultiHost(stack)) throw new ConfigError('--stack', 'names several servers, and this command takes one for now; `up`, `plan`, status, logs, token, db and backup take the stack of several');
  const host = stack.target?.host;
  if (!stack.target || !host) throw new ConfigError('stack.target.host', 'is required; pass --host ADDRESS, set target.host in the stack file, or use --sandbox');
  return sshTargetAt(host, stack.target.ssh, flags);
}

/** How to reach one server: its address and the stack's SSH settings for it. */
function sshTargetAt(host: string, ssh: SshConfig, flags: TargetFlags): SshTarget {
  return {
    host,
    port: ssh.port,
    user: ssh.user,
    ...(ssh.key ? { keyPath: ssh.key } : {}),
    knownHostsPath: ssh.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'),
    acceptNewHostKey: flags.acceptNewHostKey === true,
  };
}

/** The input of `up`, `plan` and the release commands, checked before anything is started or connected to. */
export interface CheckedInput {
  stack: StackConfig;
  bundle: AppBundle;
  appSecrets: Record<string, string>;
  /** The user's JWT secret (stack reference or $MESSENGER_JWT_SECRET); undefined: the host's own. */
  jwtSecret?: string;
  /** stack.backup's password and credentials, when the command needs them. */
  backup?: ResolvedBackupSecrets;
}

/**
 * Every check that needs no host, before any side effect (the sandbox boot, a cloud server, SSH): flag
 * combinations, the stack and the files it names (with the sandbox's fixed endpoint standing in for a
 * sandbox not booted yet), the host address unless the cloud creates it (`hostLater`), the JWT secret
 * and the app bundle; with `backupSecrets` (up and plan, which write the backup settings) also
 * stack.backup's password and credentials, a missing generated password made here.
 */
export function checkTargetInput(flags: TargetFlags & { build?: BuildWhere }, { hostLater = false, backupSecrets = false } = {}): CheckedInput {
  if (flags.sandbox && flags.host) throw new ConfigError('--host', 'cannot be combined with --sandbox; drop one of them');
  const stack = loadTargetStack(flags, flags.sandbox ? SANDBOX_ENDPOINT : undefined);
  if (isMultiHost(stack)) {
    if (hostLater) throw new ConfigError('--provider', 'creates one server; for a stack of several, create them first (infra/) and give their addresses under servers');
    serverTargetsOf(stack, flags);
  } else if (!hostLater) sshTargetOf(stack, flags);
  if (flags.build === 'local' && stack.app.source === undefined) throw new ConfigError('--build', 'local applies to your own app only; set app.source in the stack, or drop --build');
  const jwtSecret = resolveJwtSecret(stack)?.value;
  const appSecrets = resolveAppSecrets(stack);
  const bundle = readAppBundle(stack, flags.build ?? 'host');
  // Last: every other input is checked before a password file is generated.
  const backup = backupSecrets ? resolveBackupSecrets(stack, { create: true }) : undefined;
  return { stack, bundle, appSecrets, ...(jwtSecret === undefined ? {} : { jwtSecret }), ...(backup ? { backup } : {}) };
}

/** Where a user's app is built: on the host (npm ci, build, prune there) or here (shipped built). */
export type BuildWhere = 'host' | 'local';

/** `--build host|local`, for the commands that make a release (up, plan, deploy). */
export function addBuildOption(command: Command): Command {
  return command.addOption(
    new Option('--build <where>', 'where your app (app.source) is built: host (npm ci and the build run there) or local (this machine or CI built it; dist/ and build/ are shipped)')
      .choices(['host', 'local'])
      .default('host'),
  );
}

/** What the executor takes, once the stack is final (after the sandbox boot or the new cloud server). */
export function executorInput(checked: CheckedInput, stack: StackConfig, flags: TargetFlags): CheckedInput & { target: SshTarget; lockWaitSeconds?: number };
export function executorInput(checked: CheckedInput, stack: StackConfig, flags: TargetFlags, opts: { multi: true }): CheckedInput & { lockWaitSeconds?: number };
export function executorInput(checked: CheckedInput, stack: StackConfig, flags: TargetFlags, opts?: { multi: true }): CheckedInput & { target?: SshTarget; lockWaitSeconds?: number } {
  return {
    stack,
    // A stack of several servers has a target per server (serverTargetsOf).
    ...(opts?.multi ? {} : { target: sshTargetOf(stack, flags) }),
    bundle: checked.bundle,
    appSecrets: checked.appSecrets,
    ...(checked.jwtSecret === undefined ? {} : { jwtSecret: checked.jwtSecret }),
    ...(checked.backup === undefined ? {} : { backup: checked.backup }),
    ...(flags.lockWait === undefined ? {} : { lockWaitSeconds: flags.lockWait }),
  };
}
