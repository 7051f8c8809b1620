import type { ConvergeReport } from '../src/executor/converge.js';
import type { RunEvent } from '../src/executor/events.js';

/** Live progress for humans: one line per finished step, change lines indented under it. */
const MARK = { ok: 'ok     ', changed: 'changed', failed: 'FAILED ', skipped: 'skipped' } as const;

export function humanStepLine(event: RunEvent): string | null {
  if (event.type === 'info') return `${event.message}\n`;
  if (event.status === 'check') return null;
  const time = event.durationMs === undefined ? '' : ` (${(event.durationMs / 1000).toFixed(1)} s)`;
  const lines = [`  ${MARK[event.status]}  ${event.title}${time}`];
  for (const change of event.changes ?? []) lines.push(`             - ${change}`);
  if (event.reason) lines.push(`             ${event.status === 'failed' ? `${event.code ?? 'error'}: ` : ''}${event.reason.split('\n').join('\n             ')}`);
  return `${lines.join('\n')}\n`;
}

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
