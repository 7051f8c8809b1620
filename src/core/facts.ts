/**
 * A fact is a read-only query of the remote `facts` program (remote/facts.sh) plus a pure parser
 * (pyinfra-style). All facts of a run are gathered in one batched SSH round trip (executor/gather.ts),
 * then every step plans from them.
 */
export interface Fact<T = unknown> {
  /** Unique key; facts with the same id are gathered once. */
  id: string;
  /** The fact's kind and arguments, as `mi-remote facts` takes them (e.g. ['file', '/etc/nginx/nginx.conf']). */
  query: string[];
  /** Parses the fact's stdout; a non-zero exit status is passed too. */
  parse(stdout: string, exitCode: number): T;
}

export type FactValues = ReadonlyMap<string, unknown>;

export function factValue<T>(facts: FactValues, fact: Fact<T>): T {
  if (!facts.has(fact.id)) throw new Error(`fact ${fact.id} was not gathered`);
  return facts.get(fact.id) as T;
}

/** Files an interrupted transaction left beside a managed path (see remote/lib.sh). */
export type Leftover = 'mi-prev' | 'mi-none' | 'mi-new';

function parseLeftovers(line: string | undefined): Leftover[] {
  return (line ?? '').trim().split(' ').slice(1).filter((w): w is Leftover => w === 'mi-prev' || w === 'mi-none' || w === 'mi-new');
}

export interface FileState {
  exists: boolean;
  sha256?: string;
  mode?: number;
  owner?: string;
  group?: string;
  /** Text content, for diffs in `plan` (managed files are config, never secrets). */
  content?: string;
  /** Drift: an activation was interrupted here; the next run validates and activates again. */
  leftovers: Leftover[];
}

/** State of a managed file, its content included so `plan` can show a diff. */
export function fileFact(path: string): Fact<FileState> {
  return {
    id: `file:${path}`,
    query: ['file', path],
    parse(stdout) {
      const [left, meta = '', sha = '', b64 = ''] = stdout.split('\n');
      const leftovers = parseLeftovers(left);
      if (meta.trim() === 'missing') return { exists: false, leftovers };
      const [mode = '0', owner = '', group = ''] = meta.trim().split(' ');
      return { exists: true, sha256: sha.trim(), mode: parseInt(mode, 8), owner, group, content: Buffer.from(b64.trim(), 'base64').toString('utf8'), leftovers };
    },
  };
}

export interface LinkState {
  /** The link's target; '' when there is no link. */
  target: string;
  leftovers: Leftover[];
}

export function linkFact(path: string): Fact<LinkState> {
  return {
    id: `link:${path}`,
    query: ['link', path],
    parse(stdout) {
      const [left, target = ''] = stdout.split('\n');
      return { target: target.trim(), leftovers: parseLeftovers(left) };
    },
  };
}

export function pathExistsFact(path: string): Fact<boolean> {
  return { id: `exists:${path}`, query: ['exists', path], parse: (s) => s.trim() === 'yes' };
}

/** Installed Debian packages among `names` (dpkg status "install ok installed"). */
export function packagesFact(names: readonly string[]): Fact<Set<string>> {
  return {
    id: `packages:${names.join(',')}`,
    query: ['packages', ...names],
    parse(stdout) {
      const installed = new Set<string>();
      for (const line of stdout.split('\n')) {
        const [name, ...status] = line.trim().split(' ');
        if (name && status.join(' ') === 'install ok installed') installed.add(name);
      }
      return installed;
    },
  };
}

export interface UnitState {
  active: string;
  enabled: string;
}

export function unitFact(unit: string): Fact<UnitState> {
  return {
    id: `unit:${unit}`,
    query: ['unit', unit],
    parse(stdout) {
      const [active = 'unknown', enabled = 'unknown'] = stdout.trim().split(' ');
      return { active: active || 'unknown', enabled: enabled || 'unknown' };
    },
  };
}

/** Output of a read-only query, trimmed, plus its exit code. */
export function queryFact(id: string, query: string[]): Fact<{ stdout: string; code: number }> {
  return { id, query, parse: (stdout, code) => ({ stdout: stdout.trim(), code }) };
}
