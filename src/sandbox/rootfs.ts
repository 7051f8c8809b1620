/**
 * The guest's root filesystem: one pristine debootstrap tree per Debian suite, cached on the host,
 * and a fresh copy of it for every sandbox so each one starts as an untouched VPS image.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIRROR, ROOTFS_CACHE_DIR, ROOTFS_MAX_AGE_MS, ROOTFS_PACKAGES } from './constants.js';
import { SandboxError } from './errors.js';
import { run } from './exec.js';

export function cachedRootfsDir(suite: string): string {
  return join(ROOTFS_CACHE_DIR, suite);
}

/**
 * What the cached tree was built from. A tree with another recipe, or older than ROOTFS_MAX_AGE_MS
 * (a fresh VPS image carries current packages), is rebuilt.
 */
const RECIPE = { format: 1, variant: 'minbase', packages: ROOTFS_PACKAGES, mirror: MIRROR };

function markerPath(suite: string): string {
  return join(ROOTFS_CACHE_DIR, `${suite}.json`);
}

async function cacheIsCurrent(suite: string): Promise<boolean> {
  // The tree is renamed into place only once complete, so its presence means it is whole.
  if (!existsSync(join(cachedRootfsDir(suite), 'etc', 'os-release'))) return false;
  try {
    const marker = JSON.parse(await readFile(markerPath(suite), 'utf8')) as { recipe: unknown; builtAt: string };
    const age = Date.now() - Date.parse(marker.builtAt);
    return JSON.stringify(marker.recipe) === JSON.stringify(RECIPE) && age >= 0 && age < ROOTFS_MAX_AGE_MS;
  } catch {
    return false;
  }
}

/** Builds the cached tree for `suite` unless a current one is there. Returns true when it built. */
export async function ensureRootfsCache(suite: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const dir = cachedRootfsDir(suite);
  if (await cacheIsCurrent(suite)) return false;
  await mkdir(ROOTFS_CACHE_DIR, { recursive: true });
  const tmp = `${dir}.building-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  log(`building the ${suite} root filesystem with debootstrap (once; cached in ${dir})`);
  try {
    await run(
      ['debootstrap', '--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, suite, tmp, MIRROR],
      { errorCode: 'MI_ERR_SANDBOX_ROOTFS' },
    );
    await scrubImage(tmp);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    await writeFile(markerPath(suite), `${JSON.stringify({ recipe: RECIPE, builtAt: new Date().toISOString() }, null, 2)}\n`);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return true;
}

/** Removes what debootstrap leaves that a fresh VPS image does not have, and per-machine identity. */
async function scrubImage(root: string): Promise<void> {
  await emptyDir(join(root, 'var/lib/apt/lists'), ['partial', 'lock']);
  await emptyDir(join(root, 'var/lib/apt/lists/partial'));
  await emptyDir(join(root, 'var/cache/apt/archives'), ['partial', 'lock']);
  await emptyDir(join(root, 'var/cache/apt/archives/partial'));
  for (const f of ['pkgcache.bin', 'srcpkgcache.bin']) await rm(join(root, 'var/cache/apt', f), { force: true });
  // Host keys and machine-id are per machine: each copy gets its own.
  for (const f of await readdir(join(root, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) await rm(join(root, 'etc/ssh', f), { force: true });
  }
  await writeFile(join(root, 'etc/machine-id'), '');
  await rm(join(root, 'var/lib/dbus/machine-id'), { force: true });
}

async function emptyDir(dir: string, keep: string[] = []): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of await readdir(dir)) {
    if (!keep.includes(f)) await rm(join(dir, f), { recursive: true, force: true });
  }
}

/** Copies the cached tree to `dest` (reflink where the filesystem can, a plain copy otherwise). */
export async function copyRootfs(suite: string, dest: string): Promise<void> {
  await rm(dest, { recursive: true, force: true });
  await mkdir(join(dest, '..'), { recursive: true });
  await run(['cp', '-a', '--reflink=auto', cachedRootfsDir(suite), dest], { errorCode: 'MI_ERR_SANDBOX_ROOTFS' });
}
