import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { activateFiles, stageFile } from '../../src/core/file-plan.js';
import { LocalShellHost } from './fixtures.js';

/** The stage-then-swap transaction the executor uses for every managed file, run by the real sh. */
describe('file transaction', () => {
  const host = new LocalShellHost();
  const file = (dir: string, name: string, content: string) => ({ path: join(dir, name), content, mode: 0o640, owner: 'root', group: 'root' });

  it('stages without touching the live file, then swaps in with owner and mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-tx-'));
    writeFileSync(join(dir, 'site.conf'), 'old\n');
    const next = file(dir, 'site.conf', 'new\n');
    expect((await host.run(stageFile(next))).code).toBe(0);
    expect(readFileSync(next.path, 'utf8')).toBe('old\n');
    const result = await host.run(activateFiles('swap', [next.path], `grep -q new ${next.path}`));
    expect(result.code).toBe(0);
    expect(readFileSync(next.path, 'utf8')).toBe('new\n');
    expect(statSync(next.path).mode & 0o777).toBe(0o640);
    expect(existsSync(`${next.path}.mi-prev`)).toBe(false);
  });

  it('restores every previous file and removes new ones when validation fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-tx-'));
    writeFileSync(join(dir, 'main.conf'), 'main v1\n');
    const a = file(dir, 'main.conf', 'main v2\n');
    const b = file(dir, 'extra.conf', 'brand new\n');
    for (const f of [a, b]) expect((await host.run(stageFile(f))).code).toBe(0);
    const marker = join(dir, 'recovered');
    const result = await host.run(activateFiles('swap', [a.path, b.path], 'echo "emerg: bad directive"; false', 'true', `touch ${marker}`));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('validation failed; previous files restored');
    expect(result.stderr).toContain('bad directive');
    expect(readFileSync(a.path, 'utf8')).toBe('main v1\n');
    expect(existsSync(b.path)).toBe(false);
    expect(existsSync(marker)).toBe(true);
  });

  it('restores when activation fails after a valid config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-tx-'));
    writeFileSync(join(dir, 'app.env'), 'PORT=1\n');
    const next = file(dir, 'app.env', 'PORT=2\n');
    await host.run(stageFile(next));
    const result = await host.run(activateFiles('swap', [next.path], 'true', 'exit 7'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('activation failed');
    expect(readFileSync(next.path, 'utf8')).toBe('PORT=1\n');
  });
});
