import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, isErrorCode } from '../../src/errors/catalogue.js';

/** Every MI_ERR_* code written anywhere in the toolkit is a key of the one catalogue. */
const ROOT = new URL('../../', import.meta.url).pathname;
const DIRS = ['cli', 'src', 'infra', 'app/src'];
// A whole code: not a prefix of a template (`MI_ERR_SANDBOX_${string}`).
const CODE = /\bMI_ERR_[A-Z0-9_]*[A-Z0-9]\b(?!_)/g;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('the error catalogue', () => {
  const used = new Map<string, string>();
  for (const file of DIRS.flatMap(sources)) {
    for (const code of readFileSync(file, 'utf8').match(CODE) ?? []) used.set(code, file.slice(ROOT.length));
  }

  it('lists every code used in cli/, src/, infra/ and app/src', () => {
    expect(used.size).toBeGreaterThan(80);
    const missing = [...used].filter(([code]) => !isErrorCode(code)).map(([code, file]) => `${code} (${file})`);
    expect(missing).toEqual([]);
  });

  it('gives each code an exit status of the documented set and a meaning', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect([1, 2, 3, 4, 75], code).toContain(entry.exit);
      expect(entry.meaning.length, code).toBeGreaterThan(10);
    }
  });
});
