import { remote } from '../core/command.js';
import type { Fact, FactValues } from '../core/facts.js';
import { MiError } from '../errors/index.js';
import { lastLine, type Host } from './host.js';

/**
 * Gathers many facts in one SSH round trip: `mi-remote facts` runs every fact's query between
 * markers, and each section goes to its fact's parser.
 */
export function factsArgv(facts: readonly Fact[]): string[] {
  return facts.flatMap((fact) => [String(fact.query.length), ...fact.query]);
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

/** The parsed facts, or MI_ERR_FACTS naming the first that the host did not answer. */
export function factValues(host: Host, unique: readonly Fact[], result: { stdout: string; stderr: string }): FactValues {
  const values = parseBatch(unique, result.stdout);
  const missing = unique.filter((f) => !values.has(f.id));
  if (missing.length > 0) {
    throw new MiError('MI_ERR_FACTS', `could not read ${missing.length} fact(s) from ${host.label} (first: ${missing[0]?.id}): ${lastLine(result.stderr)}`, { host: host.label });
  }
  return values;
}

export async function gatherFacts(host: Host, facts: readonly Fact[]): Promise<FactValues> {
  const unique = uniqueFacts(facts);
  if (unique.length === 0) return new Map();
  const result = await host.run(remote('gather facts', ['facts', ...factsArgv(unique)]), { timeoutMs: 60_000 });
  return factValues(host, unique, result);
}
