// Renderers: a table for humans, a stable JSON document for machines (schema messenger-infra/verify@1).
import type { CheckResult, VerifyReport } from './types.js';

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', warn: 'WARN' };

/** A plain-text table: one row per check, the figure or the cause beside it. */
export function renderTable(report: VerifyReport): string {
  const idWidth = Math.max(...report.checks.map((c) => c.id.length), 5);
  const lines: string[] = [];
  const via = report.address ? ` via ${report.address}` : '';
  if (report.app) {
    const paths = report.app.websocket.join(', ');
    lines.push(`verify ${report.url}${via} (your app: health ${report.app.health}, WebSocket ${paths}${report.quick ? ', quick' : ''})`);
    lines.push("  the chat-protocol checks apply to the bundled chat server only and are skipped");
  } else {
    lines.push(`verify ${report.url}${via} (room ${report.room}${report.quick ? ', quick' : ''})`);
  }
  lines.push('');
  for (const c of report.checks) {
    const detail = c.status === 'pass' ? (c.figure ?? '') : [c.cause, c.figure && c.status === 'warn' ? `(${c.figure})` : ''].filter(Boolean).join(' ');
    lines.push(`  ${MARK[c.status]}  ${c.id.padEnd(idWidth)}  ${detail}`);
  }
  const s = report.summary;
  lines.push('');
  lines.push(
    `${s.pass} passed, ${s.fail} failed, ${s.warn} warnings, ${s.skip} skipped in ${(report.durationMs / 1000).toFixed(1)} s` +
      (report.reachable ? '' : ' — could not connect at all'),
  );
  return lines.join('\n');
}

/** The JSON report: keys in a fixed order, numbers in ms/days, no functions or undefined. */
export function renderJson(report: VerifyReport): string {
  const ordered = {
    schema: report.schema,
    url: report.url,
    host: report.host,
    port: report.port,
    address: report.address ?? null,
    room: report.room,
    quick: report.quick,
    startedAt: report.startedAt,
    durationMs: report.durationMs,
    reachable: report.reachable,
    exitCode: report.exitCode,
    summary: { pass: report.summary.pass, fail: report.summary.fail, warn: report.summary.warn, skip: report.summary.skip },
    checks: report.checks.map((c) => ({
      id: c.id,
      title: c.title,
      status: c.status,
      figure: c.figure ?? null,
      cause: c.cause ?? null,
      code: c.code ?? null,
      durationMs: c.durationMs,
      data: c.data ?? {},
    })),
  };
  return JSON.stringify(ordered, null, 2);
}
