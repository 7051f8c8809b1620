import type { Command } from '../core/command.js';
import type { DesiredState } from '../core/desired-state.js';
import type { FactValues } from '../core/facts.js';
import { errorCodeOf } from '../core/remote-exit.js';
import { stepApplies, type Step, type StepPlan } from '../core/step.js';
import type { ErrorCode, RemoteFailure } from '../errors/index.js';
import type { Emit, StepEvent } from './events.js';
import { gatherFacts } from './gather.js';
import type { Host, RunResult } from './host.js';
import { underLock } from './host-lock.js';

export interface StepResult {
  step: string;
  title: string;
  status: Exclude<StepEvent['status'], 'check'>;
  durationMs: number;
  changes: string[];
  diffs: string[];
  reason?: string;
  code?: string;
  /** A failed remote command: which, where, its exit status and the last lines it printed. */
  failure?: RemoteFailure;
}

export interface ConvergeReport {
  steps: StepResult[];
  changed: number;
  failed: number;
  ok: boolean;
}

export function summarize(steps: StepResult[]): ConvergeReport {
  const failed = steps.filter((s) => s.status === 'failed').length;
  return { steps, changed: steps.filter((s) => s.status === 'changed').length, failed, ok: failed === 0 };
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** A failed command as the step's result: its own error code, and what the failure carries. */
export function commandFailure(step: string, host: string, command: Command, result: RunResult): { code: ErrorCode; reason: string; failure: RemoteFailure } {
  const code: ErrorCode = result.dropped ? 'MI_ERR_SSH_DROPPED' : errorCodeOf(result.code, command.errors);
  const stderrTail = tail(result.stderr);
  const reason = `${command.label}: ${result.dropped ? 'the SSH connection ended' : `exit status ${result.code}`}${stderrTail ? `: ${stderrTail}` : ''}`;
  return { code, reason, failure: { step, host, command: command.label, exitStatus: result.code, stderrTail } };
}

export interface ConvergeOptions {
  /** The run's host lock: every command goes through `mi-remote locked`. */
  runId?: string;
}

/** Plans every step from one batch of facts; changes nothing. */
export async function planAll(host: Host, desired: DesiredState, phases: readonly Phase[]): Promise<Array<{ step: Step; plan: StepPlan }>> {
  const steps = stepsOf(applicable(phases, desired));
  const facts = await gatherFacts(host, steps.flatMap((s) => s.facts(desired)));
  return steps.map((step) => ({ step, plan: step.plan(facts, desired) }));
}

/** Steps that run one after the other. */
export type Chain = readonly Step[];
/** One step; or chains (a step, or steps in order) that touch disjoint things and run at the same time. */
export type Phase = Step | readonly (Step | Chain)[];

function chainsOf(phase: Phase): Step[][] {
  return Array.isArray(phase) ? phase.map((c: Step | Chain) => (Array.isArray(c) ? [...c] : [c as Step])) : [[phase as Step]];
}

export function stepsOf(phases: readonly Phase[]): Step[] {
  return phases.flatMap((p) => chainsOf(p).flat());
}

/** The phases without the steps of features or roles this host does not have (stepApplies), and without what that empties. */
export function applicable(phases: readonly Phase[], desired: DesiredState): Phase[] {
  return phases.flatMap((phase) => {
    const chains = chainsOf(phase)
      .map((chain) => chain.filter((step) => stepApplies(step, desired)))
      .filter((chain) => chain.length > 0);
    return chains.length === 0 ? [] : [chains];
  });
}

/**
 * Applies the phases in order; the chains of one phase run concurrently, each on its own SSH
 * channel. Facts are gathered once for all steps; once something has changed, each later step
 * gathers its own facts again before planning, so a plan is never made from stale facts. The first
 * failure stops its chain and the run after its phase; the steps not run are reported as skipped.
 */
export async function converge(host: Host, desired: DesiredState, allPhases: readonly Phase[], emit: Emit, options: ConvergeOptions = {}): Promise<ConvergeReport> {
  const phases = applicable(allPhases, desired);
  const results: StepResult[] = [];
  const all = stepsOf(phases);
  const facts: FactValues = await gatherFacts(host, all.flatMap((s) => s.facts(desired)));
  let dirty = false;

  const runStep = async (step: Step, stale: boolean): Promise<StepResult> => {
    const started = Date.now();
    emit({ type: 'step', step: step.id, title: step.title, status: 'check' });
    const finish = (result: Omit<StepResult, 'step' | 'title' | 'durationMs'>): StepResult => {
      const done: StepResult = { step: step.id, title: step.title, durationMs: Date.now() - started, ...result };
      results.push(done);
      emit({
        type: 'step',
        step: done.step,
        title: done.title,
        status: done.status,
        durationMs: done.durationMs,
        changes: done.changes,
        ...(done.reason ? { reason: done.reason } : {}),
        ...(done.code ? { code: done.code } : {}),
        ...(done.failure ? { failure: done.failure } : {}),
      });
      return done;
    };
    try {
      const plan = step.plan(stale ? await gatherFacts(host, step.facts(desired)) : facts, desired);
      if (plan.skipped) return finish({ status: 'skipped', changes: [], diffs: [], reason: plan.skipped });
      if (plan.commands.length === 0) return finish({ status: 'ok', changes: [], diffs: [] });
      for (const command of plan.commands) {
        const result = await host.run(options.runId ? underLock(options.runId, command) : command, { timeoutMs: 15 * 60_000 });
        if (result.code !== 0) return finish({ status: 'failed', changes: plan.changes, diffs: [], ...commandFailure(step.id, host.label, command, result) });
      }
      return finish({ status: 'changed', changes: plan.changes, diffs: plan.diffs });
    } catch (err) {
      const e = err as Error & { code?: string };
      return finish({ status: 'failed', changes: [], diffs: [], code: e.code ?? 'MI_ERR_STEP_FAILED', reason: e.message });
    }
  };

  const skip = (steps: readonly Step[], failed: string) => {
    const reason = `not run: step ${failed} failed`;
    for (const step of steps) {
      results.push({ step: step.id, title: step.title, status: 'skipped', durationMs: 0, changes: [], diffs: [], reason });
      emit({ type: 'step', step: step.id, title: step.title, status: 'skipped', reason });
    }
  };

  /** Runs a chain in order; returns the id of the step that failed, if any, and whether anything changed. */
  const runChain = async (chain: Step[]): Promise<{ failed?: string; changed: boolean }> => {
    let stale = dirty;
    for (const [i, step] of chain.entries()) {
      const result = await runStep(step, stale);
      if (result.status === 'failed') {
        skip(chain.slice(i + 1), step.id);
        return { failed: step.id, changed: stale };
      }
      if (result.status === 'changed') stale = true;
    }
    return { changed: stale };
  };

  for (const [index, phase] of phases.entries()) {
    const outcomes = await Promise.all(chainsOf(phase).map(runChain));
    const failed = outcomes.find((o) => o.failed)?.failed;
    if (failed) {
      skip(stepsOf(phases.slice(index + 1)), failed);
      break;
    }
    if (outcomes.some((o) => o.changed)) dirty = true;
  }
  // Report in the declared order, whatever order concurrent steps finished in.
  results.sort((a, b) => all.findIndex((s) => s.id === a.step) - all.findIndex((s) => s.id === b.step));
  return summarize(results);
}
