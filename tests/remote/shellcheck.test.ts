import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REMOTE_SOURCE_DIR } from '../../src/executor/remote-programs.js';

/** Debian's shellcheck (installed by scripts/setup.sh) on every remote program, as POSIX sh. */
const ROOT = join(REMOTE_SOURCE_DIR, '..');
const files = readdirSync(REMOTE_SOURCE_DIR).sort();

describe('remote programs', () => {
  it('pass `shellcheck -S warning` as POSIX sh, following their sources', () => {
    const result = spawnSync('shellcheck', ['-S', 'warning', '-x', ...files.map((f) => `remote/${f}`)], { cwd: ROOT, encoding: 'utf8' });
    expect(result.error, 'shellcheck is installed by scripts/setup.sh').toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

});
