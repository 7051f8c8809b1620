import type { ConvergeReport } from '../src/executor/converge.js';
import type { Emit, RunEvent, StepEvent } from '../src/executor/events.js';
import { renderTable, type VerifyReport } from '../src/verify/index.js';

/**
 * The one renderer pair for step events (`up`, `plan`, `sandbox`, and the commands to come): lines for
 * humans, or JSON lines. Hand-written on purpose: all it adds to printing lines is a live status line
 * and a heartbeat for long steps; listr2 and the like bring a task model of their own and would take
 * over the stdout that the recap and the verify table are printed to as well.
 */

const MARK = { ok: 'ok     ', changed: 'changed', failed: 'FAILED ', skipped: 'skipped' } as const;
const INDENT = ' '.repeat(13);

/** One finished step (change lines and diffs indented under it), or an info line; null for a start. */
export function humanStepLine(event: RunEvent): string | null {
  if (event.type === 'info') return `${event.message}\n`;
  if (event.status === 'check') return null;
  const time = event.durationMs === undefined ? '' : ` (${(event.durationMs / 1000).toFixed(1)} s)`;
  const lines = [`  ${MARK[event.status]}  ${event.title}${time}`];
  for (const change of event.changes ?? []) lines.push(`${INDENT}- ${change}`);
  for (const diff of event.diffs ?? []) lines.push(diff.replace(/^/gm, INDENT));
  if (event.reason) lines.push(`${INDENT}${event.status === 'failed' ? `${event.code ?? 'error'}: ` : ''}${event.reason.split('\n').join(`\n${INDENT}`)}`);
  return `${lines.join('\n')}\n`;
}

/** The recap line; its format is stable (scripts and the end-to-end tests read it). */
export function humanSummary(report: ConvergeReport, seconds: number): string {
  const ok = report.steps.filter((s) => s.status === 'ok').length;
  const skipped = report.steps.filter((s) => s.status === 'skipped').length;
  const verdict = report.failed > 0 ? 'FAILED' : report.changed === 0 ? 'no changes' : `${report.changed} changed`;
  return `${verdict}: ${ok} ok, ${report.changed} changed, ${report.failed} failed, ${skipped} skipped in ${seconds.toFixed(1)} s\n`;
}

/** `--json`: one JSON object per line (events, then a summary), for CI logs and jq. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

export interface RendererOptions {
  json: boolean;
  /** A terminal: running steps show on one status line redrawn in place, instead of heartbeat lines. */
  tty: boolean;
  write: (text: string) => void;
  /** With `json`, where info lines go as text (stdout carries only results); default: nowhere. */
  log?: (text: string) => void;
}

export interface Renderer {
  emit(event: RunEvent): void;
  /** Stops the timers and clears the status line; call it once the run is over. */
  close(): void;
}

export const LIVE_TICK_MS = 1_000;
export const HEARTBEAT_MS = 30_000;
const CLEAR_LINE = '\r\x1b[2K';

interface Running {
  title: string;
  started: number;
  heartbeat?: NodeJS.Timeout;
}

function humanRenderer({ tty, write }: RendererOptions): Renderer {
  const running = new Map<string, Running>();
  let ticker: NodeJS.Timeout | undefined;
  let statusShown = false;
  const seconds = (step: Running) => Math.floor((Date.now() - step.started) / 1000);

  const clearStatus = () => {
    if (statusShown) write(CLEAR_LINE);
    statusShown = false;
  };
  const drawStatus = () => {
    if (running.size === 0) return clearStatus();
    write(`${CLEAR_LINE}  …  ${[...running.values()].map((s) => `${s.title} (${seconds(s)} s)`).join(' | ')}`);
    statusShown = true;
  };
  // unref: a renderer nobody closed must not keep the process alive.
  const start = (event: StepEvent) => {
    const step: Running = { title: event.title, started: Date.now() };
    if (!tty) step.heartbeat = setInterval(() => write(`  …  ${step.title} still running (${seconds(step)} s)\n`), HEARTBEAT_MS).unref();
    running.set(event.step, step);
    if (tty && !ticker) ticker = setInterval(drawStatus, LIVE_TICK_MS).unref();
  };
  const finish = (id: string) => {
    clearInterval(running.get(id)?.heartbeat);
    running.delete(id);
    if (running.size > 0) return;
    clearInterval(ticker);
    ticker = undefined;
  };

  return {
    emit(event) {
      if (event.type === 'step' && event.status === 'check') start(event);
      else if (event.type === 'step') finish(event.step);
      const text = humanStepLine(event);
      if (tty) clearStatus();
      if (text) write(text);
      if (tty) drawStatus();
    },
    close() {
      for (const id of [...running.keys()]) finish(id);
      clearStatus();
    },
  };
}

function jsonRenderer({ write, log }: RendererOptions): Renderer {
  return {
    emit(event) {
      if (event.type === 'info') log?.(`${event.message}\n`);
      else if (event.status !== 'check') write(jsonLine(event));
    },
    close() {},
  };
}

export function createRenderer(options: RendererOptions): Renderer {
  return options.json ? jsonRenderer(options) : humanRenderer(options);
}

/** Runs `work` with its events shown on stderr, for progress while stdout holds a result (plan, sandbox info). */
export async function withProgressOnStderr<T>(work: (emit: Emit) => Promise<T>): Promise<T> {
  const renderer = createRenderer({ json: false, tty: false, write: (text) => process.stderr.write(text) });
  try {
    return await work(renderer.emit);
  } finally {
    renderer.close();
  }
}

/**
 * The end of a run that changed a host (`up`, `deploy`, `restart`, `rollback`): the JSON summary or
 * the human recap and the closing check's table; the exit status (1 failed, else verify's).
 */
export function finishRun(run: { report: ConvergeReport; verify: VerifyReport | undefined; started: number; json: boolean; domain: string; out: (text: string) => void; extra?: Record<string, unknown> }): number {
  const { report, verify, out } = run;
  const seconds = (Date.now() - run.started) / 1000;
  if (run.json) {
    out(jsonLine({ type: 'summary', ok: report.ok && (verify?.exitCode ?? 0) === 0, changed: report.changed, failed: report.failed, seconds, steps: report.steps.map(({ diffs: _d, ...s }) => s), verify, ...run.extra }));
  } else {
    out(humanSummary(report, seconds));
    if (verify) out(`\nverify ${run.domain} (quick):\n${renderTable(verify)}\n`);
  }
  if (!report.ok) return 1;
  return verify && verify.exitCode !== 0 ? verify.exitCode : 0;
}
