/**
 * SSH identity of a sandbox: a client key made for this run, and the guest's host keys generated
 * on the host before boot, so known_hosts is written up front and the client checks it.
 */
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SSH_HOST, SSH_PORT } from './constants.js';
import { run } from './exec.js';

/** Creates an ed25519 key pair at keyPath (+ .pub); returns the public key line. */
export async function generateClientKey(keyPath: string, comment: string): Promise<string> {
  await rm(keyPath, { force: true });
  await rm(`${keyPath}.pub`, { force: true });
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', keyPath]);
  return (await readFile(`${keyPath}.pub`, 'utf8')).trim();
}

/**
 * Generates all default host key types inside the guest tree (`ssh-keygen -A -f ROOT` writes to
 * ROOT/etc/ssh) and returns their public keys ("type base64" lines).
 */
export async function generateHostKeys(root: string): Promise<string[]> {
  const sshDir = join(root, 'etc/ssh');
  await mkdir(sshDir, { recursive: true });
  await run(['ssh-keygen', '-A', '-f', root]);
  const pubs: string[] = [];
  for (const f of (await readdir(sshDir)).sort()) {
    if (!/^ssh_host_.*_key\.pub$/.test(f)) continue;
    const [type, key] = (await readFile(join(sshDir, f), 'utf8')).trim().split(/\s+/);
    if (type && key) pubs.push(`${type} ${key}`);
  }
  return pubs;
}

/** known_hosts lines for each guest's sshd on [127.0.0.1]:PORT (2222 for the first guest). */
export async function writeKnownHosts(path: string, guests: readonly { port: number; hostKeys: readonly string[] }[]): Promise<void> {
  const lines = guests.flatMap((g) => g.hostKeys.map((k) => `[${SSH_HOST}]:${g.port} ${k}`));
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o644 });
}

/** ssh argv reaching the guest as root with strict host key checking and no agent or prompts. */
export function sshArgv(keyPath: string, knownHostsPath: string, remote: readonly string[], connectTimeoutS = 5, port: number = SSH_PORT): string[] {
  return [
    'ssh',
    '-i', keyPath,
    '-p', String(port),
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'LogLevel=ERROR',
    `root@${SSH_HOST}`,
    '--',
    ...remote,
  ];
}
