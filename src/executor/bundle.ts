import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppBundle, BundleFile } from '../core/desired-state.js';
import { sha256 } from '../core/file-plan.js';
import { MiError } from '../errors/index.js';

/** dist/app of this package: built by `npm run build` (scripts/build-app.mjs). */
export const DEFAULT_BUNDLE_DIR = fileURLToPath(new URL('../../dist/app/', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
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
  const digest = sha256(files.map((f) => `${f.name}\0${sha256(f.content)}`).join('\n'));
  const version = manifest.version ?? '0.0.0';
  return { version, id: `${version}-${digest.slice(0, 12)}`, files };
}
