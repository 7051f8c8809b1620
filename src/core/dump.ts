/**
 * SQL dumps as the data commands see them, pure: what a file to import is (its compression, whether
 * it looks like SQL at all), and the records `mi-remote db` prints (tables with row counts, what it
 * translated). Checked on the operator's machine before anything connects, so a wrong file is one
 * line and exit 2 with nothing on the host touched.
 */

export type Compression = 'none' | 'gzip' | 'zstd';

const MAGIC: Array<[string, Buffer, Compression | null]> = [
  ['gzip', Buffer.from([0x1f, 0x8b]), 'gzip'],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 'zstd'],
  ['bzip2', Buffer.from('BZh'), null],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), null],
  ['zip', Buffer.from([0x50, 0x4b, 0x03, 0x04]), null],
  ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), null],
];

export type Sniffed = { ok: true; compression: Compression } | { ok: false; problem: string };

/** Statements and comments a dump starts with (mysqldump, MariaDB, phpMyAdmin, Adminer, hand-written). */
const SQL_START = /^(--|#|\/\*|SET\b|CREATE\b|DROP\b|INSERT\b|LOCK\b|USE\b|START\b|BEGIN\b|DELIMITER\b|ALTER\b|REPLACE\b)/i;

/**
 * The file's compression from its first bytes, and for plain text whether it reads as SQL: text
 * without NUL bytes whose first statement is one a dump starts with. `head` is the first few KB
 * (decompressed when the caller could: gzip locally, zstd only on the host).
 */
export function sniffDump(head: Buffer, decompressedHead?: Buffer): Sniffed {
  for (const [name, magic, compression] of MAGIC) {
    if (head.subarray(0, magic.length).equals(magic)) {
      if (!compression) return { ok: false, problem: `is ${name}-compressed, which import does not take; decompress it, or recompress with gzip or zstd` };
      if (decompressedHead === undefined) return { ok: true, compression };
      const inner = looksLikeSql(decompressedHead);
      return inner ? { ok: false, problem: `is ${name}-compressed but ${inner}` } : { ok: true, compression };
    }
  }
  const problem = looksLikeSql(head);
  return problem ? { ok: false, problem } : { ok: true, compression: 'none' };
}

/** Why `text` is not the start of an SQL dump, or null when it is. */
function looksLikeSql(text: Buffer): string | null {
  if (text.length === 0) return 'is empty';
  if (text.includes(0)) return 'is not an SQL dump (binary data)';
  const body = text.toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (!SQL_START.test(body) || body.startsWith('#!')) return `is not an SQL dump (it starts with "${body.slice(0, 24).replace(/\s+/g, ' ')}")`;
  return null;
}

export interface TableRows {
  name: string;
  rows: number;
}

export interface LoadReport {
  tables: TableRows[];
  objects: Array<{ kind: string; name: string }>;
  translated: Array<{ what: string; from: string; to: string; count: number }>;
  dropped: Array<{ statement: string; count: number }>;
}

/** The records `mi-remote db load|tables` prints, one per line; anything else (progress) is ignored. */
export function parseLoadReport(stdout: string): LoadReport {
  const report: LoadReport = { tables: [], objects: [], translated: [], dropped: [] };
  for (const raw of stdout.split('\n')) {
    const words = raw.trim().split(/\s+/);
    if (words[0] === 'table' && words.length >= 3) report.tables.push({ name: words[1]!, rows: Number(words[2]) });
    else if (words[0] === 'object' && words.length >= 3) report.objects.push({ kind: words[1]!, name: words.slice(2).join(' ') });
    else if (words[0] === 'translated' && words.length >= 5) report.translated.push({ what: words[1]!, from: words.slice(2, -2).join(' '), to: words.at(-2)!, count: Number(words.at(-1)) });
    else if (words[0] === 'dropped' && words.length >= 4) report.dropped.push({ statement: words[2]!, count: Number(words[3]) });
  }
  return report;
}

/** The report as lines for people: per table its rows, then what was changed on the way in. */
export function formatLoadReport(report: LoadReport, database: string): string[] {
  const width = Math.max(5, ...report.tables.map((t) => t.name.length));
  const total = report.tables.reduce((n, t) => n + t.rows, 0);
  return [
    `${database}: ${report.tables.length} table(s), ${total.toLocaleString('en-US')} row(s)`,
    ...report.tables.map((t) => `  ${t.name.padEnd(width)}  ${t.rows.toLocaleString('en-US').padStart(12)}`),
    ...(report.objects.length > 0 ? [`  and ${report.objects.map((o) => `${o.kind} ${o.name}`).join(', ')}`] : []),
    ...report.translated.map((t) => `translated ${t.what} ${t.from} -> ${t.to} (${t.count}x)`),
    ...report.dropped.map((d) => `dropped ${d.count} ${d.statement} statement(s): everything lands in ${database}`),
  ];
}

/** Bytes for progress lines: 1.2 MB, 340 kB. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
