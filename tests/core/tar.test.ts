import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarArchive } from '../../src/core/tar.js';

/** The in-memory ustar writer, read back by GNU tar as the host does (`tar -x -f -`). */
const tar = (args: string[], input: Buffer) => spawnSync('tar', args, { input, encoding: 'utf8' });

/** A path of exactly `bytes` bytes: folders of 49 characters, then a file name. */
function longPath(bytes: number): string {
  const dirs: string[] = [];
  let length = 0;
  while (bytes - length > 60) {
    const dir = `d${dirs.length}`.padEnd(49, 'x');
    dirs.push(dir);
    length += dir.length + 1;
  }
  const name = 'f'.repeat(bytes - length - 3) + '.js';
  return [...dirs, name].join('/');
}

describe('tar archives', () => {
  it('a 200-byte path (deep node_modules-like trees) round-trips through GNU tar', () => {
    const path = longPath(200);
    expect(Buffer.byteLength(path)).toBe(200);
    const archive = tarArchive([
      { name: 'package.json', content: '{}', mode: 0o644 },
      { name: path, content: 'module.exports = 1;\n', mode: 0o755 },
    ]);
    const list = tar(['-tf', '-'], archive);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toBe(`package.json\n${path}\n`);
    expect(tar(['-xOf', '-', path], archive).stdout).toBe('module.exports = 1;\n');

    const dir = mkdtempSync(join(tmpdir(), 'mi-tar-'));
    try {
      expect(tar(['-xf', '-', '-C', dir, '--no-same-owner'], archive).status).toBe(0);
      expect(readFileSync(join(dir, path), 'utf8')).toBe('module.exports = 1;\n');
      // The executable bit survives (a script the app runs).
      expect(statSync(join(dir, path)).mode & 0o777).toBe(0o755);
      expect(statSync(join(dir, 'package.json')).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('paths up to 255 bytes (155 prefix + 100 name), split at a slash', () => {
    const path = `${'p'.repeat(155)}/${'n'.repeat(99)}`;
    expect(Buffer.byteLength(path)).toBe(255);
    expect(tar(['-tf', '-'], tarArchive([{ name: path, content: '', mode: 0o644 }])).stdout).toBe(`${path}\n`);
    // A short path uses the name field alone.
    const short = tarArchive([{ name: 'a/b.js', content: 'x', mode: 0o644 }]);
    expect(short.subarray(0, 7).toString('latin1')).toBe('a/b.js\0');
    expect(short.subarray(345, 346)[0]).toBe(0);
    // Multi-byte names count in bytes.
    const utf8 = `${'ü'.repeat(60)}/${'ß'.repeat(45)}.txt`;
    expect(tar(['-tf', '-'], tarArchive([{ name: utf8, content: '', mode: 0o644 }])).stdout).toBe(`${utf8}\n`);
  });

  it('refuses what ustar cannot hold, naming the path', () => {
    const tooLong = longPath(256);
    expect(() => tarArchive([{ name: tooLong, content: '', mode: 0o644 }])).toThrow(`tar: path too long for ustar (at most 155 + 100 bytes, split at a slash): ${tooLong}`);
    // A file name over 100 bytes cannot be split, however short its folder.
    const longName = `src/${'n'.repeat(101)}`;
    expect(() => tarArchive([{ name: longName, content: '', mode: 0o644 }])).toThrow(longName);
    // No slash to split at.
    expect(() => tarArchive([{ name: 'x'.repeat(101), content: '', mode: 0o644 }])).toThrow(/path too long/);
  });

  it('is deterministic: the same files give the same bytes', () => {
    const files = [{ name: longPath(180), content: Buffer.from([0, 1, 2]), mode: 0o644 }];
    expect(tarArchive(files).equals(tarArchive(files))).toBe(true);
    expect(tarArchive(files).length % 512).toBe(0);
  });
});
