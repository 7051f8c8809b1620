/**
 * Per-machine settings written into a fresh copy of the root filesystem before boot: what a cloud
 * provider's image builder and first-boot agent would put there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MIRROR, SECURITY_MIRROR, SSH_PORT } from './constants.js';

export interface GuestConfig {
  hostname: string;
  suite: string;
  authorizedKey: string;
  /** Every guest of a multi-host sandbox by name, for /etc/hosts; empty for one host. */
  peers?: readonly { name: string; address: string }[];
  /** An HTTP proxy on the guest's loopback that leads out (a guest in its own network has no other way). */
  egressProxy?: string;
}

export async function configureGuest(root: string, cfg: GuestConfig): Promise<void> {
  const sshDir = join(root, 'root/.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await chmod(sshDir, 0o700);
  await writeFile(join(sshDir, 'authorized_keys'), `${cfg.authorizedKey}\n`, { mode: 0o600 });

  await mkdir(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  await writeFile(join(root, 'etc/ssh/sshd_config.d/port.conf'), `Port ${SSH_PORT}\n`);

  await writeFile(join(root, 'etc/hostname'), `${cfg.hostname}\n`);
  const peers = (cfg.peers ?? []).map((p) => `${p.address}\t${p.name}\n`).join('');
  await writeFile(
    join(root, 'etc/hosts'),
    // A guest with a private address is known by it (the peers' list holds its own line), as on a VPS.
    `127.0.0.1\tlocalhost\n${peers ? '' : `127.0.1.1\t${cfg.hostname}\n`}::1\tlocalhost ip6-localhost ip6-loopback\n${peers}`,
  );
  await writeFile(join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`, { mode: 0o444 });

  await writeAptSources(root, cfg.suite);
  await inheritLocalCas(root);
  if (cfg.egressProxy) await useEgressProxy(root, cfg.egressProxy, (cfg.peers ?? []).map((p) => p.address));
}

/**
 * What an image for a network without a direct way out carries: apt (and apt-helper, which `up`
 * downloads Node.js with) goes through the proxy, and so do services, npm in the build's transient
 * unit among them, through systemd's default environment; SSH sessions get it from /etc/environment.
 * Loopback and the private network stay direct (certbot reaches the ACME CA on 127.0.0.1).
 */
async function useEgressProxy(root: string, proxy: string, privateAddresses: readonly string[]): Promise<void> {
  const noProxy = ['127.0.0.1', 'localhost', '::1', ...privateAddresses].join(',');
  const env = [`http_proxy=${proxy}`, `https_proxy=${proxy}`, `no_proxy=${noProxy}`];
  await mkdir(join(root, 'etc/apt/apt.conf.d'), { recursive: true });
  await writeFile(join(root, 'etc/apt/apt.conf.d/80sandbox-proxy'), `Acquire::http::Proxy "${proxy}";\nAcquire::https::Proxy "${proxy}";\n`);
  await mkdir(join(root, 'etc/systemd/system.conf.d'), { recursive: true });
  await writeFile(join(root, 'etc/systemd/system.conf.d/80-sandbox-proxy.conf'), `[Manager]\nDefaultEnvironment=${env.join(' ')}\n`);
  await appendFile(join(root, 'etc/environment'), `${env.join('\n')}\n`);
}

const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';

/**
 * The guest's traffic leaves through this machine, so it must trust what the host trusts: CA certificates added
 * locally on the host (a TLS-inspecting egress proxy's, say) are copied in and appended to the
 * guest's bundle, as `update-ca-certificates` would. Stock Debian CAs are already in the image.
 */
async function inheritLocalCas(root: string): Promise<void> {
  if (!existsSync(LOCAL_CA_DIR)) return;
  const certs = (await readdir(LOCAL_CA_DIR, { recursive: true })).filter((name) => name.endsWith('.crt'));
  if (certs.length === 0) return;
  const pems: string[] = [];
  for (const name of certs) {
    const pem = await readFile(join(LOCAL_CA_DIR, name), 'utf8');
    await mkdir(dirname(join(root, LOCAL_CA_DIR, name)), { recursive: true });
    await writeFile(join(root, LOCAL_CA_DIR, name), pem, { mode: 0o644 });
    pems.push(pem.endsWith('\n') ? pem : `${pem}\n`);
  }
  const bundle = join(root, 'etc/ssl/certs/ca-certificates.crt');
  if (existsSync(bundle)) await appendFile(bundle, pems.join(''));
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
