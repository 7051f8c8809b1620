import { cmd, type Command } from './command.js';
import type { DesiredState } from './desired-state.js';
import type { Fact, FactValues, UnitState } from './facts.js';
import type { Role } from './topology.js';

/**
 * A step closes one gap between the host and the desired state. `plan` is pure: from gathered facts it
 * yields the commands to run. An empty plan is `ok`; a non-empty one is `changed`; only the executor
 * can say `failed`.
 */
export interface StepPlan {
  commands: Command[];
  /** What would change, one line each (packages to install, files to write, units to restart). */
  changes: string[];
  /** Unified diffs of files that would change (text files only; never secrets). */
  diffs: string[];
  /** Set when the step does not apply on this host, with the reason. */
  skipped?: string;
}

export interface Step {
  id: string;
  title: string;
  /** A step for an optional feature: when false, the run leaves it out entirely (not even as skipped). */
  applies?(desired: DesiredState): boolean;
  /** The servers it runs on, by role (any of them); absent: every server. */
  roles?: readonly Role[];
  facts(desired: DesiredState): Fact[];
  plan(facts: FactValues, desired: DesiredState): StepPlan;
}

/** Whether the step runs on this server: its roles (if it names any) and its feature (Step.applies). */
export function stepApplies(step: Step, desired: DesiredState): boolean {
  if (step.roles && !step.roles.some((r) => desired.model.placement.roles.has(r))) return false;
  return step.applies?.(desired) !== false;
}

export function noChange(): StepPlan {
  return { commands: [], changes: [], diffs: [] };
}

export function skipped(reason: string): StepPlan {
  return { commands: [], changes: [], diffs: [], skipped: reason };
}

/** Concatenates plans of sub-parts of one step. */
export function mergePlans(...plans: StepPlan[]): StepPlan {
  return {
    commands: plans.flatMap((p) => p.commands),
    changes: plans.flatMap((p) => p.changes),
    diffs: plans.flatMap((p) => p.diffs),
  };
}

/** Enables and starts a unit unless it already is both. */
export function ensureRunning(unit: string, state: UnitState): StepPlan {
  if (state.active === 'active' && state.enabled === 'enabled') return noChange();
  return { commands: [cmd(`start ${unit}`, 'systemctl', 'enable', '--now', unit)], changes: [`enable and start ${unit}`], diffs: [] };
}
