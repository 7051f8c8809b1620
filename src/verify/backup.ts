import { backupWarnings, describeBackupState, type BackupState } from '../core/backup.js';
import type { CheckResult, CheckStatus, VerifyReport } from './types.js';

/**
 * The backups' health as a verify check, from the state files the host's runs leave (read over SSH
 * by the caller): a warning, never a failure, since the chat itself serves either way.
 */
export function backupCheck(state: BackupState | Error, nowS = Date.now() / 1000): CheckResult {
  const base = { id: 'backup.age' as const, title: 'backups: last good backup and drill', durationMs: 0 };
  if (state instanceof Error) return { ...base, status: 'warn', cause: `could not read the backup state over SSH: ${state.message}` };
  const warnings = backupWarnings(state, nowS);
  const figure = describeBackupState(state, nowS).join('; ');
  const data = { lastGoodS: state.lastGood ?? null, lastDrillS: state.lastDrill?.time ?? null, lastDrillOk: state.lastDrill ? state.lastDrill.status === 'ok' : null };
  return warnings.length === 0 ? { ...base, status: 'pass', figure, data } : { ...base, status: 'warn', cause: warnings.join('; '), figure, data };
}

/** The report with one more check, its summary counted again (the exit code is unchanged: a warning). */
export function withCheck(report: VerifyReport, check: CheckResult): VerifyReport {
  const summary: Record<CheckStatus, number> = { ...report.summary, [check.status]: report.summary[check.status] + 1 };
  return { ...report, summary, checks: [...report.checks, check] };
}
