import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandFact, fileFact, packagesFact } from '../../src/core/facts.js';
import { gatherFacts } from '../../src/executor/gather.js';
import { LocalShellHost } from './fixtures.js';

describe('batched fact gathering (real sh)', () => {
  it('reads many facts in one command, each with its own stdout and exit status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-facts-'));
    const file = join(dir, 'a b.conf');
    writeFileSync(file, 'line one\nline two\n', { mode: 0o640 });
    const host = new LocalShellHost();
    const present = fileFact(file);
    const absent = fileFact(join(dir, 'missing'));
    const failing = commandFact('failing', 'echo partial; exit 3');
    const quoted = commandFact('quoted', `printf '%s' "it's fine"`);
    const facts = await gatherFacts(host, [present, absent, failing, quoted, present]);
    expect(host.ran).toHaveLength(1);
    expect(facts.get(present.id)).toMatchObject({ exists: true, mode: 0o640, owner: 'root', content: 'line one\nline two\n' });
    expect(facts.get(absent.id)).toEqual({ exists: false });
    expect(facts.get('failing')).toEqual({ stdout: 'partial', code: 3 });
    expect(facts.get('quoted')).toEqual({ stdout: "it's fine", code: 0 });
  });

  it('parses dpkg status of installed and missing packages', () => {
    const fact = packagesFact(['nginx', 'ufw', 'curl']);
    const parsed = fact.parse('nginx install ok installed\nufw deinstall ok config-files\n', 0);
    expect([...parsed]).toEqual(['nginx']);
  });
});
