import { MiError } from '../errors/index.js';
import { formatBytes } from './dump.js';

/**
 * The repository's snapshots as `mi-remote backup list` prints them (restic's `snapshots --json`),
 * read into rows: a good snapshot carries the tags mi-ok, db=DB, tables=T, rows=R, bytes=B (added
 * once its dump was complete); one without mi-ok never finished.
 */
export interface SnapshotRow {
  id: string;
  short: string;
  /** ISO time restic recorded. */
  time: string;
  database: string;
  ok: boolean;
  tables?: number;
  rows?: number;
  bytes?: number;
  /** Why it was made: nightly, manual, pre-restore, pre-import. */
  reason?: string;
}

interface ResticSnapshot {
  id?: string;
  short_id?: string;
  time?: string;
  tags?: string[];
  paths?: string[];
}

const REASONS = ['nightly', 'manual', 'pre-restore', 'pre-import'];

export function parseSnapshotList(stdout: string): SnapshotRow[] {
  const text = stdout.trim();
  if (!text) return [];
  let list: ResticSnapshot[] | null;
  try {
    list = JSON.parse(text) as ResticSnapshot[] | null;
  } catch {
    throw new MiError('MI_ERR_BACKUP_REPOSITORY', `restic's snapshot list is not JSON: ${text.slice(0, 80)}`);
  }
  if (list !== null && !Array.isArray(list)) throw new MiError('MI_ERR_BACKUP_REPOSITORY', "restic's snapshot list is not a JSON array");
  if (list?.some((s) => typeof s !== 'object' || s === null)) throw new MiError('MI_ERR_BACKUP_REPOSITORY', "restic's snapshot list holds something that is not a snapshot");
  return (list ?? []).map((s) => {
    const tags = s.tags ?? [];
    const tag = (k: string) => tags.find((t) => t.startsWith(`${k}=`))?.slice(k.length + 1);
    const num = (k: string) => (tag(k) === undefined ? undefined : Number(tag(k)));
    const id = s.id ?? '';
    const reason = tags.find((t) => REASONS.includes(t));
    const tables = num('tables');
    const rows = num('rows');
    const bytes = num('bytes');
    return {
      id,
      short: s.short_id ?? id.slice(0, 8),
      time: s.time ?? '',
      database: tag('db') ?? (s.paths?.[0] ?? '').replace(/^\//, '').replace(/\.sql$/, ''),
      ok: tags.includes('mi-ok'),
      ...(tables === undefined ? {} : { tables }),
      ...(rows === undefined ? {} : { rows }),
      ...(bytes === undefined ? {} : { bytes }),
      ...(reason ? { reason } : {}),
    };
  });
}

/** The snapshots as a table, newest first. */
export function formatSnapshots(host: string, rows: SnapshotRow[]): string {
  if (rows.length === 0) return `${host}: no snapshots yet; run \`messenger-infra backup now\`\n`;
  const newest = [...rows].reverse();
  const line = (cells: string[]) => `  ${cells[0]!.padEnd(8)}  ${cells[1]!.padEnd(20)}  ${cells[2]!.padEnd(16)}  ${cells[3]!.padStart(9)}  ${cells[4]!.padStart(6)}  ${cells[5]!.padStart(12)}  ${cells[6]}`;
  return [
    `${host}: ${rows.length} snapshot(s), newest first`,
    '',
    line(['id', 'time (UTC)', 'database', 'size', 'tables', 'rows', 'state']),
    ...newest.map((r) =>
      line([
        r.short,
        // restic records the host's local offset: shown in UTC, as the header says.
        Number.isNaN(Date.parse(r.time)) ? r.time : new Date(r.time).toISOString().slice(0, 19).replace('T', ' '),
        r.database,
        r.bytes === undefined ? '-' : formatBytes(r.bytes),
        r.tables === undefined ? '-' : String(r.tables),
        r.rows === undefined ? '-' : r.rows.toLocaleString('en-US'),
        `${r.ok ? 'ok' : 'INCOMPLETE'}${r.reason ? ` (${r.reason})` : ''}`,
      ]),
    ),
    '',
  ].join('\n');
}
