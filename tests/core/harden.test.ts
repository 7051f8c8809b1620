import { describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import { describeHardenState, HARDEN_PATHS, hardenFiles, hardenPackages, journalMaxMb, parseHardenState, type HardenHost } from '../../src/core/harden.js';
import { configErrorOf } from '../helpers/config-error.js';

const stackOf = (harden: StackOverrides['harden'] = {}, tier: 'mvp' | 'growth' | 'scale' = 'mvp') =>
  loadStack({ overrides: { tier, domain: 'chat.messenger.test', email: 'ops@messenger.test', harden } });
const VM: HardenHost = { user: 'root', container: null, sshPorts: [22] };
const fileOf = (files: ReturnType<typeof hardenFiles>, path: string) => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path}`);
  return f;
};

describe('sshd drop-in', () => {
  it('keys only; root by key only when root deploys; validated for the deploy user and reloaded', () => {
    const f = fileOf(hardenFiles(stackOf(), VM), HARDEN_PATHS.sshd);
    expect(f.content).toMatch(/^PasswordAuthentication no$/m);
    expect(f.content).toMatch(/^KbdInteractiveAuthentication no$/m);
    expect(f.content).toMatch(/^PermitRootLogin prohibit-password$/m);
    expect(f.content).toMatch(/^MaxAuthTries 3$/m);
    expect(f.content).toMatch(/^LoginGraceTime 30$/m);
    // Tunnels to the loopback-only metrics and databases keep working.
    expect(f.content).toMatch(/^AllowTcpForwarding local$/m);
    expect(f.validate).toBe('sshd:root');
    expect(f.notify).toEqual([{ unit: 'ssh.service', action: 'reload' }]);
    // Read before cloud images' 50-cloud-init.conf (sshd keeps the first value it reads).
    expect(f.path < '/etc/ssh/sshd_config.d/50-cloud-init.conf').toBe(true);
  });

  it('a sudo user deploys: root does not log in at all, and the check is for that user', () => {
    const f = fileOf(hardenFiles(stackOf(), { ...VM, user: 'deploy' }), HARDEN_PATHS.sshd);
    expect(f.content).toMatch(/^PermitRootLogin no$/m);
    expect(f.validate).toBe('sshd:deploy');
  });

  it('harden.ssh false: no drop-in', () => {
    expect(hardenFiles(stackOf({ ssh: false }), VM).map((f) => f.path)).not.toContain(HARDEN_PATHS.sshd);
  });
});

describe('fail2ban', () => {
  it("bans through ufw on a VM, on every port sshd listens on, from the journal; nginx's limit zones too", () => {
    const f = fileOf(hardenFiles(stackOf(), { ...VM, sshPorts: [22, 2222] }), HARDEN_PATHS.fail2ban);
    expect(f.content).toMatch(/^banaction = ufw$/m);
    expect(f.content).toMatch(/^\[sshd\]\nenabled = true\nport = 22,2222\n/m);
    expect(f.content).toMatch(/^backend = systemd$/m);
    expect(f.content).toMatch(/^\[nginx-limit-req\]\nenabled = true$/m);
    expect(f.validate).toBe('fail2ban');
  });

  it('inside a container the firewall is the host machine’s: bans are only logged', () => {
    const f = fileOf(hardenFiles(stackOf(), { ...VM, container: 'systemd-nspawn' }), HARDEN_PATHS.fail2ban);
    expect(f.content).toMatch(/^banaction = dummy$/m);
    expect(f.content).toContain('inside a container (systemd-nspawn)');
  });

  it('packages follow the section', () => {
    expect(hardenPackages(stackOf())).toEqual(['fail2ban', 'python3-systemd', 'unattended-upgrades', 'needrestart']);
    expect(hardenPackages(stackOf({ fail2ban: false, securityUpdates: false }))).toEqual(['needrestart']);
  });
});

describe('security updates, journal, needrestart', () => {
  it('daily security updates, never rebooting by default; a reboot time when the stack names one', () => {
    const never = fileOf(hardenFiles(stackOf(), VM), HARDEN_PATHS.upgrades).content;
    expect(never).toMatch(/^APT::Periodic::Unattended-Upgrade "1";$/m);
    expect(never).toMatch(/^Unattended-Upgrade::Automatic-Reboot "false";$/m);
    expect(never).not.toContain('Automatic-Reboot-Time');
    // apt's syntax: comments are //, never #.
    expect(never.split('\n').filter((l) => l.startsWith('#'))).toEqual([]);
    const at = fileOf(hardenFiles(stackOf({ reboot: '04:15' }), VM), HARDEN_PATHS.upgrades).content;
    expect(at).toMatch(/^Unattended-Upgrade::Automatic-Reboot "true";$/m);
    expect(at).toMatch(/^Unattended-Upgrade::Automatic-Reboot-Time "04:15";$/m);
    expect(fileOf(hardenFiles(stackOf({ securityUpdates: false }), VM), HARDEN_PATHS.upgrades).content).toMatch(/^APT::Periodic::Unattended-Upgrade "0";$/m);
  });

  it("the journal is capped for the tier's disk, or as the stack says", () => {
    expect([journalMaxMb(stackOf()), journalMaxMb(stackOf({}, 'growth')), journalMaxMb(stackOf({}, 'scale'))]).toEqual([200, 400, 800]);
    expect(fileOf(hardenFiles(stackOf({ journalMaxMb: 64 }), VM), HARDEN_PATHS.journald).content).toMatch(/^SystemMaxUse=64M$/m);
  });

  it('needrestart lists instead of restarting', () => {
    const f = fileOf(hardenFiles(stackOf(), VM), HARDEN_PATHS.needrestart);
    expect(f.content).toContain("$nrconf{restart} = 'l';");
    expect(f.validate).toBe(`perl:${HARDEN_PATHS.needrestart}`);
  });

  it('bad input names the field', () => {
    expect(configErrorOf(() => stackOf({ reboot: '4am' } as never)).message).toMatch(/^stack\.harden\.reboot: "4am" must be "never" or a time of day/);
    expect(configErrorOf(() => stackOf({ journalMaxMb: 5 })).message).toMatch(/^stack\.harden\.journalMaxMb: /);
    expect(configErrorOf(() => stackOf({ sshd: true } as never)).message).toMatch(/^stack\.harden/);
  });
});

describe('the harden fact', () => {
  const out = [
    'sshd passwordauthentication no',
    'sshd kbdinteractiveauthentication no',
    'sshd permitrootlogin without-password',
    'sshd maxauthtries 3',
    'sshd logingracetime 30',
    'sshd port 22',
    'fail2ban running',
    'jail sshd 2',
    'jail nginx-limit-req 0',
    'updates 1',
    'reboot-required libc6 linux-image-amd64 ',
    'outdated mariadb.service',
    'exposure 2.4',
  ].join('\n');

  it('parses what remote/facts.sh prints', () => {
    const s = parseHardenState(out);
    expect(s.sshd).toEqual({ passwordauthentication: 'no', kbdinteractiveauthentication: 'no', permitrootlogin: 'without-password', maxauthtries: '3', logingracetime: '30' });
    expect(s.jails).toEqual([{ name: 'sshd', banned: 2 }, { name: 'nginx-limit-req', banned: 0 }]);
    expect(s).toMatchObject({ fail2ban: true, securityUpdates: true, rebootRequired: ['libc6', 'linux-image-amd64'], outdated: ['mariadb.service'], exposure: 2.4 });
  });

  it('says what is in effect and what waits for someone', () => {
    const { lines, warnings } = describeHardenState(parseHardenState(out));
    expect(lines).toEqual([
      'ssh: password off, root login without-password, MaxAuthTries 3, LoginGraceTime 30 s',
      'fail2ban: sshd (2 banned), nginx-limit-req (0 banned)',
      'security updates: daily (unattended-upgrades)',
      'app unit exposure (systemd-analyze security): 2.4 of 10',
    ]);
    expect(warnings).toEqual([
      'a reboot is needed for libc6, linux-image-amd64 (harden.reboot is never: reboot when it suits)',
      'services still run outdated libraries: mariadb.service (messenger-infra restart for the chat; systemctl restart for the others)',
    ]);
    const open = describeHardenState(parseHardenState('sshd passwordauthentication yes\n'));
    expect(open.lines[0]).toContain('password ON');
    expect(open.warnings[0]).toMatch(/^sshd accepts passwords/);
    expect(describeHardenState(parseHardenState('')).lines).toContain('fail2ban: not running');
  });
});
