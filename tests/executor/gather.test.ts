import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileFact, linkFact, packagesFact, queryFact } from '../../src/core/facts.js';
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
    writeFileSync(`${file}.mi-prev`, 'line one\n');
    const failing = queryFact('failing', ['read', join(dir, 'nothing here')]);
    const quoted = queryFact('quoted', ['read', file]);
    const link = linkFact(join(dir, "it's a link"));
    const facts = await gatherFacts(host, [present, absent, failing, quoted, link, present]);
    expect(host.ran).toHaveLength(1);
    expect(host.ran[0]!.argv.slice(0, 2)).toEqual(['mi-remote', 'facts']);
    expect(facts.get(present.id)).toMatchObject({ exists: true, mode: 0o640, owner: 'root', content: 'line one\nline two\n', leftovers: ['mi-prev'] });
    expect(facts.get(absent.id)).toEqual({ exists: false, leftovers: [] });
    expect(facts.get('failing')).toEqual({ stdout: '', code: 1 });
    expect(facts.get('quoted')).toEqual({ stdout: 'line one\nline two', code: 0 });
    expect(facts.get(link.id)).toEqual({ target: '', leftovers: [] });
  });

  it('reads a group of facts whose arguments vary in number, in order', async () => {
    const host = new LocalShellHost();
    const pkgs = packagesFact(['bash', 'no-such-package-here', 'coreutils']);
    const after = queryFact('after', ['exists', '/']);
    const facts = await gatherFacts(host, [pkgs, after]);
    expect([...(facts.get(pkgs.id) as Set<string>)].sort()).toEqual(['bash', 'coreutils']);
    expect(facts.get('after')).toEqual({ stdout: 'yes', code: 0 });
  });

  it('parses dpkg status of installed and missing packages', () => {
    const fact = packagesFact(['nginx', 'ufw', 'curl']);
    const parsed = fact.parse('nginx install ok installed\nufw deinstall ok config-files\n', 0);
    expect([...parsed]).toEqual(['nginx']);
  });
});
