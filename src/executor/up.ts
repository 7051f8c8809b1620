import { readFileSync } from 'node:fs';
import type { StackConfig } from '../config/schema.js';
import { sh } from '../core/command.js';
import { HOST_PATHS } from '../core/host-model.js';
import { buildDesiredState, type AppBundle, type DesiredState } from '../core/desired-state.js';
import type { Step, StepPlan } from '../core/step.js';
import { UP_STEPS } from '../core/steps/index.js';
import { MiError } from '../config/errors.js';
import { converge, planAll, type ConvergeReport, type Phase } from './converge.js';
import { detectHost } from './detect.js';
import type { Emit } from './events.js';
import { SshHost, type SshTarget } from './ssh-host.js';

export interface UpOptions {
  stack: StackConfig;
  target: SshTarget;
  bundle: AppBundle;
  emit: Emit;
  steps?: readonly Phase[];
  /** Also read the host's JWT secret (kept in memory only) so the closing check can mint a token. */
  readJwtSecret?: boolean;
  /** PEM text of a private ACME CA; otherwise read from stack.acme.caBundle. */
  acmeCaBundle?: string;
}

/** Characters a JWT secret may hold: safe in a systemd EnvironmentFile and in any backend's config. */
const JWT_SECRET_RE = /^[A-Za-z0-9._~+\/=-]{32,}$/;

/**
 * The JWT secret the user supplies (a stack reference, or $MESSENGER_JWT_SECRET), if any, so their
 * own backend can mint tokens with it. Trimmed, and held to a safe character set.
 */
export function readJwtSecret(stack: StackConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const ref = stack.app.jwtSecret;
  const raw = ref === undefined ? env.MESSENGER_JWT_SECRET : 'env' in ref ? env[ref.env] : readFileSync(ref.file, 'utf8');
  const field = ref === undefined ? 'MESSENGER_JWT_SECRET' : 'env' in ref ? 'stack.app.jwtSecret.env' : 'stack.app.jwtSecret.file';
  if (ref !== undefined && 'env' in ref && raw === undefined) {
    throw new MiError('MI_ERR_CONFIG', `${field}: environment variable ${ref.env} is not set; export it or remove the reference`, {}, 2);
  }
  const value = raw?.trim();
  if (value !== undefined && !JWT_SECRET_RE.test(value)) {
    throw new MiError('MI_ERR_CONFIG', `${field}: the JWT secret must be at least 32 characters of A-Z a-z 0-9 . _ ~ + / = -; use e.g. \`openssl rand -base64 48\``, {}, 2);
  }
  return value;
}

export async function prepare(host: SshHost, options: Omit<UpOptions, 'emit'>): Promise<DesiredState> {
  const basics = await detectHost(host, options.target.port);
  const jwtSecret = readJwtSecret(options.stack);
  const caPath = options.stack.acme.caBundle;
  const acmeCaBundle = options.acmeCaBundle ?? (caPath === undefined ? undefined : readFileSync(caPath, 'utf8'));
  return buildDesiredState({
    stack: options.stack,
    host: basics,
    bundle: options.bundle,
    ...(jwtSecret === undefined ? {} : { jwtSecret }),
    ...(acmeCaBundle === undefined ? {} : { acmeCaBundle }),
  });
}

async function withHost<T>(target: SshTarget, fn: (host: SshHost) => Promise<T>): Promise<T> {
  const host = await SshHost.connect(target);
  try {
    return await fn(host);
  } finally {
    await host.close();
  }
}

/** Converges the host to the desired state over one SSH connection. */
export async function runUp(options: UpOptions): Promise<{ desired: DesiredState; report: ConvergeReport; jwtSecret?: string }> {
  return withHost(options.target, async (host) => {
    const desired = await prepare(host, options);
    options.emit({ type: 'info', message: `${host.label}: ${desired.host.os.name} (${desired.host.arch})${desired.host.container ? `, container ${desired.host.container}` : ''}; tier ${options.stack.tier}` });
    const report = await converge(host, desired, options.steps ?? UP_STEPS, options.emit);
    if (!report.ok || !options.readJwtSecret) return { desired, report };
    const jwtSecret = desired.jwtSecret ?? (await readHostSecret(host, 'MESSENGER_JWT_SECRET'));
    return { desired, report, ...(jwtSecret ? { jwtSecret } : {}) };
  });
}

/** One value of the host's secrets file, read over the open connection; never printed. */
async function readHostSecret(host: SshHost, key: string): Promise<string | undefined> {
  const result = await host.run(sh(`read ${key}`, 'sed -n "s/^$2=//p" "$1" | head -n1', [HOST_PATHS.secretsEnvFile, key]));
  return result.code === 0 && result.stdout.trim() ? result.stdout.trim() : undefined;
}

/** What `up` would change, from one batch of facts; changes nothing. */
export async function runPlan(options: Omit<UpOptions, 'emit'>): Promise<{ desired: DesiredState; plans: Array<{ step: Step; plan: StepPlan }> }> {
  return withHost(options.target, async (host) => {
    const desired = await prepare(host, options);
    return { desired, plans: await planAll(host, desired, options.steps ?? UP_STEPS) };
  });
}
