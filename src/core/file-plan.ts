import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { sh, shellQuote, type Command } from './command.js';
import { factValue, fileFact, type FactValues, type FileState } from './facts.js';
import type { RenderedFile } from './render.js';
import type { StepPlan } from './step.js';

/**
 * Planning for managed files: which differ from the host, their diffs, and the commands that stage
 * them next to their target (`PATH.mi-new`) and then swap them in as one transaction that validates
 * before it activates and restores the previous files when validation or activation fails.
 */
export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export function fileFacts(files: readonly Pick<RenderedFile, 'path'>[]) {
  return files.map((f) => fileFact(f.path));
}

export function fileDiffers(file: RenderedFile, state: FileState): boolean {
  return (
    !state.exists ||
    state.sha256 !== sha256(file.content) ||
    state.mode !== file.mode ||
    state.owner !== file.owner ||
    state.group !== file.group
  );
}

/** The files among `files` that differ on the host. */
export function changedFiles(files: readonly RenderedFile[], facts: FactValues): RenderedFile[] {
  return files.filter((f) => fileDiffers(f, factValue(facts, fileFact(f.path))));
}

export function fileDiff(file: RenderedFile, state: FileState): string {
  const before = state.exists ? (state.content ?? '') : '';
  return createTwoFilesPatch(state.exists ? file.path : '/dev/null', file.path, before, file.content, undefined, undefined, {
    context: 3,
  });
}

/** Writes content to PATH.mi-new with its owner and mode; the live file is untouched. */
export function stageFile(file: Pick<RenderedFile, 'path' | 'mode' | 'owner' | 'group'> & { content: string | Buffer }): Command {
  return sh(
    `stage ${file.path}`,
    'set -e; mkdir -p "$(dirname "$1")"; umask 077; cat > "$1.mi-new"; chown "$2:$3" "$1.mi-new"; chmod "$4" "$1.mi-new"',
    [file.path, file.owner, file.group, file.mode.toString(8)],
    file.content,
  );
}

/**
 * Swaps staged files in. `validate` (shell) runs with the new files live; if it or `activate`
 * fails, every previous file comes back (new ones are removed), `recover` runs, and the step fails.
 */
export function activateFiles(label: string, paths: readonly string[], validate = 'true', activate = 'true', recover = 'true'): Command {
  const script = [
    'set -u',
    'restore() { for f in "$@"; do if [ -e "$f.mi-prev" ]; then mv -f "$f.mi-prev" "$f"; else rm -f "$f"; fi; done; }',
    // Every backup first; only then the swaps, so a failure at any point can put everything back.
    'for f in "$@"; do rm -f "$f.mi-prev"; if [ -e "$f" ]; then cp -p "$f" "$f.mi-prev" || { echo "cannot back up $f" >&2; exit 1; }; fi; done',
    'for f in "$@"; do mv -f "$f.mi-new" "$f" || { echo "cannot move $f into place; previous files restored" >&2; restore "$@"; exit 1; }; done',
    `if ! ( ${validate} ) >&2; then echo "validation failed; previous files restored" >&2; restore "$@"; ( ${recover} ) >&2; exit 1; fi`,
    `if ! ( ${activate} ) >&2; then echo "activation failed; previous files restored" >&2; restore "$@"; ( ${recover} ) >&2; exit 1; fi`,
    'for f in "$@"; do rm -f "$f.mi-prev"; done',
  ].join('\n');
  return sh(label, script, [...paths]);
}

/** Plan for a group of files that go live together behind one validator. */
export function planFileGroup(
  files: readonly RenderedFile[],
  facts: FactValues,
  opts: { label: string; validate?: string; activate?: string; recover?: string },
): StepPlan {
  const changed = changedFiles(files, facts);
  if (changed.length === 0) return { commands: [], changes: [], diffs: [] };
  return {
    commands: [...changed.map(stageFile), activateFiles(opts.label, changed.map((f) => f.path), opts.validate, opts.activate, opts.recover)],
    changes: changed.map((f) => `write ${f.path}`),
    diffs: changed.map((f) => fileDiff(f, factValue(facts, fileFact(f.path)))),
  };
}

/** Shell that points `link` at `target` atomically (a new link renamed over the old one). */
export function swapLink(target: string, link: string): string {
  return `ln -sfn ${shellQuote(target)} ${shellQuote(link + '.mi-new')} && mv -Tf ${shellQuote(link + '.mi-new')} ${shellQuote(link)}`;
}
