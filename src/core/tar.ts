/**
 * A POSIX ustar archive of in-memory files, built synchronously so planning stays pure: the release
 * bundle and the remote programs travel to the host as one archive on stdin of one command, and
 * GNU tar unpacks it there. Deterministic (mtime 0, numeric owner 0): the same files give the same
 * bytes. Regular files only, paths up to 255 bytes (ustar's prefix + name) — all this toolkit ships.
 * (tar-stream and node-tar
 * are stream-based and asynchronous, which a pure planner cannot use.)
 */
export interface TarEntry {
  name: string;
  content: Buffer | string;
  mode: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** ustar keeps a long path as a prefix (up to 155 bytes) and a name (up to 100), split at a slash. */
function splitPath(path: string): { prefix: Buffer; name: Buffer } {
  const whole = Buffer.from(path, 'utf8');
  if (whole.length <= 100) return { prefix: Buffer.alloc(0), name: whole };
  for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
    const prefix = Buffer.from(path.slice(0, i), 'utf8');
    const name = Buffer.from(path.slice(i + 1), 'utf8');
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { prefix, name };
  }
  throw new Error(`tar: path too long for ustar (at most 155 + 100 bytes, split at a slash): ${path}`);
}

function header(path: string, size: number, mode: number): Buffer {
  const { prefix, name } = splitPath(path);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  prefix.copy(h, 345);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.isBuffer(entry.content) ? entry.content : Buffer.from(entry.content, 'utf8');
    parts.push(header(entry.name, body.length, entry.mode), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
