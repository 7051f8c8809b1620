/**
 * Per-machine settings written into a fresh copy of the root filesystem before boot: what a cloud
 * provider's image builder and first-boot agent would put there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIRROR, SECURITY_MIRROR, SSH_PORT } from './constants.js';

export interface GuestConfig {
  hostname: string;
  suite: string;
  authorizedKey: string;
}

export async function configureGuest(root: string, cfg: GuestConfig): Promise<void> {
  const sshDir = join(root, 'root/.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await chmod(sshDir, 0o700);
  await writeFile(join(sshDir, 'authorized_keys'), `${cfg.authorizedKey}\n`, { mode: 0o600 });

  await mkdir(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  await writeFile(join(root, 'etc/ssh/sshd_config.d/port.conf'), `Port ${SSH_PORT}\n`);

  await writeFile(join(root, 'etc/hostname'), `${cfg.hostname}\n`);
  await writeFile(
    join(root, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${cfg.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
  );
  await writeFile(join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`, { mode: 0o444 });

  await writeAptSources(root, cfg.suite);
}

/** deb822 sources as in Debian's cloud images: main, -updates and the security archive. */
async function writeAptSources(root: string, suite: string): Promise<void> {
  const keyring = ['pgp', 'gpg']
    .map((ext) => `/usr/share/keyrings/debian-archive-keyring.${ext}`)
    .find((p) => existsSync(join(root, p)));
  const signedBy = keyring ? `Signed-By: ${keyring}\n` : '';
  const sources =
    `Types: deb\nURIs: ${MIRROR}\nSuites: ${suite} ${suite}-updates\nComponents: main\n${signedBy}\n` +
    `Types: deb\nURIs: ${SECURITY_MIRROR}\nSuites: ${suite}-security\nComponents: main\n${signedBy}`;
  await rm(join(root, 'etc/apt/sources.list'), { force: true });
  await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
  await writeFile(join(root, 'etc/apt/sources.list.d/debian.sources'), sources);
}
