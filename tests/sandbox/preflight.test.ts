import { describe, expect, it } from 'vitest';
import { checkPackages, missingPackages, parseSsListeners } from '../../src/sandbox/preflight.js';

describe('parseSsListeners', () => {
  it('maps ports to the listening process', () => {
    const out = [
      'LISTEN 0      511          0.0.0.0:80         0.0.0.0:*    users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6))',
      'LISTEN 0      128             [::]:2222          [::]:*    users:(("sshd",pid=55,fd=4))',
      'LISTEN 0      4096       127.0.0.1:15000      0.0.0.0:*',
      'UNCONN 0      0          127.0.0.1:8053       0.0.0.0:*    users:(("pebble-challtes",pid=9,fd=7))',
    ].join('\n');
    const m = parseSsListeners(out);
    expect(m.get(80)).toBe('nginx (pid 812)');
    expect(m.get(2222)).toBe('sshd (pid 55)');
    expect(m.get(15000)).toBeNull();
    expect(m.get(8053)).toBe('pebble-challtes (pid 9)');
    expect(m.has(443)).toBe(false);
  });

  it('ignores empty output', () => {
    expect(parseSsListeners('').size).toBe(0);
  });
});

describe('host packages', () => {
  it('names each missing package once, in the apt-get line', () => {
    const has = (cmd: string) => !['pebble', 'pebble-challtestsrv', 'systemd-nspawn'].includes(cmd);
    expect(missingPackages(has)).toEqual(['systemd-container', 'pebble']);
    expect(() => checkPackages(has)).toThrowError(/apt-get install -y systemd-container pebble$/);
  });

  it('passes when every command is present', () => {
    expect(missingPackages(() => true)).toEqual([]);
  });
});
