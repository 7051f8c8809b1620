import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors/index.js';
import type { StackConfig } from './schema.js';

/** The chat server refuses shorter secrets (HS256 wants at least 256 bits); app/src imports this too. */
export const JWT_SECRET_MIN = 32;

/** Characters a JWT secret may hold: safe in a systemd EnvironmentFile and in any backend's config. */
export const JWT_SECRET_RE = new RegExp(`^[A-Za-z0-9._~+/=-]{${JWT_SECRET_MIN},}$`);

export interface ResolvedJwtSecret {
  value: string;
  /** Where it came from, named like the field in error messages (`stack.app.jwtSecret.file`, ...). */
  source: string;
}

/** A secret file's text, or a ConfigError naming the field. */
export function readSecretFile(field: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); give a readable file holding the secret`);
  }
}

/**
 * The JWT secret the user supplies, so their own backend can mint tokens with it; the one order for
 * `up`, `plan`, `verify` and the Pulumi host setup: the stack's reference (`app.jwtSecret: {env}` or
 * `{file}`), then $MESSENGER_JWT_SECRET, else undefined (the host generates one once). Trimmed, and
 * held to JWT_SECRET_RE; throws ConfigError (exit 2) naming the source.
 */
export function resolveJwtSecret(stack: Pick<StackConfig, 'app'> | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedJwtSecret | undefined {
  const ref = stack?.app.jwtSecret;
  let source: string;
  let raw: string | undefined;
  if (ref === undefined) {
    source = 'MESSENGER_JWT_SECRET';
    raw = env.MESSENGER_JWT_SECRET;
  } else if ('env' in ref) {
    source = 'stack.app.jwtSecret.env';
    raw = env[ref.env];
    if (raw === undefined) throw new ConfigError(source, `environment variable ${ref.env} is not set; export it or remove the reference`);
  } else {
    source = 'stack.app.jwtSecret.file';
    raw = readSecretFile(source, ref.file);
  }
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (!JWT_SECRET_RE.test(value)) {
    throw new ConfigError(source, `the JWT secret must be at least ${JWT_SECRET_MIN} characters of A-Z a-z 0-9 . _ ~ + / = -; use e.g. \`openssl rand -base64 48\``);
  }
  return { value, source };
}

/** Characters systemd's EnvironmentFile would not take as written in an unquoted value. */
const UNSAFE_ENV_VALUE = /[\r\n\0\\"']/;

/**
 * A user's app secrets (`app.secrets`), read on the operator's machine before anything connects: each
 * from its environment variable or file (trimmed), never printed. Throws ConfigError naming the field.
 */
export function resolveAppSecrets(stack: Pick<StackConfig, 'app'>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, ref] of Object.entries(stack.app.secrets)) {
    const field = `stack.app.secrets.${name}`;
    const raw = 'env' in ref ? env[ref.env] : readSecretFile(`${field}.file`, ref.file);
    if (raw === undefined) throw new ConfigError(`${field}.env`, `environment variable ${'env' in ref ? ref.env : ''} is not set; export it or remove the secret`);
    const value = raw.trim();
    if (value === '') throw new ConfigError(field, 'is empty; give the secret a value');
    if (UNSAFE_ENV_VALUE.test(value)) throw new ConfigError(field, "holds a line break, quote or backslash, which systemd's EnvironmentFile would change; use another value");
    out[name] = value;
  }
  return out;
}

/** The `aud` / `iss` claims the deployment's tokens must carry (app.jwtAudience / app.jwtIssuer). */
export function jwtClaimsOf(stack: Pick<StackConfig, 'app'> | undefined): { audience?: string; issuer?: string } {
  return {
    ...(stack?.app.jwtAudience ? { audience: stack.app.jwtAudience } : {}),
    ...(stack?.app.jwtIssuer ? { issuer: stack.app.jwtIssuer } : {}),
  };
}
