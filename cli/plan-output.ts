import type { StackConfig } from '../src/config/schema.js';
import { backupWarnings, describeBackupState, type BackupState } from '../src/core/backup.js';
import { describeHardenState, type HardenState } from '../src/core/harden.js';
import { capacityWarning, type Capacity } from '../src/core/limits.js';
import type { Step, StepPlan } from '../src/core/step.js';
import type { StepEvent } from '../src/executor/events.js';
import type { SshTarget } from '../src/executor/ssh-host.js';
import { readHostSecret, runPlan, withHost } from '../src/executor/up.js';
import { detectHost } from '../src/executor/detect.js';
import { dbSecretKeys } from '../src/core/steps/secrets.js';
import type { ServerTarget } from '../src/executor/up-many.js';
import { createRenderer, jsonLine } from './step-output.js';
import type { CheckedInput } from './target-options.js';

/** What `plan` (and `up --dry-run`) found, ready to print. */
export interface PlanView {
  /** `user@host:port`, after the server's name and roles in a stack of several. */
  host: string;
  /** The server's name in a stack of several (JSON: `server`). */
  server?: string;
  os: { id: string; name: string };
  tier: StackConfig['tier'];
  plans: Array<{ step: Step; plan: StepPlan }>;
  /** WebSocket clients the host can hold, against the tier's plan. */
  capacity?: Capacity;
  /** The last backup's and drill's age and result (stack.backup set). */
  backup?: BackupState;
  /** What the host's hardening says now: sshd for the next login, fail2ban, updates, reboots. */
  harden?: HardenState;
}

function statusOf(plan: StepPlan): 'ok' | 'changed' | 'skipped' {
  return plan.skipped ? 'skipped' : plan.commands.length > 0 ? 'changed' : 'ok';
}

/** The `--json` plan's own word for a step that would change (its schema predates the shared renderer). */
const JSON_STATUS = { ok: 'ok', changed: 'change', skipped: 'skipped' } as const;

/** A step's plan as the event `up` would emit for it, so the human output uses up's words. */
export function planEvent(step: Step, plan: StepPlan): StepEvent {
  return { type: 'step', step: step.id, title: step.title, status: statusOf(plan), changes: plan.changes, diffs: plan.diffs, ...(plan.skipped ? { reason: plan.skipped } : {}) };
}

/**
 * The plan as text. Human: a header saying it is a plan, the step lines of the shared renderer, a
 * recap. `--json` is one object whose schema scripts and the end-to-end tests read, kept as it is:
 *   { type: 'plan', host: 'user@host:port', os: '<os id>', changes: <steps that would change>,
 *     capacity?: { clients, planned, limitedBy: string | null }, backup?: {...},
 *     harden?: { sshd: {key: value}, jails: [{ name, banned }], fail2ban, securityUpdates,
 *                rebootRequired: string[] | null, outdated: string[], exposure: number | null },
 *     steps: [{ step, title, status: 'ok' | 'change' | 'skipped', reason?, changes: string[],
 *               diffs: string[], commands: string[] (labels) }] }
 */
export function formatPlan(view: PlanView, json: boolean): string {
  const changing = view.plans.filter(({ plan }) => statusOf(plan) === 'changed').length;
  if (json) {
    return jsonLine({
      type: 'plan',
      ...(view.server ? { server: view.server } : {}),
      host: view.host,
      os: view.os.id,
      changes: changing,
      ...(view.capacity ? { capacity: view.capacity } : {}),
      ...(view.backup ? { backup: view.backup } : {}),
      ...(view.harden ? { harden: view.harden } : {}),
      steps: view.plans.map(({ step, plan }) => ({
        step: step.id,
        title: step.title,
        status: JSON_STATUS[statusOf(plan)],
        ...(plan.skipped ? { reason: plan.skipped } : {}),
        changes: plan.changes,
        diffs: plan.diffs,
        commands: plan.commands.map((c) => c.label),
      })),
    });
  }
  let text = `plan for ${view.host} (${view.os.name}, tier ${view.tier}):\n`;
  const short = view.capacity ? capacityWarning(view.capacity, view.tier) : null;
  if (short) text += `warning: ${short}\n`;
  if (view.backup) {
    const now = Date.now() / 1000;
    text += describeBackupState(view.backup, now).map((l) => `backups: ${l}\n`).join('');
    text += backupWarnings(view.backup, now).map((w) => `warning: ${w}\n`).join('');
  }
  if (view.harden) {
    const { lines, warnings } = describeHardenState(view.harden);
    text += lines.map((l) => `harden: ${l}\n`).join('');
    text += warnings.map((w) => `warning: ${w}\n`).join('');
  }
  const renderer = createRenderer({ json: false, tty: false, write: (t) => (text += t) });
  for (const { step, plan } of view.plans) renderer.emit(planEvent(step, plan));
  renderer.close();
  return text + (changing === 0 ? 'no changes\n' : `${changing} step(s) would change; run \`messenger-infra up\` to apply\n`);
}

/** Prints what `up` would change: packages, unified diffs, restarts. Changes nothing. */
export async function printPlan(input: CheckedInput & { target: SshTarget }, json: boolean): Promise<number> {
  const { desired, plans, backup, harden } = await runPlan(input);
  const { target } = input;
  const view: PlanView = { host: `${target.user}@${target.host}:${target.port}`, os: desired.host.os, tier: input.stack.tier, plans, capacity: desired.model.capacity, ...(backup ? { backup } : {}), harden };
  process.stdout.write(formatPlan(view, json));
  return 0;
}

/**
 * `plan` for a stack of several servers: each server's plan in turn, in the order `up` converges them
 * (the db server, the edge, the other app servers). A server's copies of the db server's passwords and
 * the edge's JWT secret are compared with theirs (read over SSH, kept in memory); a secret its source
 * has not generated yet shows as to be installed.
 */
export async function printPlanMany(input: CheckedInput & { servers: ServerTarget[] }, json: boolean): Promise<number> {
  let peerSecrets: Record<string, string> = {};
  for (const { placement, target } of input.servers) {
    const { desired, plans, backup, harden } = await runPlan({ ...input, target, placement, peerSecrets });
    // What the later servers share: the db server's passwords, the edge's JWT secret. detectHost puts
    // this version's remote programs in place for the connection, as runPlan's did.
    const keys = [...(placement.roles.has('db') ? dbSecretKeys(desired) : []), ...(placement.roles.has('edge') ? ['MESSENGER_JWT_SECRET'] : [])];
    if (keys.length > 0) {
      const read = await withHost(target, async (host) => {
        await detectHost(host, target.port);
        return Object.fromEntries(await Promise.all(keys.map(async (k) => [k, (await readHostSecret(host, k)) ?? ''] as const)));
      });
      // Not generated yet: the later servers' plans show them as to be installed.
      peerSecrets = { ...peerSecrets, ...read };
    }
    const roles = [...placement.roles].join(', ');
    const view: PlanView = {
      host: `${placement.name} (${roles}) ${target.user}@${target.host}:${target.port}`,
      server: placement.name,
      os: desired.host.os,
      tier: input.stack.tier,
      plans,
      ...(placement.roles.has('app') ? { capacity: desired.model.capacity } : {}),
      ...(backup ? { backup } : {}),
      harden,
    };
    process.stdout.write(formatPlan(view, json));
  }
  return 0;
}
