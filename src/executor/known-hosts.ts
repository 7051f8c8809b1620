import { createHmac } from 'node:crypto';

/**
 * OpenSSH known_hosts matching, so host keys are checked exactly as `ssh` would: plain and hashed
 * (`|1|salt|hash`) host patterns, `[host]:port` for non-22 ports, `@revoked` markers.
 */
export interface KnownHostKey {
  type: string;
  key: string;
}

function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function matchesHost(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt = '', hash = ''] = field.split('|');
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return field.split(',').some((pattern) => pattern === name);
}

/** Keys listed for host:port, and whether any line revokes the given key. */
export function keysFor(knownHosts: string, host: string, port: number): { keys: KnownHostKey[]; revoked: string[] } {
  const name = hostPattern(host, port);
  const keys: KnownHostKey[] = [];
  const revoked: string[] = [];
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    const marker = parts[0]?.startsWith('@') ? parts.shift() : undefined;
    const [hosts = '', type = '', key = ''] = parts;
    if (!matchesHost(hosts, name)) continue;
    if (marker === '@revoked') revoked.push(key);
    else if (marker === undefined) keys.push({ type, key });
  }
  return { keys, revoked };
}

/** One known_hosts line for a key, as `ssh-keyscan` would print it. */
export function knownHostsLine(host: string, port: number, type: string, keyBase64: string): string {
  return `${hostPattern(host, port)} ${type} ${keyBase64}`;
}
