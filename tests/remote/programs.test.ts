import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REMOTE_EXIT } from '../../src/core/remote-exit.js';
import { REMOTE_SOURCE_DIR, remotePrograms } from '../../src/executor/remote-programs.js';

/**
 * The remote programs are checked-in POSIX sh (shellcheck runs in shellcheck.test.ts), their exit
 * statuses the ones the executor maps, and the host logic lives there, not in shell text inside
 * TypeScript strings.
 */
const ROOT = join(REMOTE_SOURCE_DIR, '..');
const files = readdirSync(REMOTE_SOURCE_DIR).sort();

describe('remote programs', () => {
  it('are the entry point (executable) and its command files, nothing else', () => {
    expect(statSync(join(REMOTE_SOURCE_DIR, 'mi-remote')).mode & 0o111).not.toBe(0);
    expect(files.filter((f) => f !== 'mi-remote' && !f.endsWith('.sh'))).toEqual([]);
    // Every command file is reachable from the dispatcher, and the dispatcher names no missing file.
    const dispatcher = readFileSync(join(REMOTE_SOURCE_DIR, 'mi-remote'), 'utf8');
    const listed = dispatcher.match(/case \$command in\s+([\s\S]*?)\)/)![1]!.split(/[\s|\\]+/).filter(Boolean).sort();
    const commandFiles = files.filter((f) => f.endsWith('.sh') && f !== 'lib.sh').map((f) => f.replace(/\.sh$/, '')).sort();
    expect(listed).toEqual(commandFiles);
  });

  it('exit with the statuses src/core/remote-exit.ts maps to error codes', () => {
    const lib = readFileSync(join(REMOTE_SOURCE_DIR, 'lib.sh'), 'utf8');
    const defined = Object.fromEntries([...lib.matchAll(/^MI_EXIT_([A-Z_]+)=(\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(defined).toEqual(REMOTE_EXIT);
  });

  it('travel as one archive whose folder name is their content hash', () => {
    const programs = remotePrograms();
    expect(programs.dir).toMatch(/^\/usr\/local\/lib\/messenger-infra\/remote-[0-9a-f]{16}$/);
    const listing = spawnSync('tar', ['-tvf', '-'], { input: programs.archive, encoding: 'utf8' });
    expect(listing.status).toBe(0);
    expect(listing.stdout).toMatch(/^-rwxr-xr-x 0\/0 .* mi-remote$/m);
    expect(listing.stdout.trim().split('\n')).toHaveLength(files.length);
  });
});

/** String literals of src/core and src/executor that read as shell programs, line by line. */
function shellLikeLines(): string[] {
  // Prose has semicolons too: only a semicolon followed by a shell word counts.
  const shellish = /\$\(|\$[A-Za-z_@#?]|\$\{[A-Za-z_]|&&|\|\||;\s*(then|do|else|fi|done|exit|echo|set|if|for|while|cat|rm|mv|cp|cd)\b|\s\|\s|>\s*\/dev\/null|2>&1|\b(then|fi|done|esac)\b/;
  const found: string[] = [];
  for (const dir of ['src/core', 'src/executor']) {
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    for (const path of walk(join(ROOT, dir))) {
      const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true);
      const visit = (node: ts.Node): void => {
        const texts = ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)
          ? [node.text]
          : ts.isTemplateExpression(node)
            ? [node.head.text, ...node.templateSpans.map((s) => s.literal.text)]
            : [];
        for (const text of texts) {
          for (const line of text.split('\n')) if (shellish.test(line)) found.push(`${path.slice(ROOT.length)}: ${line.trim()}`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return found;
}

describe('host logic lives in remote/, not in TypeScript strings', () => {
  it('leaves at most 5 shell-like lines in src/core and src/executor (45 before remote/)', () => {
    const lines = shellLikeLines();
    console.log(`shell-like lines in TypeScript string literals: ${lines.length}\n${lines.join('\n')}`);
    expect(lines.length).toBeLessThanOrEqual(5);
  });
});
