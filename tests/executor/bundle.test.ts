import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import { readAppBundle, readSource } from '../../src/executor/bundle.js';
import { MiError } from '../../src/errors/index.js';

/**
 * A user's app packed from `app.source` on the operator's machine: what git would track (each
 * folder's .gitignore honoured), never node_modules, .git or .env files or a secret file the stack
 * names, the build output only when it was built here. Checked against git itself on the same tree.
 */
let root: string;
let secretsDir: string;

function put(path: string, content = `${path}\n`, mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mi-source-'));
  secretsDir = mkdtempSync(join(tmpdir(), 'mi-source-secrets-'));
  put('package.json', '{"name":"shop","version":"2.3.0","scripts":{"build":"nest build"}}');
  put('package-lock.json', '{"lockfileVersion":3}\n');
  put('.gitignore', 'dist/\nbuild/\n*.log\ncoverage/\n');
  put('src/main.ts');
  put('src/app.module.ts');
  put('bin/server', '#!/bin/sh\nexec node dist/main.js\n', 0o755);
  put('dist/main.js');
  put('build/assets/logo.svg');
  put('coverage/index.html');
  put('debug.log');
  // Nested .gitignore: its own rules, relative to its folder, and a negation of the parent's rule.
  put('packages/api/.gitignore', 'generated/\n/local.json\n!keep.log\n');
  put('packages/api/index.ts');
  put('packages/api/generated/client.ts');
  put('packages/api/local.json');
  put('packages/api/deep/local.json');
  put('packages/api/keep.log');
  put('packages/api/other.log');
  // Never shipped whatever .gitignore says (here it says nothing about them).
  put('node_modules/left-pad/index.js');
  put('packages/api/node_modules/x/index.js');
  put('.git/HEAD', 'ref: refs/heads/main\n');
  put('.env', 'DB_PASSWORD=hunter2\n');
  put('.env.production', 'X=1\n');
  put('.env.example', 'DB_PASSWORD=\n');
  put('packages/api/.env.local', 'X=1\n');
  // A secret the stack names, kept inside the project by mistake.
  put('config/stripe.key', 'sk_live_0123\n');
  put('config/app.json', '{}');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(secretsDir, { recursive: true, force: true });
});

function stack(app: StackOverrides['app'] = {}) {
  return loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test', app: { source: root, start: 'node dist/main.js', health: '/api/health', ...app } } });
}

const names = (build: 'host' | 'local', app: StackOverrides['app'] = {}) => readSource(stack(app), build).files.map((f) => f.name);

const SHIPPED = [
  '.env.example',
  '.gitignore',
  'bin/server',
  'config/app.json',
  'config/stripe.key',
  'package-lock.json',
  'package.json',
  'packages/api/.gitignore',
  'packages/api/deep/local.json',
  'packages/api/index.ts',
  'packages/api/keep.log',
  'src/app.module.ts',
  'src/main.ts',
];

describe('readSource', () => {
  it('ships what git would track, folder by folder in name order', () => {
    expect(names('host')).toEqual(SHIPPED);
  });

  it('agrees with git on the same tree (minus .env files and node_modules, never shipped)', () => {
    const copy = mkdtempSync(join(tmpdir(), 'mi-source-git-'));
    try {
      spawnSync('cp', ['-a', `${root}/.`, copy]);
      rmSync(join(copy, '.git'), { recursive: true, force: true });
      const init = spawnSync('git', ['init', '-q', copy], { encoding: 'utf8' });
      expect(init.status, init.stderr).toBe(0);
      const ls = spawnSync('git', ['-C', copy, '-c', 'core.excludesFile=/dev/null', 'ls-files', '--others', '--exclude-standard'], { encoding: 'utf8' });
      const neverShipped = (p: string) => /(^|\/)node_modules\//.test(p) || (/(^|\/)\.env(\.[^/]*)?$/.test(p) && !p.endsWith('/.env.example') && p !== '.env.example');
      const tracked = ls.stdout.trim().split('\n');
      // git, too, would track the nested keep.log its folder's .gitignore re-includes.
      expect(tracked).toContain('packages/api/keep.log');
      expect(tracked.filter(neverShipped).sort()).toEqual(['.env', '.env.production', 'node_modules/left-pad/index.js', 'packages/api/.env.local', 'packages/api/node_modules/x/index.js']);
      expect(new Set(names('host'))).toEqual(new Set(tracked.filter((p) => !neverShipped(p))));
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('built locally: dist/ and build/ are shipped though git-ignored; nothing else changes', () => {
    expect(names('local')).toEqual([
      '.env.example',
      '.gitignore',
      'bin/server',
      'build/assets/logo.svg',
      'config/app.json',
      'config/stripe.key',
      'dist/main.js',
      'package-lock.json',
      'package.json',
      'packages/api/.gitignore',
      'packages/api/deep/local.json',
      'packages/api/index.ts',
      'packages/api/keep.log',
      'src/app.module.ts',
      'src/main.ts',
    ]);
  });

  it("never a secret file the stack names (app.secrets or the JWT secret), wherever it is", () => {
    const withSecret = names('host', { secrets: { STRIPE_KEY: { file: join(root, 'config/stripe.key') } } });
    expect(withSecret).not.toContain('config/stripe.key');
    expect(withSecret).toEqual(SHIPPED.filter((n) => n !== 'config/stripe.key'));
    const jwt = loadStack({
      overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test', app: { source: root, start: 'node dist/main.js', health: '/api/health', jwtSecret: { file: join(root, 'config/app.json') } } },
    });
    expect(readSource(jwt, 'host').files.map((f) => f.name)).not.toContain('config/app.json');
  });

  it('keeps the executable bit, the bytes, the version; the id is the version and a content hash', () => {
    const bundle = readSource(stack(), 'host');
    expect(bundle.files.find((f) => f.name === 'bin/server')).toEqual({ name: 'bin/server', content: Buffer.from('#!/bin/sh\nexec node dist/main.js\n'), executable: true });
    expect(bundle.files.find((f) => f.name === 'src/main.ts')).toEqual({ name: 'src/main.ts', content: Buffer.from('src/main.ts\n') });
    expect(bundle).toMatchObject({ kind: 'source', version: '2.3.0', install: 'ci' });
    expect(bundle.id).toMatch(/^2\.3\.0-[0-9a-f]{12}$/);
    expect(readSource(stack(), 'host').id).toBe(bundle.id);
    expect(readSource(stack(), 'local')).toMatchObject({ kind: 'source', install: 'production' });
    expect(readSource(stack(), 'local').id).not.toBe(bundle.id);
  });

  it('readAppBundle packs the source when the stack names one', () => {
    expect(readAppBundle(stack(), 'host').files.map((f) => f.name)).toEqual(SHIPPED);
  });

  it('a tree that cannot be read is MI_ERR_SOURCE, naming the folder', () => {
    const s = stack();
    s.app.source = join(root, 'does-not-exist');
    let error: unknown;
    try {
      readSource(s, 'host');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MiError);
    expect((error as MiError).code).toBe('MI_ERR_SOURCE');
    expect((error as MiError).message).toMatch(new RegExp(`^cannot read ${root}/does-not-exist: ENOENT`));
  });

  it('a link to a file ships its content; a link to a folder is not walked (git keeps links; one up the tree would loop)', () => {
    const looped = mkdtempSync(join(tmpdir(), 'mi-source-loop-'));
    try {
      writeFileSync(join(looped, 'package.json'), '{"name":"loop","version":"1.0.0"}');
      writeFileSync(join(looped, 'package-lock.json'), '{}');
      mkdirSync(join(looped, 'src'));
      writeFileSync(join(looped, 'src/a.ts'), 'a\n');
      symlinkSync('..', join(looped, 'src/up'));
      symlinkSync('a.ts', join(looped, 'src/b.ts'));
      const s = stack();
      s.app.source = looped;
      const files = readSource(s, 'host').files;
      expect(files.map((f) => f.name)).toEqual(['package-lock.json', 'package.json', 'src/a.ts', 'src/b.ts']);
      expect(files[3]?.content.toString()).toBe('a\n');
    } finally {
      rmSync(looped, { recursive: true, force: true });
    }
  });
});

describe('a dist/ that git tracks', () => {
  it('is left behind when the host builds (it makes its own), and shipped with --build local', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-source-tracked-dist-'));
    try {
      for (const [path, content] of [
        ['package.json', '{"name":"tracked","version":"1.0.0","scripts":{"build":"tsc"}}'],
        ['package-lock.json', '{"lockfileVersion":3}\n'],
        ['src/main.ts', 'export {};\n'],
        ['dist/main.js', 'stale\n'],
      ] as const) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      const stack = loadStack({ overrides: { tier: 'mvp', domain: 'chat.example.com', email: 'ops@example.com', app: { source: dir, start: 'node dist/main.js', health: '/healthz' } } });
      expect(readSource(stack, 'host').files.map((f) => f.name).sort()).toEqual(['package-lock.json', 'package.json', 'src/main.ts']);
      expect(readSource(stack, 'local').files.map((f) => f.name)).toContain('dist/main.js');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
