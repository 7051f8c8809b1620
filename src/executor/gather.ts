import { sh } from '../core/command.js';
import type { Fact, FactValues } from '../core/facts.js';
import { MiError } from '../config/errors.js';
import type { Host } from './host.js';

/**
 * Gathers many facts in one SSH round trip: one script runs every fact's snippet between markers,
 * and each section goes to its fact's parser.
 */
export function batchScript(facts: readonly Fact[]): string {
  return facts
    .map((fact, i) => `printf '@@MI-FACT ${i}\\n'; ( ${fact.script}\n) 2>/dev/null </dev/null; printf '\\n@@MI-END ${i} %d\\n' $?`)
    .join('\n');
}

export function parseBatch(facts: readonly Fact[], stdout: string): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const section = /@@MI-FACT (\d+)\n([\s\S]*?)\n@@MI-END \1 (\d+)\n/g;
  for (const match of stdout.matchAll(section)) {
    const fact = facts[Number(match[1])];
    if (fact) values.set(fact.id, fact.parse(match[2] ?? '', Number(match[3])));
  }
  return values;
}

export function uniqueFacts(facts: readonly Fact[]): Fact[] {
  const byId = new Map<string, Fact>();
  for (const fact of facts) byId.set(fact.id, fact);
  return [...byId.values()];
}

export async function gatherFacts(host: Host, facts: readonly Fact[]): Promise<FactValues> {
  const unique = uniqueFacts(facts);
  if (unique.length === 0) return new Map();
  const result = await host.run(sh('gather facts', batchScript(unique)), { timeoutMs: 60_000 });
  const values = parseBatch(unique, result.stdout);
  const missing = unique.filter((f) => !values.has(f.id));
  if (missing.length > 0) {
    throw new MiError('MI_ERR_FACTS', `could not read ${missing.length} fact(s) from ${host.label} (first: ${missing[0]?.id}): ${result.stderr.trim().split('\n').pop() ?? ''}`, { host: host.label });
  }
  return values;
}
