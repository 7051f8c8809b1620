/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every non-empty line
 * must be a HELP, a TYPE or a sample of a family typed before it, and histograms must be cumulative with the
 * +Inf bucket equal to _count. Throws naming the first bad line.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)';
const HELP_RE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_RE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
// Case-insensitive like Prometheus' own parser (Go's ParseFloat): prom-client writes NaN as "Nan".
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?\\d+)?$`, 'i');
const SUFFIXES: Record<Family['type'], string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Labels as a comparable key, independent of their order. */
function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

function parseValue(v: string): number {
  const lower = v.toLowerCase();
  return lower === '+inf' ? Infinity : lower === '-inf' ? -Infinity : lower === 'nan' ? NaN : Number(v);
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of (text ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** The family a sample belongs to, given the families typed so far. */
function familyOf(families: Map<string, Family>, name: string): Family | undefined {
  for (const [base, f] of families) if (SUFFIXES[f.type].some((s) => `${base}${s}` === name)) return f;
  return undefined;
}

function checkHistogram(name: string, f: Family): void {
  const series = new Map<string, Sample[]>();
  for (const s of f.samples.filter((x) => x.name === `${name}_bucket`)) {
    const { le: _le, ...rest } = s.labels;
    const key = labelKey(rest);
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const [key, buckets] of series) {
    const les = buckets.map((b) => parseValue(b.labels.le ?? 'NaN'));
    if (les.at(-1) !== Infinity) throw new Error(`${name}${key}: no le="+Inf" bucket`);
    buckets.forEach((b, i) => {
      if (i > 0 && (les[i] as number) <= (les[i - 1] as number)) throw new Error(`${name}${key}: buckets out of order`);
      if (i > 0 && b.value < (buckets[i - 1] as Sample).value) throw new Error(`${name}${key}: buckets not cumulative`);
    });
    const count = f.samples.find((s) => s.name === `${name}_count` && labelKey(s.labels) === key);
    if (count?.value !== buckets.at(-1)?.value) throw new Error(`${name}${key}: _count differs from the +Inf bucket`);
  }
}

/** Parses an exposition, throwing on the first line that breaks the format. */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  text.slice(0, -1).split('\n').forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    let m: RegExpExecArray | null;
    if (line === '') {
      // the format ignores empty lines (prom-client puts one between families)
    } else if ((m = HELP_RE.exec(line))) {
      helps.set(m[1] as string, m[2] as string);
    } else if ((m = TYPE_RE.exec(line))) {
      const name = m[1] as string;
      if (families.has(name)) fail('family typed twice');
      families.set(name, { type: m[2] as Family['type'], help: helps.get(name) ?? '', samples: [] });
    } else if ((m = SAMPLE_RE.exec(line))) {
      const f = familyOf(families, m[1] as string) ?? fail('sample before its # TYPE');
      f.samples.push({ name: m[1] as string, labels: parseLabels(m[2]), value: parseValue(m[3] as string) });
    } else {
      fail('not a HELP, TYPE or sample line');
    }
  });
  for (const [name, f] of families) {
    if (f.help === '') throw new Error(`${name} has no # HELP`);
    if (f.type === 'histogram') checkHistogram(name, f);
  }
  return families;
}

/** The value of the one sample `name` with exactly `labels` (none by default). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = labelKey(labels);
  for (const f of families.values()) {
    const s = f.samples.find((x) => x.name === name && labelKey(x.labels) === want);
    if (s) return s.value;
  }
  return undefined;
}
