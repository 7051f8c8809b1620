import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import type { ErrorCode } from '../errors/catalogue.js';
import { remote, type Command } from './command.js';
import { factValue, fileFact, type FactValues, type FileState } from './facts.js';
import { REMOTE_EXIT } from './remote-exit.js';
import type { Notification, RenderedFile, Validator } from './render.js';
import type { StepPlan } from './step.js';

/**
 * Planning for managed files: which differ from the host, their diffs, and the commands that stage
 * them next to their target (`PATH.mi-new`) and then swap them in as one transaction (`mi-remote
 * activate`), driven by each rendered file's own `validate` and `notify`.
 */
export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export function fileFacts(files: readonly Pick<RenderedFile, 'path'>[]) {
  return files.map((f) => fileFact(f.path));
}

/** A file differs when its bytes, owner or mode do, or when an interrupted activation left it unconfirmed. */
export function fileDiffers(file: RenderedFile, state: FileState): boolean {
  return (
    !state.exists ||
    state.leftovers.length > 0 ||
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

/** What `plan` says about a file: written, or an interrupted activation finished. */
export function fileChange(file: RenderedFile, state: FileState): string {
  return state.leftovers.length > 0
    ? `finish the interrupted activation of ${file.path} (left: ${state.leftovers.map((l) => `${file.path}.${l}`).join(', ')})`
    : `write ${file.path}`;
}

/** Writes content to PATH.mi-new with its owner and mode; the live file is untouched. */
export function stageFile(file: Pick<RenderedFile, 'path' | 'mode' | 'owner' | 'group'> & { content: string | Buffer }): Command {
  return remote(`stage ${file.path}`, ['stage', file.path, file.owner, file.group, file.mode.toString(8)], { stdin: file.content });
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/** The validators of a group of files, each once, in order. */
export function validatorsOf(files: readonly RenderedFile[]): Validator[] {
  return unique(files.flatMap((f) => (f.validate ? [f.validate] : [])));
}

/** `ACTION:UNIT` (or `daemon-reload`), as `mi-remote activate --notify` takes it. */
export function notificationSpec(n: Notification): string {
  return n.action === 'daemon-reload' ? 'daemon-reload' : `${n.action}:${n.unit}`;
}

/** The notifications of a group of files, each once; daemon-reload first, so restarts see new units. */
export function notificationsOf(files: readonly RenderedFile[]): string[] {
  const specs = unique(files.flatMap((f) => f.notify.map(notificationSpec)));
  return [...specs.filter((s) => s === 'daemon-reload'), ...specs.filter((s) => s !== 'daemon-reload')];
}

const INVALID: Record<string, ErrorCode> = {
  nginx: 'MI_ERR_NGINX_INVALID',
  mariadb: 'MI_ERR_MARIADB_INVALID',
  systemd: 'MI_ERR_SYSTEMD_INVALID',
  sysctl: 'MI_ERR_SYSCTL_INVALID',
  sshd: 'MI_ERR_SSHD_INVALID',
  fail2ban: 'MI_ERR_HARDEN_INVALID',
  apt: 'MI_ERR_HARDEN_INVALID',
  perl: 'MI_ERR_HARDEN_INVALID',
};

/** What exit statuses 10 (validation) and 11 (a reload or restart) of an activation mean. */
export function activationErrors(validators: readonly Validator[], notifications: readonly string[]): Command['errors'] {
  const kind = validators[0]?.split(':')[0] ?? '';
  return {
    [REMOTE_EXIT.INVALID]: INVALID[kind] ?? 'MI_ERR_STEP_FAILED',
    [REMOTE_EXIT.ACTIVATION]: notifications.includes('reload:nginx.service') ? 'MI_ERR_NGINX_RELOAD' : 'MI_ERR_ACTIVATION_FAILED',
  };
}

/** Swaps the staged files in, validated and notified as their rendered form says. */
export function activateFiles(label: string, files: readonly RenderedFile[]): Command {
  const validators = validatorsOf(files);
  const notifications = notificationsOf(files);
  return remote(
    label,
    ['activate', ...validators.flatMap((v) => ['--validate', v]), ...notifications.flatMap((n) => ['--notify', n]), '--', ...files.map((f) => f.path)],
    { errors: activationErrors(validators, notifications) },
  );
}

/** What `plan` shows for changed files: a line each, and a diff for those whose bytes differ. */
export function describeChanges(changed: readonly RenderedFile[], facts: FactValues): Pick<StepPlan, 'changes' | 'diffs'> {
  const states = changed.map((f) => factValue(facts, fileFact(f.path)));
  return {
    changes: changed.map((f, i) => fileChange(f, states[i]!)),
    diffs: changed.flatMap((f, i) => (states[i]!.exists && states[i]!.sha256 === sha256(f.content) ? [] : [fileDiff(f, states[i]!)])),
  };
}

/** Plan for a group of files that go live together. */
export function planFileGroup(files: readonly RenderedFile[], facts: FactValues, label: string): StepPlan {
  const changed = changedFiles(files, facts);
  if (changed.length === 0) return { commands: [], changes: [], diffs: [] };
  return { commands: [...changed.map(stageFile), activateFiles(label, changed)], ...describeChanges(changed, facts) };
}
