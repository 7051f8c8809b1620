import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REMOTE_PROGRAM, type Command } from '../core/command.js';
import { sha256 } from '../core/file-plan.js';
import { tarArchive } from '../core/tar.js';

/**
 * The checked-in remote programs (remote/), as the host gets them: one archive, installed once per
 * content hash under /usr/local/lib/messenger-infra/remote-HASH, so a host always runs the programs
 * of the toolkit version that plans for it, and two versions never mix.
 */
export const REMOTE_SOURCE_DIR = fileURLToPath(new URL('../../remote/', import.meta.url));
export const REMOTE_INSTALL_ROOT = '/usr/local/lib/messenger-infra';

export interface RemotePrograms {
  /** sha256 of every file's name and bytes. */
  hash: string;
  /** The folder on the host. */
  dir: string;
  archive: Buffer;
}

let cached: RemotePrograms | undefined;

export function remotePrograms(): RemotePrograms {
  if (cached) return cached;
  const names = readdirSync(REMOTE_SOURCE_DIR).filter((n) => n === REMOTE_PROGRAM || n.endsWith('.sh')).sort();
  const files = names.map((name) => ({ name, content: readFileSync(join(REMOTE_SOURCE_DIR, name)), mode: name === REMOTE_PROGRAM ? 0o755 : 0o644 }));
  const hash = sha256(files.map((f) => `${f.name}\0${sha256(f.content)}`).join('\n'));
  cached = { hash, dir: `${REMOTE_INSTALL_ROOT}/remote-${hash.slice(0, 16)}`, archive: tarArchive(files) };
  return cached;
}

/**
 * Installs the programs unless that version is there already (the archive is then read and
 * dropped), then runs `mi-remote ARGV...` in the same round trip. The one piece of shell text the
 * executor keeps: nothing exists on a fresh host to run instead.
 */
const BOOTSTRAP =
  'd=$1; shift; if [ -x "$d/mi-remote" ]; then cat >/dev/null; else mkdir -p "${d%/*}" && t=$(mktemp -d "$d.XXXXXX") && tar -x -f - -C "$t" --no-same-owner && chmod 755 "$t" && { mv -T "$t" "$d" 2>/dev/null || rm -rf "$t"; } || exit 97; fi; exec "$d/mi-remote" "$@"';

/** Exit status of the bootstrap when the programs could not be installed. */
export const BOOTSTRAP_FAILED = 97;

export function bootstrapCommand(programs: RemotePrograms, argv: readonly string[]): Command {
  return { argv: ['sh', '-c', BOOTSTRAP, 'mi', programs.dir, ...argv], stdin: programs.archive, label: 'install the remote programs and detect the host' };
}
