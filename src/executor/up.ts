import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { StackConfig } from '../config/schema.js';
import { remote } from '../core/command.js';
import { HOST_PATHS } from '../core/host-model.js';
import { buildDesiredState, type AppBundle, type DesiredState, type ReleaseIntent } from '../core/desired-state.js';
import { capacityWarning } from '../core/limits.js';
import type { Step, StepPlan } from '../core/step.js';
import { UP_STEPS } from '../core/steps/index.js';
import { resolveJwtSecret } from '../config/jwt-secret.js';
import { converge, planAll, type ConvergeReport, type Phase } from './converge.js';
import { detectHost } from './detect.js';
import type { Emit } from './events.js';
import { commandError } from './host.js';
import { acquireHostLock, LOCK_WAIT_SECONDS } from './host-lock.js';
import { SshHost, type SshTarget } from './ssh-host.js';

export interface UpOptions {
  stack: StackConfig;
  target: SshTarget;
  bundle: AppBundle;
  /** A user's app secrets, resolved by the caller (cli/target-options.ts). */
  appSecrets?: Record<string, string>;
  /** converge (up, deploy), restart or rollback. */
  intent?: ReleaseIntent;
  emit: Emit;
  steps?: readonly Phase[];
  /** Also read the host's JWT secret (kept in memory only) so the closing check can mint a token. */
  readJwtSecret?: boolean;
  /** PEM text of a private ACME CA; otherwise read from stack.acme.caBundle. */
  acmeCaBundle?: string;
  /** The JWT secret, resolved by the caller before connecting; otherwise resolved here. */
  jwtSecret?: string;
  /** How long to wait for another run's host lock (default LOCK_WAIT_SECONDS). */
  lockWaitSeconds?: number;
}

export async function prepare(host: SshHost, options: Omit<UpOptions, 'emit'>): Promise<DesiredState> {
  const basics = await detectHost(host, options.target.port);
  const jwtSecret = options.jwtSecret ?? resolveJwtSecret(options.stack)?.value;
  const caPath = options.stack.acme.caBundle;
  const acmeCaBundle = options.acmeCaBundle ?? (caPath === undefined ? undefined : readFileSync(caPath, 'utf8'));
  return buildDesiredState({
    stack: options.stack,
    host: basics,
    bundle: options.bundle,
    appSecrets: options.appSecrets ?? {},
    intent: options.intent ?? { action: 'converge' },
    by: releaseAuthor(),
    ...(jwtSecret === undefined ? {} : { jwtSecret }),
    ...(acmeCaBundle === undefined ? {} : { acmeCaBundle }),
  });
}

/** Who makes a release, for its manifest: the CI's actor, else user@machine. */
export function releaseAuthor(env: NodeJS.ProcessEnv = process.env): string {
  const ci = env.GITHUB_ACTOR ?? env.GITLAB_USER_LOGIN ?? env.BUILDKITE_BUILD_CREATOR;
  if (ci) return `${ci} (CI)`;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container): the machine still says where it came from.
  }
  return `${user}@${hostname()}`;
}

/** Runs `fn` over one SSH connection, closed afterwards whatever happens. */
export async function withHost<T>(target: SshTarget, fn: (host: SshHost) => Promise<T>): Promise<T> {
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
    const short = capacityWarning(desired.model.capacity, options.stack.tier);
    if (short) options.emit({ type: 'info', message: `warning: ${short}` });
    const lock = await acquireHostLock(host, options.lockWaitSeconds ?? LOCK_WAIT_SECONDS);
    let report: ConvergeReport;
    try {
      report = await converge(host, desired, options.steps ?? UP_STEPS, options.emit, { runId: lock.runId });
    } finally {
      await lock.release();
    }
    if (!report.ok || !options.readJwtSecret) return { desired, report };
    const jwtSecret = desired.jwtSecret ?? (await readHostSecret(host, 'MESSENGER_JWT_SECRET'));
    return { desired, report, ...(jwtSecret ? { jwtSecret } : {}) };
  });
}

/** One value of the host's secrets file, read over the open connection; never printed. */
export async function readHostSecret(host: SshHost, key: string): Promise<string | undefined> {
  const result = await host.run(remote(`read ${key}`, ['secret', 'get', HOST_PATHS.secretsEnvFile, key]), { timeoutMs: 30_000 });
  // A key that is not there prints nothing and exits 0; anything else is a failure, not "no secret".
  if (result.code !== 0) throw commandError(host, `reading ${key}`, result);
  return result.stdout.trim() || undefined;
}

/** What `up` would change, from one batch of facts; changes nothing. */
export async function runPlan(options: Omit<UpOptions, 'emit'>): Promise<{ desired: DesiredState; plans: Array<{ step: Step; plan: StepPlan }> }> {
  return withHost(options.target, async (host) => {
    const desired = await prepare(host, options);
    return { desired, plans: await planAll(host, desired, options.steps ?? UP_STEPS) };
  });
}

/** The JWT secret the host's chat server runs with (the stack's, or the one generated on the host). */
export async function hostJwtSecret(target: SshTarget): Promise<string | undefined> {
  return withHost(target, async (host) => {
    await detectHost(host, target.port);
    return readHostSecret(host, 'MESSENGER_JWT_SECRET');
  });
}
