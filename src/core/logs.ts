import type { StackConfig } from '../config/schema.js';
import { appPortsOf } from './host-model.js';
import { appUnit } from './render.js';

/**
 * `logs`: which sources a name means, the remote `logs` program's argv, and its tagged lines read
 * back as time-stamped lines with the source's name, so several sources interleave by time.
 */
export const LOG_SOURCES = ['app', 'nginx', 'mariadb', 'redis', 'backup', 'all'] as const;
export type LogSource = (typeof LOG_SOURCES)[number];

export interface LogQuery {
  source: LogSource;
  follow: boolean;
  lines: number;
  /** Only lines at or after this time. */
  since?: Date;
}

export interface LogLine {
  /** null when the line carries no time it can be sorted by (kept in arrival order). */
  time: Date | null;
  /** The unit or log the line came from: messenger-chat-3000, nginx, nginx/access, mariadbd, ... */
  source: string;
  text: string;
}

function unitsOf(source: LogSource, stack: StackConfig): string[] {
  const app = appPortsOf(stack).map(appUnit);
  const units: Record<Exclude<LogSource, 'all'>, string[]> = {
    app,
    nginx: ['nginx.service'],
    mariadb: ['mariadb.service'],
    redis: ['redis-server.service'],
    backup: ['messenger-backup.service', 'messenger-backup-drill.service'],
  };
  return source === 'all' ? Object.values(units).flat() : units[source];
}

/** journalctl's --since, in UTC so the host's time zone does not matter. */
function journalTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function logsArgv(query: LogQuery, stack: StackConfig): string[] {
  return [
    'logs',
    ...(query.follow ? ['-f'] : []),
    '-n', String(query.lines),
    ...(query.since ? ['--since', journalTime(query.since)] : []),
    ...(query.source === 'nginx' || query.source === 'all' ? ['--nginx'] : []),
    '--',
    ...unitsOf(query.source, stack),
  ];
}

/** nginx's error.log time ("2026/12/01 10:00:00", the host's local time; UTC on a VPS image). */
function nginxErrorTime(text: string): Date | null {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}:\d{2}:\d{2})/.exec(text);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}Z`) : null;
}

/** One line of the remote `logs` program (`J `, `A ` or `E ` and the line). */
export function parseTaggedLine(tagged: string): LogLine | null {
  const tag = tagged.slice(0, 2);
  const text = tagged.slice(2);
  if (tag === 'J ') {
    // short-iso-precise: TIME HOST IDENTIFIER[PID]: MESSAGE
    const m = /^(\S+) \S+ ([^:[\s]+)(?:\[\d+\])?: ?(.*)$/.exec(text);
    if (!m) return text.startsWith('-- ') ? null : { time: null, source: 'journal', text };
    const time = new Date(m[1]!);
    return { time: Number.isNaN(time.getTime()) ? null : time, source: m[2]!, text: m[3]! };
  }
  if (tag === 'A ') {
    try {
      const entry = JSON.parse(text) as { time?: string; method?: string; uri?: string; status?: number; remote_addr?: string; request_time?: number };
      const time = entry.time ? new Date(entry.time) : null;
      return { time, source: 'nginx/access', text: `${entry.remote_addr ?? '-'} ${entry.method ?? '-'} ${entry.uri ?? '-'} ${entry.status ?? '-'} ${entry.request_time ?? '-'}s` };
    } catch {
      return { time: null, source: 'nginx/access', text };
    }
  }
  if (tag === 'E ') return { time: nginxErrorTime(text), source: 'nginx/error', text };
  return null;
}

/** Sorted by time (stable: lines without a time keep their place after the one before them), last `lines`. */
export function mergeByTime(lines: readonly LogLine[], keep: number, since?: Date): LogLine[] {
  let last = 0;
  const keyed = lines.map((line, index) => {
    if (line.time) last = line.time.getTime();
    return { line, key: line.time ? line.time.getTime() : last, index };
  });
  keyed.sort((a, b) => a.key - b.key || a.index - b.index);
  const kept = keyed.map((k) => k.line).filter((l) => !since || !l.time || l.time >= since);
  return kept.slice(Math.max(0, kept.length - keep));
}

export function formatLogLine(line: LogLine): string {
  return `${line.time ? line.time.toISOString() : ' '.repeat(24)} ${line.source.padEnd(20)} ${line.text}`;
}
