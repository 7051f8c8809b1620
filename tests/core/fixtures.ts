import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadStack } from '../../src/config/load.js';
import type { StackOverrides } from '../../src/config/load.js';
import { buildHostModel, type HostModel } from '../../src/core/host-model.js';
import { OS_PROFILES, type OsId } from '../../src/core/os-profiles.js';
import type { RenderedFile } from '../../src/core/render.js';
import type { TierName } from '../../src/core/tiers.js';

/** Test data for the renderers: a validated stack through the real loader, as the CLI builds it. */
export const DOMAIN = 'chat.messenger.test';

export function model(tier: TierName, os: OsId = 'debian12', overrides: StackOverrides = {}): HostModel {
  const stack = loadStack({ overrides: { tier, domain: DOMAIN, email: 'ops@messenger.test', ...overrides } });
  return buildHostModel(stack, OS_PROFILES[os]);
}

export function fileAt(files: RenderedFile[], path: string): RenderedFile {
  const file = files.find((f) => f.path === path);
  if (!file) throw new Error(`no rendered file at ${path}; got ${files.map((f) => f.path).join(', ')}`);
  return file;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mi-core-${prefix}-`));
}

export function writeAt(root: string, path: string, content: string, mode = 0o644): string {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content, { mode });
  return target;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (argv, no shell) with a time limit; returns its exit status and output. */
export function run(argv: string[], timeoutMs = 30_000): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty argv');
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** The block starting at `head {` up to its matching `}` (nginx and sections of text). */
export function block(text: string, head: string): string {
  const start = text.indexOf(`${head} {`);
  if (start < 0) throw new Error(`no block "${head}"`);
  let depth = 0;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`unclosed block "${head}"`);
}
