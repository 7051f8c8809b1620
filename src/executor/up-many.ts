/**
 * `up` for a stack of several servers: every server converges over its own SSH connection, at the
 * same time where nothing depends on another (each server's packages, kernel and firewall), in
 * dependency order where something does: the db server first; then the edge, with the db server's
 * secrets read from it over SSH (kept in memory, written through stdin: never argv, never on disk
 * here); then the other app servers, with those and the edge's JWT secret. One report: each step
 * named with its server.
 */
import type { DesiredState } from '../core/desired-state.js';
import type { Phase } from './converge.js';
import { converge, stepsOf, summarize, type ConvergeReport, type StepResult } from './converge.js';
import { HOST_ONLY_PHASES, UP_STEPS } from '../core/steps/index.js';
import { dbSecretKeys } from '../core/steps/secrets.js';
import type { Placement } from '../core/topology.js';
import { capacityWarning } from '../core/limits.js';
import type { Emit, RunEvent } from './events.js';
import { acquireHostLock, LOCK_WAIT_SECONDS } from './host-lock.js';
import { SshHost, type SshTarget } from './ssh-host.js';
import { prepare, readHostSecret, type UpOptions } from './up.js';

export interface ServerTarget {
  placement: Placement;
  target: SshTarget;
}

export interface UpManyOptions extends Omit<UpOptions, 'target' | 'steps'> {
  /** Every server of the stack, the db server first (placementsOf's order). */
  servers: ServerTarget[];
}

export interface UpManyResult {
  report: ConvergeReport;
  /** The edge, where the closing check goes. */
  edge: ServerTarget;
  jwtSecret?: string;
}

/** Events of one server, its name on each step, so concurrent servers' lines never mix up. */
function namedEmit(emit: Emit, name: string): Emit {
  return (event: RunEvent) =>
    emit(event.type === 'step' ? { ...event, step: `${name}:${event.step}`, title: `${name}: ${event.title}` } : event.type === 'info' ? { ...event, message: `${name}: ${event.message}` } : event);
}

function named(name: string, steps: readonly StepResult[]): StepResult[] {
  return steps.map((s) => ({ ...s, step: `${name}:${s.step}`, title: `${name}: ${s.title}`, ...(s.failure ? { failure: { ...s.failure, step: `${name}:${s.failure.step}` } } : {}) }));
}

function merge(reports: readonly ConvergeReport[]): ConvergeReport {
  return summarize(reports.flatMap((r) => r.steps));
}

/** A server's phases after HOST_ONLY_PHASES, reported skipped because another server failed. */
function notRun(name: string, phases: readonly Phase[], why: string): ConvergeReport {
  return summarize(stepsOf(phases).map((s) => ({ step: `${name}:${s.id}`, title: `${name}: ${s.title}`, status: 'skipped' as const, durationMs: 0, changes: [], diffs: [], reason: why })));
}

export async function runUpMany(options: UpManyOptions): Promise<UpManyResult> {
  const { servers, emit } = options;
  const db = servers.find((s) => s.placement.roles.has('db'));
  const edge = servers.find((s) => s.placement.roles.has('edge'));
  if (!db || !edge) throw new Error('runUpMany: a stack of several servers names a db and an edge server');
  const hosts = await connectAll(servers.map((s) => s.target));
  const locks: Awaited<ReturnType<typeof acquireHostLock>>[] = [];
  try {
    const desired = await Promise.all(servers.map((s, i) => prepare(hosts[i]!, { ...options, target: s.target, placement: s.placement })));
    servers.forEach((s, i) => {
      const d = desired[i]!;
      const roles = [...s.placement.roles].join(', ');
      emit({ type: 'info', message: `${s.placement.name} (${roles}) ${hosts[i]!.label}: ${d.host.os.name} (${d.host.arch})${d.host.container ? `, container ${d.host.container}` : ''}; tier ${options.stack.tier}` });
      const short = s.placement.roles.has('app') ? capacityWarning(d.model.capacity, options.stack.tier) : null;
      if (short) emit({ type: 'info', message: `warning: ${s.placement.name}: ${short}` });
    });
    for (const host of hosts) locks.push(await acquireHostLock(host, options.lockWaitSeconds ?? LOCK_WAIT_SECONDS));
    const runIds = locks.map((l) => l.runId);
    const at = (i: number) => ({ host: hosts[i]!, desired: desired[i]!, name: servers[i]!.placement.name, runId: runIds[i]! });
    const dbIndex = servers.indexOf(db);
    const edgeIndex = servers.indexOf(edge);
    const rest = UP_STEPS.slice(HOST_ONLY_PHASES);
    const parts: ConvergeReport[][] = servers.map(() => []);
    const ok = (i: number) => parts[i]!.every((r) => r.ok);

    // 1. The db server all the way, while the others go through what needs nothing from it.
    const firsts = await Promise.all(servers.map((_, i) => runOn(at(i), i === dbIndex ? UP_STEPS : UP_STEPS.slice(0, HOST_ONLY_PHASES), emit)));
    firsts.forEach((r, i) => parts[i]!.push(r));
    const dbSecrets = ok(dbIndex) ? await readPeerSecrets(hosts[dbIndex]!, desired[dbIndex]!) : undefined;
    const finish = async (i: number, peerSecrets: Record<string, string> | undefined, waitingFor: string): Promise<void> => {
      const { name } = at(i);
      const report = !ok(i)
        ? notRun(name, rest, `not run: ${name} failed before`)
        : !peerSecrets
          ? notRun(name, rest, `not run: ${waitingFor} failed`)
          : await runOn({ ...at(i), desired: { ...desired[i]!, peerSecrets } }, rest, emit);
      parts[i]!.push(report);
    };
    // 2. The edge, with the db server's secrets.
    if (edgeIndex !== dbIndex) await finish(edgeIndex, dbSecrets, `the db server ${db.placement.name}`);
    // 3. The other app servers, with the db server's secrets and the edge's JWT secret.
    const others = servers.map((_, i) => i).filter((i) => i !== dbIndex && i !== edgeIndex);
    const edgeJwt = async () => desired[edgeIndex]!.jwtSecret ?? (await readHostSecret(hosts[edgeIndex]!, 'MESSENGER_JWT_SECRET'));
    const jwt = ok(edgeIndex) && (others.length > 0 || options.readJwtSecret) ? await edgeJwt() : undefined;
    if (others.length > 0) {
      const shared = dbSecrets && jwt ? { ...dbSecrets, MESSENGER_JWT_SECRET: jwt } : undefined;
      await Promise.all(others.map((i) => finish(i, shared, `the edge ${edge.placement.name}`)));
    }
    const report = merge(parts.map(merge));
    // The closing check mints its token with the edge's secret.
    return { report, edge, ...(report.ok && options.readJwtSecret && jwt ? { jwtSecret: jwt } : {}) };
  } finally {
    await Promise.all(locks.map((l) => l.release().catch(() => {})));
    await Promise.all(hosts.map((h) => h.close().catch(() => {})));
  }
}

/** One connection per server, or none: when one cannot connect, those that did are closed again. */
async function connectAll(targets: readonly SshTarget[]): Promise<SshHost[]> {
  const settled = await Promise.allSettled(targets.map((t) => SshHost.connect(t)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const open = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (!failed) return open;
  await Promise.all(open.map((h) => h.close().catch(() => {})));
  throw failed.reason;
}

async function runOn(s: { host: SshHost; desired: DesiredState; name: string; runId: string }, phases: readonly Phase[], emit: Emit): Promise<ConvergeReport> {
  const report = await converge(s.host, s.desired, phases, namedEmit(emit, s.name), { runId: s.runId });
  return { ...report, steps: named(s.name, report.steps) };
}

/** The db server's secrets the app servers need, read over the open SSH connection; never printed. */
async function readPeerSecrets(dbHost: SshHost, dbDesired: DesiredState): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of dbSecretKeys(dbDesired)) {
    const value = await readHostSecret(dbHost, key);
    if (value) out[key] = value;
  }
  return out;
}
