#!/usr/bin/env node
// Builds the deployable chat server: dist/app/messenger-chat.mjs (one ESM file, every dependency and the
// web client inlined) and dist/app/manifest.json {name, version, node, files: {name: sha256}}.
// Deterministic: the same sources give the same bytes, so the deployer can compare checksums.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--outdir DIR` builds elsewhere (tests); default dist/app.
const outIdx = process.argv.indexOf('--outdir');
const outDir = outIdx > 0 && process.argv[outIdx + 1] ? process.argv[outIdx + 1] : join(root, 'dist', 'app');
const bundleName = 'messenger-chat.mjs';

const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const webDir = join(root, 'app', 'web');
const web = {};
for (const name of (await readdir(webDir)).sort()) web[name] = await readFile(join(webDir, name), 'utf8');

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'app', 'src', 'main.ts')],
  outfile: join(outDir, bundleName),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  legalComments: 'inline',
  logLevel: 'warning',
  // ws probes these optional native add-ons inside try/catch; leave them out.
  external: ['bufferutil', 'utf-8-validate'],
  // CommonJS dependencies (ws, mysql2) call require() for Node built-ins.
  banner: { js: "import { createRequire as __miCreateRequire } from 'node:module';\nconst require = __miCreateRequire(import.meta.url);" },
  define: {
    __MESSENGER_WEB_ASSETS__: JSON.stringify(web),
    __MESSENGER_VERSION__: JSON.stringify(pkg.version),
  },
});

const bytes = await readFile(join(outDir, bundleName));
const manifest = {
  name: 'messenger-chat',
  version: pkg.version,
  node: '>=20',
  entry: bundleName,
  files: { [bundleName]: createHash('sha256').update(bytes).digest('hex') },
};
await writeFile(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`built ${join(outDir, bundleName)} (${bytes.length} bytes, sha256 ${manifest.files[bundleName]})`);
