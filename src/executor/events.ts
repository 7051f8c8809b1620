import type { RemoteFailure } from '../errors/index.js';

/** Progress events of a run; one renderer prints them for humans, another as JSON lines. */
export type StepStatus = 'check' | 'ok' | 'changed' | 'failed' | 'skipped';

export interface StepEvent {
  type: 'step';
  step: string;
  title: string;
  status: StepStatus;
  durationMs?: number;
  /** What changed (or would change, in plan mode). */
  changes?: string[];
  diffs?: string[];
  /** Why it failed or was skipped. */
  reason?: string;
  code?: string;
  /** A failed remote command: step, host, command, exit status, stderr tail. */
  failure?: RemoteFailure;
}

export interface InfoEvent {
  type: 'info';
  message: string;
}

export type RunEvent = StepEvent | InfoEvent;
export type Emit = (event: RunEvent) => void;
