import type { DesiredState } from '../core/desired-state.js';
import type { FactValues } from '../core/facts.js';
import type { Step, StepPlan } from '../core/step.js';
import type { Emit, StepEvent } from './events.js';
import { gatherFacts } from './gather.js';
import type { Host } from './host.js';

export interface StepResult {
  step: string;
  title: string;
  status: Exclude<StepEvent['status'], 'check'>;
  durationMs: number;
  changes: string[];
  diffs: string[];
  reason?: string;
  code?: string;
}

export interface ConvergeReport {
  steps: StepResult[];
  changed: number;
  failed: number;
  ok: boolean;
}

function summarize(steps: StepResult[]): ConvergeReport {
  const failed = steps.filter((s) => s.status === 'failed').length;
  return { steps, changed: steps.filter((s) => s.status === 'changed').length, failed, ok: failed === 0 };
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Plans every step from one batch of facts; changes nothing. */
export async function planAll(host: Host, desired: DesiredState, steps: readonly Step[]): Promise<Array<{ step: Step; plan: StepPlan }>> {
  const facts = await gatherFacts(host, steps.flatMap((s) => s.facts(desired)));
  return steps.map((step) => ({ step, plan: step.plan(facts, desired) }));
}

/**
 * Applies the steps in order. Facts are gathered once for all steps; once a step has changed
 * something, each later step gathers its own facts again before planning, so a plan is never made
 * from stale facts. The first failure stops the run; the remaining steps are reported as skipped.
 */
export async function converge(host: Host, desired: DesiredState, steps: readonly Step[], emit: Emit): Promise<ConvergeReport> {
  const results: StepResult[] = [];
  let facts: FactValues = await gatherFacts(host, steps.flatMap((s) => s.facts(desired)));
  let dirty = false;
  const skipRest = (index: number, failed: string) => {
    for (const rest of steps.slice(index + 1)) {
      const reason = `not run: step ${failed} failed`;
      results.push({ step: rest.id, title: rest.title, status: 'skipped', durationMs: 0, changes: [], diffs: [], reason });
      emit({ type: 'step', step: rest.id, title: rest.title, status: 'skipped', reason });
    }
    return summarize(results);
  };
  for (const [index, step] of steps.entries()) {
    const started = Date.now();
    emit({ type: 'step', step: step.id, title: step.title, status: 'check' });
    const finish = (result: Omit<StepResult, 'step' | 'title' | 'durationMs'>): StepResult => {
      const done: StepResult = { step: step.id, title: step.title, durationMs: Date.now() - started, ...result };
      results.push(done);
      emit({ type: 'step', step: done.step, title: done.title, status: done.status, durationMs: done.durationMs, changes: done.changes, ...(done.reason ? { reason: done.reason } : {}), ...(done.code ? { code: done.code } : {}) });
      return done;
    };
    try {
      if (dirty) facts = await gatherFacts(host, step.facts(desired));
      const plan = step.plan(facts, desired);
      if (plan.skipped) {
        finish({ status: 'skipped', changes: [], diffs: [], reason: plan.skipped });
        continue;
      }
      if (plan.commands.length === 0) {
        finish({ status: 'ok', changes: [], diffs: [] });
        continue;
      }
      for (const command of plan.commands) {
        const result = await host.run(command, { timeoutMs: 15 * 60_000 });
        if (result.code !== 0) {
          finish({
            status: 'failed',
            changes: plan.changes,
            diffs: [],
            code: 'MI_ERR_STEP_FAILED',
            reason: `${command.label}: exit status ${result.code}${result.stderr.trim() ? `: ${tail(result.stderr)}` : ''}`,
          });
          return skipRest(index, step.id);
        }
      }
      dirty = true;
      finish({ status: 'changed', changes: plan.changes, diffs: plan.diffs });
    } catch (err) {
      const e = err as Error & { code?: string };
      finish({ status: 'failed', changes: [], diffs: [], code: e.code ?? 'MI_ERR_STEP_FAILED', reason: e.message });
      return skipRest(index, step.id);
    }
  }
  return summarize(results);
}
