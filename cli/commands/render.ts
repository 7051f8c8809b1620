import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError } from '../../src/errors/index.js';
import { loadStack } from '../../src/config/load.js';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_IDS, OS_PROFILES, type OsId } from '../../src/core/os-profiles.js';
import { renderHostFiles, type RenderedFile, type SitePhase } from '../../src/core/render.js';
import { runAction } from '../run-action.js';

/**
 * `messenger-infra render --tier T --domain D --out DIR`: every file the host gets, written at its
 * host path under DIR (DIR/etc/nginx/nginx.conf, ...), with its mode. Owners are printed, not applied.
 */
interface RenderFlags {
  tier?: string;
  domain?: string;
  email?: string;
  stack?: string;
  /** Both checked by commander's `.choices()`. */
  os: OsId;
  phase: SitePhase;
  out?: string;
}

const PHASES: readonly SitePhase[] = ['full', 'bootstrap'];

function describeFile(f: RenderedFile): string {
  const notes = [
    f.validate ? `validate: ${f.validate}` : '',
    f.notify.length ? `then: ${f.notify.map((n) => `${n.action} ${n.unit}`).join(', ')}` : '',
    f.kernelWide ? 'kernel-wide: skipped in containers' : '',
  ].filter(Boolean);
  return `  ${f.mode.toString(8).padStart(4, '0')} ${f.owner}:${f.group}  ${f.path}${notes.length ? `  (${notes.join('; ')})` : ''}`;
}

/** Renders and writes the files; returns them. Bad flags or stack values throw ConfigError (exit 2). */
export function renderToDir(flags: RenderFlags, cwd = process.cwd()): { out: string; files: RenderedFile[] } {
  if (!flags.out) throw new ConfigError('--out', 'is required; give the folder to write the files into');
  // No rendered file contains the ACME e-mail, so `render` does not insist on one unless a stack file is used.
  const email = flags.email ?? (flags.stack === undefined && flags.domain !== undefined ? `hostmaster@${flags.domain}` : undefined);
  const stack = loadStack({
    cwd,
    ...(flags.stack === undefined ? {} : { file: flags.stack }),
    overrides: { tier: flags.tier as never, domain: flags.domain, email },
  });
  // A private ACME CA named by the stack is a file the host gets too (with the renewals' drop-in).
  const acmeCaBundle = stack.acme.caBundle === undefined ? undefined : readFileSync(stack.acme.caBundle, 'utf8');
  const files = renderHostFiles(buildHostModel(stack, OS_PROFILES[flags.os], acmeCaBundle), flags.phase);
  const out = resolve(cwd, flags.out);
  for (const f of files) {
    const target = join(out, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content);
    chmodSync(target, f.mode); // writeFileSync's mode is filtered by the umask and ignored for existing files
  }
  return { out, files };
}

export function register(program: Command): void {
  program
    .command('render')
    .description('write every config file the host will get, at its host path under --out')
    .option('--tier <tier>', 'mvp, growth or scale (overrides the stack file)')
    .option('--domain <domain>', 'the chat domain, e.g. chat.example.com (overrides the stack file)')
    .option('--email <email>', 'ACME account e-mail (overrides the stack file)')
    .option('--stack <file>', 'stack YAML file')
    .addOption(new Option('--os <os>', 'target OS').choices(OS_IDS).default('debian13'))
    .addOption(new Option('--phase <phase>', 'full (TLS site) or bootstrap (port 80 only, before the certificate)').choices(PHASES).default('full'))
    .option('--out <dir>', 'folder to write the files into')
    .action(
      runAction((flags: RenderFlags) => {
        const { out, files } = renderToDir(flags);
        process.stdout.write(`rendered ${files.length} files (${flags.os}, ${flags.phase} site) under ${out}:\n`);
        for (const f of files) process.stdout.write(`${describeFile(f)}\n`);
        return 0;
      }),
    );
}
