import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BackupSecrets } from '../core/backup.js';
import { ConfigError } from '../errors/index.js';
import { readSecretFile } from './jwt-secret.js';
import type { SecretRef, StackConfig } from './schema.js';

/**
 * The backup's secrets, read on the operator's machine before anything connects: the repository
 * password and the credentials restic needs. A password the stack does not name is generated once
 * here, never on the host: a password that lives only on the host dies with the host, and with it
 * every backup.
 */

/** Where a generated repository password is kept: the operator's config dir, one file per domain. */
export function generatedPasswordPath(domain: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'messenger-infra', 'backup', `${domain}.restic-password`);
}

/** A value that becomes one KEY=VALUE line of the host's env file: one line, no NUL. */
function oneLine(field: string, raw: string): string {
  const value = raw.trim();
  if (value === '') throw new ConfigError(field, 'is empty; give it a value');
  if (/[\r\n\0]/.test(value)) throw new ConfigError(field, 'holds a line break; give a one-line value');
  return value;
}

function readRef(field: string, ref: SecretRef, env: NodeJS.ProcessEnv): string {
  if ('env' in ref) {
    const raw = env[ref.env];
    if (raw === undefined) throw new ConfigError(`${field}.env`, `environment variable ${ref.env} is not set; export it or change the reference`);
    return oneLine(field, raw);
  }
  return oneLine(field, readSecretFile(`${field}.file`, ref.file));
}

export interface ResolvedBackupSecrets extends BackupSecrets {
  /** Where the password came from: the stack's reference, or the generated file (and whether it was just made). */
  passwordSource: { kind: 'stack' } | { kind: 'generated'; path: string; created: boolean };
}

/**
 * Resolves stack.backup's secrets; undefined when backups are off. With `create`, a missing generated
 * password is made (48 random characters, 0600 in a 0700 folder); without it, a missing one is an error
 * naming the file, so a read-only command never invents a password the repository does not know.
 */
export function resolveBackupSecrets(stack: Pick<StackConfig, 'backup' | 'domain'>, options: { env?: NodeJS.ProcessEnv; create?: boolean } = {}): ResolvedBackupSecrets | undefined {
  const backup = stack.backup;
  if (!backup) return undefined;
  const env = options.env ?? process.env;
  let password: string;
  let passwordSource: ResolvedBackupSecrets['passwordSource'];
  if (backup.password) {
    password = readRef('stack.backup.password', backup.password, env);
    passwordSource = { kind: 'stack' };
  } else {
    const path = generatedPasswordPath(stack.domain, env);
    let created = false;
    if (!existsSync(path)) {
      if (!options.create) throw new ConfigError('stack.backup.password', `is not set and ${path} does not exist; run \`messenger-infra up\` once (it generates it), or name the password with { env: NAME } or { file: PATH }`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, `${randomBytes(36).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
      created = true;
    }
    password = oneLine(`stack.backup.password (generated, ${path})`, readSecretFile('stack.backup.password', path));
    passwordSource = { kind: 'generated', path, created };
  }
  const credentials: Record<string, string> = {};
  for (const [name, ref] of Object.entries(backup.env)) {
    if (['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND'].includes(name) || name.startsWith('MI_')) {
      throw new ConfigError(`stack.backup.env.${name}`, 'is set by messenger-infra itself; use backup.repository / backup.password instead');
    }
    // The host's program refuses these too (remote/backup.sh): they would change what runs, not restic's settings.
    if (['PATH', 'IFS', 'ENV'].includes(name) || name.startsWith('LD_')) {
      throw new ConfigError(`stack.backup.env.${name}`, "would change the programs the backup runs, not restic's settings; remove it");
    }
    credentials[name] = readRef(`stack.backup.env.${name}`, ref, env);
  }
  const file = (field: string, path: string | undefined) => (path === undefined ? undefined : readSecretFile(field, path));
  const sshKey = file('stack.backup.sshKey.file', backup.sshKey?.file);
  if (sshKey !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(sshKey)) {
    throw new ConfigError('stack.backup.sshKey.file', `${backup.sshKey?.file} is not a private key; give the key file the host logs in to the backup server with (ssh-keygen -t ed25519 -N "")`);
  }
  const knownHosts = file('stack.backup.knownHosts', backup.knownHosts);
  return {
    password,
    env: credentials,
    passwordSource,
    ...(sshKey === undefined ? {} : { sshKey }),
    ...(knownHosts === undefined ? {} : { knownHosts }),
  };
}
