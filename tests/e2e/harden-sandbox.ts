import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { HARDEN_PATHS } from '../../src/core/harden.js';
import { runCli } from '../helpers/cli.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * The host `up` hardened, checked on the real services of a converged sandbox: sshd as it takes the
 * next login, fail2ban reading sshd's real failures, unattended-upgrades' origins, the journal cap
 * journald reports, needrestart in list mode, the app unit's sandboxing on its running process, and
 * `plan`'s harden section. With `lynis`, the hardening index of the fresh image (taken before `up`
 * by `lynisBaseline`) against the converged host's, both from lynis itself.
 */
const LYNIS_INDEX = /Hardening index : (\d+)/;

async function lynisIndex(sb: SandboxHandle): Promise<number> {
  const install = await sb.ssh(['sh', '-c', "'command -v lynis >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lynis >/dev/null; }'"], 300_000);
  expect(install.code, install.stderr).toBe(0);
  const audit = await sb.ssh(['lynis', 'audit', 'system', '--quick', '--no-colors'], 300_000);
  const index = LYNIS_INDEX.exec(audit.stdout)?.[1];
  expect(index, audit.stdout.slice(-2000)).toBeDefined();
  return Number(index);
}

/** Before the first `up`: lynis on the image as it booted (a stock Debian VPS). */
export function lynisBaseline(sb: SandboxHandle, baseline: { index?: number }): void {
  it('lynis: the hardening index of the fresh image, before up', async () => {
    baseline.index = await lynisIndex(sb);
    console.log(`lynis hardening index of the fresh image: ${baseline.index}`);
  }, 400_000);
}

export function hardenSuite(sb: SandboxHandle, os: string, baseline?: { index?: number }): void {
  it('sshd: keys only, root by key only, MaxAuthTries 3, as sshd -T evaluates the next login; a password login is refused', async () => {
    const eff = (await sb.ssh(['sshd', '-T', '-C', 'user=root,host=localhost,addr=127.0.0.1'])).stdout;
    expect(eff).toMatch(/^passwordauthentication no$/m);
    expect(eff).toMatch(/^kbdinteractiveauthentication no$/m);
    // prohibit-password, as sshd -T spells it.
    expect(eff).toMatch(/^permitrootlogin without-password$/m);
    expect(eff).toMatch(/^maxauthtries 3$/m);
    expect(eff).toMatch(/^logingracetime 30$/m);
    const password = spawnSync(
      'ssh',
      ['-p', '2222', '-o', 'BatchMode=yes', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', 'root@127.0.0.1', 'true'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(password.status).toBe(255);
    // sshd offers nothing but keys.
    expect(password.stderr).toContain('Permission denied (publickey)');
  }, 60_000);

  it("fail2ban runs the sshd and nginx jails and its sshd filter matches this sshd's real failures", async () => {
    const status = (await sb.ssh(['fail2ban-client', 'status'])).stdout;
    expect(status).toMatch(/Jail list:.*\bsshd\b/);
    expect(status).toMatch(/Jail list:.*\bnginx-limit-req\b/);
    // A login with a key the host does not know: sshd logs it to the journal.
    const dir = mkdtempSync(join(tmpdir(), 'mi-wrong-key-'));
    try {
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
      const wrong = spawnSync(
        'ssh',
        ['-p', '2222', '-i', join(dir, 'key'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', 'root@127.0.0.1', 'true'],
        { encoding: 'utf8', timeout: 20_000 },
      );
      expect(wrong.status).toBe(255);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Loopback is never banned (fail2ban ignores itself), so the filter is checked on the journal directly.
    const regex = await sb.ssh(['fail2ban-regex', '--journalmatch=_SYSTEMD_UNIT=ssh.service', 'systemd-journal', 'sshd']);
    expect(Number(/Failregex: (\d+) total/.exec(regex.stdout)?.[1] ?? 0), regex.stdout).toBeGreaterThan(0);
    // Inside the sandbox a ban is only logged: the firewall there would be this machine's.
    expect((await sb.ssh(['grep', '-c', "'^banaction = dummy$'", HARDEN_PATHS.fail2ban])).stdout.trim()).toBe('1');
  }, 60_000);

  it("unattended-upgrades takes Debian's security origin daily and never reboots by itself; journald is capped; needrestart lists", async () => {
    const dump = (await sb.ssh(['apt-config', 'dump'])).stdout;
    expect(dump).toMatch(/^APT::Periodic::Unattended-Upgrade "1";$/m);
    expect(dump).toMatch(/^Unattended-Upgrade::Automatic-Reboot "false";$/m);
    const dry = await sb.ssh(['unattended-upgrade', '--dry-run', '-d'], 300_000);
    expect(dry.code, dry.stderr.slice(-2000)).toBe(0);
    expect(dry.stdout + dry.stderr).toMatch(/Allowed origins are:.*label=Debian-Security/);
    // journald itself says which cap it runs with.
    const journald = (await sb.ssh(['journalctl', '-b', '-u', 'systemd-journald', '--no-pager', '-o', 'cat'])).stdout;
    expect(journald).toMatch(/System Journal .* max 200(\.0)?M/);
    const needrestart = await sb.ssh(['needrestart', '-b', '-r', 'l']);
    expect(needrestart.code).toBe(0);
    expect(needrestart.stdout).toMatch(/^NEEDRESTART-VER: /m);
  }, 360_000);

  it("the app's unit: a seccomp filter on the running process, /proc of others hidden, loopback only, no core dumps", async () => {
    const pid = (await sb.ssh(['systemctl', 'show', '-p', 'MainPID', '--value', 'messenger-chat@3000'])).stdout.trim();
    expect(Number(pid)).toBeGreaterThan(0);
    const status = (await sb.ssh(['cat', `/proc/${pid}/status`])).stdout;
    // 2: a seccomp filter (SystemCallFilter=@system-service).
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect((await sb.ssh(['cat', `/proc/${pid}/mountinfo`])).stdout).toMatch(/ \/proc .*hidepid=invisible/);
    expect((await sb.ssh(['cat', `/proc/${pid}/limits`])).stdout).toMatch(/^Max core file size\s+0\s+0/m);
    const ip = (await sb.ssh(['systemctl', 'show', '-p', 'IPAddressDeny', '-p', 'IPAddressAllow', 'messenger-chat@3000'])).stdout;
    // Everything denied, in either order systemd lists it.
    expect(ip.match(/^IPAddressDeny=(.*)$/m)?.[1]?.split(' ').sort()).toEqual(['0.0.0.0/0', '::/0']);
    expect(ip).toMatch(/^IPAddressAllow=.*127\.0\.0\.0\/8/m);
    const exposure = Number(/Overall exposure level for [^:]*: ([\d.]+)/.exec((await sb.ssh(['systemd-analyze', 'security', '--no-pager', 'messenger-chat@3000.service'])).stdout)?.[1]);
    console.log(`systemd-analyze security, messenger-chat@3000 on ${os}: ${exposure}`);
    // systemd's scale: below 2 is "OK", 10 an unsandboxed service.
    expect(exposure).toBeLessThan(2);
  }, 60_000);

  it("plan shows the harden section from the host's own answers", async () => {
    const plan = await runCli(['plan', '--sandbox', '--os', os, '--tier', 'mvp']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^harden: ssh: password off, root login without-password, MaxAuthTries 3, LoginGraceTime 30 s$/m);
    expect(plan.stdout).toMatch(/^harden: fail2ban: .*sshd \(0 banned\)/m);
    expect(plan.stdout).toMatch(/^harden: security updates: daily \(unattended-upgrades\)$/m);
    expect(plan.stdout).toMatch(/^harden: app unit exposure \(systemd-analyze security\): \d\.\d of 10$/m);
  }, 120_000);

  if (baseline) {
    it('lynis: the converged host scores above the fresh image', async () => {
      const index = await lynisIndex(sb);
      console.log(`lynis hardening index on ${os}: fresh image ${baseline.index}, after up ${index} (in a container: no kernel, firewall or boot tests)`);
      expect(baseline.index).toBeDefined();
      expect(index).toBeGreaterThan(baseline.index!);
    }, 400_000);
  }
}
