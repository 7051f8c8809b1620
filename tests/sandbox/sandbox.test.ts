/**
 * Real sandboxes: a Debian guest booted under systemd-nspawn and Pebble, on this host.
 * Needs root and the host packages (debootstrap systemd-container pebble openssh-client openssl).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../../src/sandbox/exec.js';
import {
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  sshArgv,
  type SandboxInfo,
  type SandboxOs,
} from '../../src/sandbox/index.js';
import { guestPidNamespace, mountsUnder, procsInPidNamespace } from '../../src/sandbox/procs.js';
import { readState } from '../../src/sandbox/state.js';

const CLI_DRIVER = join(import.meta.dirname, 'cli-driver.ts');

function ssh(info: SandboxInfo, remote: string[], knownHosts = info.knownHostsPath) {
  return runRaw(sshArgv(info.sshKeyPath, knownHosts, remote), { timeoutMs: 30_000 });
}

function getJson(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** True when no running process has this PID (an exited, unreaped zombie counts as gone). */
function pidGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_DRIVER, ...args], { cwd: join(import.meta.dirname, '../..') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const expected: Record<SandboxOs, { versionId: string; codename: string }> = {
  debian13: { versionId: '13', codename: 'trixie' },
  debian12: { versionId: '12', codename: 'bookworm' },
};

describe('sandbox refusals', () => {
  beforeAll(async () => {
    await sandboxDown();
  }, 120_000);

  it('refuses when a port it needs is taken, naming the port and the process', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(15000, '127.0.0.1', resolve));
    try {
      const err = await sandboxUp({ os: 'debian13' }).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).toBe('MI_ERR_SANDBOX_PORT_TAKEN');
      expect(err?.message).toMatch(/15000\/tcp \(Pebble management\) is taken by .+ \(pid \d+\): stop it/);
      expect(err?.message).toContain(`pid ${process.pid}`);
      expect(err?.message.split('\n')).toHaveLength(1);
      expect(await sandboxStatus()).toBeNull();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a non-root user with a one-line fix and exit code 1', async () => {
    const res = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', CLI_DRIVER, 'sandbox', 'up'], {
        cwd: join(import.meta.dirname, '../..'),
        env: { ...process.env, HOME: '/tmp' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    });
    // One line like every command's (cli/run-action.ts); the code is MI_ERR_SANDBOX_NOT_ROOT (exit 1).
    expect(res.stderr.trim()).toMatch(/^error: [^\n]*run it as root[^\n]*$/);
    expect(res.code).toBe(1);
  });

  it('rejects an unknown --os with exit code 2', async () => {
    const res = await cli(['sandbox', 'up', '--os', 'debian11']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe("error: option '--os <os>' argument 'debian11' is invalid. Allowed choices are debian13, debian12.");
  });
});

for (const os of ['debian13', 'debian12'] as const) {
  describe(`sandbox ${os}`, () => {
    let info: SandboxInfo;
    const progress: string[] = [];

    beforeAll(async () => {
      await sandboxDown();
      info = await sandboxUp({ os, onProgress: (l) => progress.push(l) });
      console.log(`[${os}] ${progress.join('; ')}`);
    }, 300_000);

    afterAll(async () => {
      await sandboxDown();
    }, 120_000);

    it('describes the instance', () => {
      expect(info).toMatchObject({
        os,
        sshHost: '127.0.0.1',
        sshPort: 2222,
        sshUser: 'root',
        acmeDirectory: 'https://127.0.0.1:14000/dir',
        domain: 'chat.messenger.test',
        email: 'ops@messenger.test',
      });
      for (const p of [info.sshKeyPath, info.knownHostsPath, info.acmeCaBundlePath, info.verifyCaPath]) {
        expect(existsSync(p), p).toBe(true);
      }
      expect(pidGone(info.nspawnPid)).toBe(false);
      expect(info.pebblePids).toHaveLength(2);
    });

    it('answers over SSH with host key checking on, as an nspawn container of the right release', async () => {
      const res = await ssh(info, ['systemd-detect-virt', '--container;', '.', '/etc/os-release;', 'echo', '$VERSION_ID', '$VERSION_CODENAME;', 'hostname']);
      expect(res.stderr).toBe('');
      expect(res.stdout.trim().split('\n')).toEqual([
        'systemd-nspawn',
        `${expected[os].versionId} ${expected[os].codename}`,
        info.name,
      ]);
      const state = await ssh(info, ['systemctl', 'is-system-running']);
      expect(['running', 'degraded']).toContain(state.stdout.trim());
    });

    it('rejects a guest whose host key is not the known one', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mi-kh-'));
      try {
        const wrong = join(dir, 'known_hosts');
        // Another valid ed25519 key in place of the guest's.
        await runRaw(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
        writeFileSync(wrong, `[127.0.0.1]:2222 ${readFileSync(join(dir, 'k.pub'), 'utf8')}`);
        const res = await ssh(info, ['true'], wrong);
        expect(res.code).toBe(255);
        expect(res.stderr).toMatch(/host key/i);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('looks like a fresh VPS image: no nginx, MariaDB, Node or certbot, no apt lists, no .debs', async () => {
      const res = await ssh(info, [
        'for b in nginx mariadbd mysqld mariadb node nodejs npm certbot; do command -v $b; done;',
        'echo /var/lib/apt/lists:; ls -A /var/lib/apt/lists; echo /var/cache/apt/archives:; ls -A /var/cache/apt/archives;',
        'cat /etc/apt/sources.list.d/debian.sources',
      ]);
      const [binaries, rest] = res.stdout.split('/var/lib/apt/lists:');
      expect(binaries?.trim()).toBe('');
      expect(rest).toMatch(/^\npartial\n\/var\/cache\/apt\/archives:\npartial\n/);
      const { codename } = expected[os];
      expect(res.stdout).toContain(`URIs: http://deb.debian.org/debian\nSuites: ${codename} ${codename}-updates\nComponents: main`);
      expect(res.stdout).toContain(`URIs: http://deb.debian.org/debian-security\nSuites: ${codename}-security\nComponents: main`);
    });

    it('serves the ACME directory over HTTPS verified with acmeCaBundlePath, and its issuing root', async () => {
      const ca = readFileSync(info.acmeCaBundlePath, 'utf8');
      const dir = await getJson(info.acmeDirectory, ca);
      expect(dir.status).toBe(200);
      expect(JSON.parse(dir.body)).toMatchObject({ newAccount: expect.stringMatching(/^https:\/\/127\.0\.0\.1:14000\//) });
      // Without the bundle the listener is not trusted: the check above really verifies.
      await expect(getJson(info.acmeDirectory)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
      const roots = readFileSync(info.verifyCaPath, 'utf8');
      expect(roots.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      const subject = await runRaw(['openssl', 'x509', '-noout', '-subject', '-in', info.verifyCaPath]);
      expect(subject.stdout).toMatch(/Pebble Root CA/);
    });

    it('reports running in status, and a second up returns the same instance', async () => {
      const status = await sandboxStatus();
      expect(status).toEqual({ ...info, running: true });
      const again = await sandboxUp({ os });
      expect(again).toEqual(info);
      const json = await cli(['sandbox', 'status', '--json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ ...info, running: true });
    });

    it('refuses to start the other OS while this one runs', async () => {
      const other: SandboxOs = os === 'debian13' ? 'debian12' : 'debian13';
      await expect(sandboxUp({ os: other })).rejects.toMatchObject({
        code: 'MI_ERR_SANDBOX_OS_MISMATCH',
        message: expect.stringContaining('sandbox down'),
      });
      const res = await cli(['sandbox', 'up', '--os', other]);
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
    });

    it('down leaves no process, no mount and no machine copy', async () => {
      const state = await readState();
      const guest = state?.guests[0];
      const ns = guest?.nspawn && guestPidNamespace(guest.nspawn);
      expect(ns).toMatch(/^pid:\[\d+\]$/);
      expect(ns).toBe(guest?.guestPidNs);
      // systemd, journald, sshd... all in the guest's namespace
      expect(procsInPidNamespace(ns!).length).toBeGreaterThan(2);
      expect(await sandboxDown()).toEqual({ stopped: true });
      for (const pid of [info.nspawnPid, ...info.pebblePids]) expect(pidGone(pid), `pid ${pid}`).toBe(true);
      expect(procsInPidNamespace(ns!)).toEqual([]);
      expect(mountsUnder(info.stateDir)).toEqual([]);
      expect(existsSync(info.stateDir)).toBe(false);
      expect(await sandboxStatus()).toBeNull();
      expect(await sandboxDown()).toEqual({ stopped: false });
      const ports = await runRaw(['ss', '-H', '-ltn', 'sport = :2222 or sport = :14000 or sport = :15000 or sport = :8055']);
      expect(ports.stdout.trim()).toBe('');
    });
  });
}
