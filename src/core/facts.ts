import { shellQuote } from './command.js';

/**
 * A fact is a read-only shell snippet plus a pure parser (pyinfra-style). All facts of a run are
 * gathered in one batched SSH round trip (see executor/gather.ts), then every step plans from them.
 */
export interface Fact<T = unknown> {
  /** Unique key; facts with the same id are gathered once. */
  id: string;
  /** POSIX shell, read-only. Its stdout goes to `parse`; a non-zero exit is passed too. */
  script: string;
  parse(stdout: string, exitCode: number): T;
}

export type FactValues = ReadonlyMap<string, unknown>;

export function factValue<T>(facts: FactValues, fact: Fact<T>): T {
  if (!facts.has(fact.id)) throw new Error(`fact ${fact.id} was not gathered`);
  return facts.get(fact.id) as T;
}

export interface FileState {
  exists: boolean;
  sha256?: string;
  mode?: number;
  owner?: string;
  group?: string;
  /** Text content, for diffs in `plan` (managed files are config, never secrets). */
  content?: string;
}

/** State of a managed file, its content included (base64) so `plan` can show a diff. */
export function fileFact(path: string): Fact<FileState> {
  return {
    id: `file:${path}`,
    script: `f=${shellQuote(path)}; if [ -f "$f" ]; then stat -c '%a %U %G' "$f"; sha256sum < "$f" | cut -d' ' -f1; base64 -w0 < "$f"; else echo missing; fi`,
    parse(stdout) {
      const [meta = '', sha = '', b64 = ''] = stdout.split('\n');
      if (meta.trim() === 'missing') return { exists: false };
      const [mode = '0', owner = '', group = ''] = meta.trim().split(' ');
      return { exists: true, sha256: sha.trim(), mode: parseInt(mode, 8), owner, group, content: Buffer.from(b64.trim(), 'base64').toString('utf8') };
    },
  };
}

export function pathExistsFact(path: string): Fact<boolean> {
  return { id: `exists:${path}`, script: `test -e ${shellQuote(path)} && echo yes || echo no`, parse: (s) => s.trim() === 'yes' };
}

/** Installed Debian packages among `names` (dpkg status "install ok installed"). */
export function packagesFact(names: readonly string[]): Fact<Set<string>> {
  return {
    id: `packages:${names.join(',')}`,
    script: `dpkg-query -W -f='\${Package} \${Status}\\n' ${names.map(shellQuote).join(' ')} 2>/dev/null || true`,
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
    script: `printf '%s %s\\n' "$(systemctl is-active ${shellQuote(unit)} 2>/dev/null)" "$(systemctl is-enabled ${shellQuote(unit)} 2>/dev/null)"`,
    parse(stdout) {
      const [active = 'unknown', enabled = 'unknown'] = stdout.trim().split(' ');
      return { active: active || 'unknown', enabled: enabled || 'unknown' };
    },
  };
}

/** Output of a read-only command, trimmed, plus its exit code. */
export function commandFact(id: string, script: string): Fact<{ stdout: string; code: number }> {
  return { id, script, parse: (stdout, code) => ({ stdout: stdout.trim(), code }) };
}
