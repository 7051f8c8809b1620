import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ignore, { type Ignore } from 'ignore';
import type { StackConfig } from '../config/schema.js';
import type { AppBundle, BundleFile } from '../core/desired-state.js';
import { sha256 } from '../core/file-plan.js';
import { MiError } from '../errors/index.js';

/**
 * dist/app of this package: built by `npm run build` (scripts/build-app.mjs). MESSENGER_INFRA_BUNDLE_DIR
 * names another build of the chat server (a patched one, or a test's changed copy).
 */
export const DEFAULT_BUNDLE_DIR = process.env.MESSENGER_INFRA_BUNDLE_DIR ?? fileURLToPath(new URL('../../dist/app/', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

function bundleId(version: string, files: BundleFile[]): string {
  const digest = sha256(files.map((f) => `${f.name}\0${sha256(f.content)}`).join('\n'));
  return `${version}-${digest.slice(0, 12)}`;
}

/** Reads the chat server bundle; its id is the version plus a hash of every file's bytes. */
export function readBundle(dir = DEFAULT_BUNDLE_DIR): AppBundle {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new MiError('MI_ERR_BUNDLE_MISSING', `no app bundle at ${dir}; run \`npm run build\` first`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version?: string };
  const files: BundleFile[] = walk(dir)
    .sort()
    .map((path) => ({ name: relative(dir, path), content: readFileSync(path) }));
  const version = manifest.version ?? '0.0.0';
  return { kind: 'bundled', version, id: bundleId(version, files), files };
}

/** Never shipped, whatever .gitignore says: installed on the host, or secrets. */
const ALWAYS_EXCLUDED = ignore().add(['.git/', 'node_modules/', '.env', '.env.*', '!.env.example']);
/** The build's output, git-ignored as a rule but shipped when the build ran locally. */
const BUILD_OUTPUT = ['dist/', 'build/'];
/** What one upload may hold: a source tree, not a data folder. */
const MAX_SOURCE_BYTES = 200 * 1024 * 1024;

interface Rules {
  base: string;
  ig: Ignore;
}

/**
 * A user's app from `app.source`: every file git would track (each folder's .gitignore honoured, as
 * git does), never node_modules, .git or .env files, nor a secret file the stack names. `local`: the
 * tree was built on this machine (or in CI), so dist/ and build/ are shipped and the host only
 * installs production dependencies.
 */
export function readSource(stack: StackConfig, build: 'host' | 'local'): AppBundle {
  const root = stack.app.source;
  if (root === undefined) throw new MiError('MI_ERR_SOURCE', 'stack.app.source is not set');
  const secretFiles = new Set(
    [...Object.values(stack.app.secrets), ...(stack.app.jwtSecret ? [stack.app.jwtSecret] : [])].flatMap((r) => ('file' in r ? [resolve(r.file)] : [])),
  );
  const files: BundleFile[] = [];
  let total = 0;
  // As git does, the deepest .gitignore with a matching rule decides (a nested `!keep.log` re-includes).
  const ignoredBy = (rules: Rules[], path: string, isDir: boolean): boolean => {
    let ignored = false;
    for (const r of rules) {
      const t = r.ig.test(relative(r.base, path) + (isDir ? '/' : ''));
      if (t.ignored) ignored = true;
      else if (t.unignored) ignored = false;
    }
    return ignored;
  };
  const visit = (dir: string, rules: Rules[]) => {
    const gitignore = join(dir, '.gitignore');
    const here = existsSync(gitignore) ? [...rules, { base: dir, ig: ignore().add(readFileSync(gitignore, 'utf8')) }] : rules;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat || !(stat.isFile() || stat.isDirectory())) continue;
      // A link to a folder is not walked (git keeps the link, not the tree; a link up the tree would loop).
      if (stat.isDirectory() && entry.isSymbolicLink()) continue;
      const rel = relative(root, path) + (stat.isDirectory() ? '/' : '');
      if (ALWAYS_EXCLUDED.ignores(rel) || secretFiles.has(path)) continue;
      // The host builds dist/ itself: a stale local one (even committed) must not ride along.
      if (build === 'host' && stack.app.build !== undefined && rel.startsWith('dist/')) continue;
      const shippedBuild = build === 'local' && BUILD_OUTPUT.some((d) => rel.startsWith(d));
      if (!shippedBuild && ignoredBy(here, path, stat.isDirectory())) continue;
      if (stat.isDirectory()) {
        visit(path, here);
        continue;
      }
      total += stat.size;
      if (total > MAX_SOURCE_BYTES) {
        throw new MiError('MI_ERR_SOURCE', `${root} holds more than ${MAX_SOURCE_BYTES / 1024 / 1024} MB outside .gitignore; ignore data and build output in .gitignore`);
      }
      files.push({ name: relative(root, path), content: readFileSync(path), ...(stat.mode & 0o111 ? { executable: true } : {}) });
    }
  };
  try {
    visit(root, []);
  } catch (err) {
    if (err instanceof MiError) throw err;
    throw new MiError('MI_ERR_SOURCE', `cannot read ${root}: ${(err as Error).message}`);
  }
  let version = '0.0.0';
  try {
    version = String((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version ?? version);
  } catch {
    // The loader checked package.json already; a version is only a label.
  }
  return { kind: 'source', version, id: bundleId(version, files), files, install: build === 'local' ? 'production' : 'ci' };
}

/** The release's files for this stack: the user's app when app.source is set, else the bundled server. */
export function readAppBundle(stack: StackConfig, build: 'host' | 'local' = 'host'): AppBundle {
  return stack.app.source === undefined ? readBundle() : readSource(stack, build);
}
