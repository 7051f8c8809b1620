import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keysFor, knownHostsLine } from '../../src/executor/known-hosts.js';

const KEY_A = 'AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const KEY_B = 'AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts matching', () => {
  it('matches plain names, [host]:port for other ports, and comma lists', () => {
    const file = `# comment\n203.0.113.5,vps.example.com ssh-ed25519 ${KEY_A}\n[127.0.0.1]:2222 ssh-ed25519 ${KEY_B}\n`;
    expect(keysFor(file, 'vps.example.com', 22).keys).toEqual([{ type: 'ssh-ed25519', key: KEY_A }]);
    expect(keysFor(file, '127.0.0.1', 2222).keys).toEqual([{ type: 'ssh-ed25519', key: KEY_B }]);
    expect(keysFor(file, '127.0.0.1', 22).keys).toEqual([]);
  });

  it('matches hashed entries and reports @revoked keys', () => {
    const file = `${hashed('[10.9.8.7]:2200')} ssh-ed25519 ${KEY_A}\n@revoked ${hashed('[10.9.8.7]:2200')} ssh-ed25519 ${KEY_B}\n`;
    const found = keysFor(file, '10.9.8.7', 2200);
    expect(found.keys.map((k) => k.key)).toEqual([KEY_A]);
    expect(found.revoked).toEqual([KEY_B]);
    expect(keysFor(file, '10.9.8.7', 22).keys).toEqual([]);
  });

  it('prints lines as ssh-keyscan does', () => {
    expect(knownHostsLine('127.0.0.1', 2222, 'ssh-ed25519', KEY_A)).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${KEY_A}`);
    expect(knownHostsLine('vps.example.com', 22, 'ssh-ed25519', KEY_A)).toBe(`vps.example.com ssh-ed25519 ${KEY_A}`);
  });
});
