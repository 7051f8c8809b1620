import { InfraError } from '../errors.js';
import { nativeImport } from '../native-import.js';
import { begetCode, type BegetApi } from './beget-api.js';
import type { SshKeyInfo } from './beget-models.js';

/**
 * The server's SSH key at Beget, matched by fingerprint: Beget refuses a second copy of a key
 * (KEY_EXISTS) whatever its name, so a key the user registered by hand is found and reused. The
 * spec does not say how `fingerprint` is written; OpenSSH's SHA256 (base64) and MD5 (hex) forms
 * and a hex SHA-256 are all recognised.
 */

/** `ssh-ed25519 AAAA... comment` → the decoded key blob the fingerprints are taken over. */
function keyBlob(publicKey: string): Buffer {
  return Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64');
}

/** Our key's fingerprints, normalised: SHA-256 base64 without padding, SHA-256 hex, MD5 hex. */
export async function keyFingerprints(publicKey: string): Promise<string[]> {
  // Loaded at run time: a serialized dynamic provider may capture functions, not module objects.
  // getBuiltinModule (Node >= 20.16) also works under test runners, where a native import() does not.
  const { createHash } = (process.getBuiltinModule?.('node:crypto') ?? (await nativeImport('node:crypto'))) as typeof import('node:crypto');
  const blob = keyBlob(publicKey);
  const sha = createHash('sha256').update(blob).digest();
  return [sha.toString('base64').replace(/=+$/, ''), sha.toString('hex'), createHash('md5').update(blob).digest('hex')];
}

/** "SHA256:abc=", "MD5:aa:bb:..", "aa:bb:.." → comparable with keyFingerprints(). */
function normalise(listed: string): string {
  const bare = listed.trim().replace(/^(sha256|md5):/i, '').replace(/=+$/, '');
  return /^[0-9a-f:]+$/i.test(bare) ? bare.replace(/:/g, '').toLowerCase() : bare;
}

export function matchesFingerprint(listed: string | undefined, ours: string[]): boolean {
  return !!listed && ours.includes(normalise(listed));
}

/** `messenger-infra-` plus 12 hex chars of the key's SHA-256: the name a key added by this project gets. */
export async function sshKeyName(publicKey: string): Promise<string> {
  const [, hex] = await keyFingerprints(publicKey);
  return `messenger-infra-${(hex ?? '').slice(0, 12)}`;
}

/** The registered key with this public key, added once if Beget does not have it. */
export async function ensureSshKey(api: BegetApi, publicKey: string): Promise<SshKeyInfo> {
  const ours = await keyFingerprints(publicKey);
  const keys = await api.listSshKeys();
  const found = keys.find((k) => matchesFingerprint(k.fingerprint, ours));
  if (found) return found;
  const name = await sshKeyName(publicKey);
  try {
    return await api.addSshKey(name, publicKey);
  } catch (err) {
    if (begetCode(err) !== 'KEY_EXISTS') throw err;
    const byName = (await api.listSshKeys()).find((k) => k.name === name);
    if (byName) return byName;
    throw new InfraError(
      'MI_ERR_BEGET_SSH_KEY',
      `Beget has this SSH key already (KEY_EXISTS) but none of its fingerprints (${keys.map((k) => k.fingerprint ?? '?').join(', ') || 'none'}) matches SHA256:${ours[0]}; fix: remove the key in the Beget panel and run again`,
    );
  }
}
