import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../src/config/errors.js';
import { loadStack, type StackOverrides } from '../src/config/load.js';
import type { StackConfig } from '../src/config/schema.js';
import type { SshTarget } from '../src/executor/ssh-host.js';
import type { SandboxInfo } from '../src/sandbox/index.js';
import { parsePort } from './run-action.js';

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
  os?: string;
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
    .option('--sandbox', 'target the local sandbox VPS (started if needed), with its ACME CA')
    .option('--os <os>', 'sandbox OS: debian13 | debian12 (with --sandbox)', 'debian13');
}

function defined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0))) as T;
}

/** CLI flags as a partial stack (only the flags that were given). */
export function overridesFrom(flags: TargetFlags, sandbox?: SandboxInfo): StackOverrides {
  return defined({
    tier: flags.tier ?? (sandbox && !flags.stack ? 'mvp' : undefined),
    domain: flags.domain ?? sandbox?.domain,
    email: flags.email ?? sandbox?.email,
    target: sandbox
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

export function loadTargetStack(flags: TargetFlags, sandbox?: SandboxInfo): StackConfig {
  return loadStack({ ...(flags.stack ? { file: flags.stack } : {}), overrides: overridesFrom(flags, sandbox) });
}

export function sshTargetOf(stack: StackConfig, flags: TargetFlags): SshTarget {
  if (!stack.target) throw new ConfigError('stack.target.host', 'is required; pass --host ADDRESS, set target.host in the stack file, or use --sandbox');
  const { host, ssh } = stack.target;
  return {
    host,
    port: ssh.port,
    user: ssh.user,
    ...(ssh.key ? { keyPath: ssh.key } : {}),
    knownHostsPath: ssh.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'),
    acceptNewHostKey: flags.acceptNewHostKey === true,
  };
}
