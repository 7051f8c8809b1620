import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import type { StackConfig } from '../../src/config/schema.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { cmd } from '../../src/core/command.js';
import { HARDEN_PATHS } from '../../src/core/harden.js';
import { SWITCH_STEPS } from '../../src/core/steps/index.js';
import { siteStep } from '../../src/core/steps/web.js';
import { readBundle } from '../../src/executor/bundle.js';
import { converge, type ConvergeReport } from '../../src/executor/converge.js';
import type { RunEvent } from '../../src/executor/events.js';
import { acquireHostLock } from '../../src/executor/host-lock.js';
import { SshHost, type SshTarget } from '../../src/executor/ssh-host.js';
import { prepare, runPlan, runUp } from '../../src/executor/up.js';
import { quickVerifyOptions, runVerify } from '../../src/verify/index.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';

/**
 * What must not break a server: bad changes are refused or rolled back while the host keeps
 * serving, a sudo user works like root, and a local edit shows up in `plan` and is undone by `up`.
 * One Debian 13 sandbox, converged once, then broken in turn.
 */
const SSHD_DROP_IN = HARDEN_PATHS.sshd;

describe('failure handling on a converged sandbox', () => {
  const sb = useSandbox('debian13');
  let stack: StackConfig;
  let target: SshTarget;
  const events: RunEvent[] = [];

  /** The same settings `up --sandbox` uses, as explicit flags any VPS would take. */
  const hostFlags = (user = 'root') => [
    '--host', '127.0.0.1', '--ssh-port', '2222', '--ssh-user', user, '--ssh-key', sb.info.sshKeyPath, '--known-hosts', sb.info.knownHostsPath,
    '--tier', 'mvp', '--domain', sb.info.domain, '--email', sb.info.email,
    '--acme-server', sb.info.acmeDirectory, '--acme-ca', sb.info.acmeCaBundlePath, '--verify-ca', sb.info.verifyCaPath,
  ];

  async function stillServing(): Promise<void> {
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
    const report = await runVerify(quickVerifyOptions({ domain: sb.info.domain, address: '127.0.0.1', caPath: sb.info.verifyCaPath, jwtSecret: secret }));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  }

  it('converges first, with the host given by flags as for any VPS', async () => {
    const up = await runCli(['up', ...hostFlags(), '--json'], { timeoutMs: 600_000 });
    expect(up.code, up.stderr + up.stdout.slice(-3000)).toBe(0);
    stack = loadStack({
      overrides: {
        tier: 'mvp',
        domain: sb.info.domain,
        email: sb.info.email,
        acme: { server: sb.info.acmeDirectory, caBundle: sb.info.acmeCaBundlePath },
      },
    });
    target = { host: '127.0.0.1', port: 2222, user: 'root', keyPath: sb.info.sshKeyPath, knownHostsPath: sb.info.knownHostsPath };
  }, 600_000);

  it('rolls back an nginx change that fails `nginx -t`; the live site keeps serving', async () => {
    const before = (await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout;
    const host = await SshHost.connect(target);
    try {
      const desired = await prepare(host, { stack, target, bundle: readBundle() });
      const site = desired.files.full.find((f) => f.path === HOST_PATHS.nginxSite)!;
      site.content += '\nthis_is_not_a_directive on;\n';
      const report = await converge(host, desired, [siteStep], (e) => events.push(e));
      expect(report.ok).toBe(false);
      expect(report.steps[0]!.reason).toMatch(/validation failed; previous files restored/);
      expect(report.steps[0]!.reason).toMatch(/unknown directive "this_is_not_a_directive"/);
    } finally {
      await host.close();
    }
    expect((await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout).toBe(before);
    expect((await sb.ssh(['ls', '/etc/nginx/conf.d/'])).stdout.trim()).toBe('messenger-chat.conf');
    await stillServing();
  }, 60_000);

  it('rolls back a release whose server never becomes ready; the previous release keeps serving', async () => {
    const current = (await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim();
    const dir = mkdtempSync(join(tmpdir(), 'mi-bad-bundle-'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ name: 'messenger-chat', version: '0.0.0-broken' }));
    writeFileSync(join(dir, 'messenger-chat.mjs'), 'console.error("boom: this release cannot start"); process.exit(1);\n');
    const { report } = await runUp({ stack, target, bundle: readBundle(dir), emit: () => {} });
    const app = report.steps.find((s) => s.step === 'app')!;
    expect(app.status).toBe('failed');
    // The new release started beside the live one (port 3001) and never answered; the live one (3000) was not touched.
    expect(app.code).toBe('MI_ERR_HEALTH_GATE');
    expect(app.reason).toMatch(/boom: this release cannot start/);
    // systemd restarts a crashing unit forever (StartLimitIntervalSec=0): the gate fails fast on its second crash.
    expect(app.reason).toMatch(/instance on port 3001 did not answer \/readyz with 2xx \(it crashed [2-9] times; its last lines are above\)\nthe new release failed its health gate; the live release keeps serving$/);
    // nginx and TLS run in a chain of their own, untouched by the app's failure.
    expect(report.steps.filter((s) => s.status === 'failed').map((s) => s.step)).toEqual(['app']);
    expect((await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim()).toBe(current);
    expect((await sb.ssh(['systemctl', 'is-active', 'messenger-chat@3000.service'])).stdout.trim()).toBe('active');
    expect((await sb.ssh(['systemctl', 'is-active', 'messenger-chat@3001.service'])).stdout.trim()).not.toBe('active');
    await stillServing();
  }, 120_000);

  it('Redis down: the instance keeps serving and says so (status names it), a release waits for the bus and fails, the live one keeps serving; Redis back: on the bus again', async () => {
    const readyz = async () => JSON.parse((await sb.ssh(['curl', '-fsS', 'http://127.0.0.1:3000/readyz'])).stdout) as { bus?: string };
    expect((await readyz()).bus).toBe('up');
    const current = (await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim();
    // Masked, as a Redis that cannot start: the instances' units want it and would start it again.
    expect((await sb.ssh(['systemctl', 'mask', '--runtime', '--now', 'redis-server'])).code).toBe(0);
    try {
      await expect.poll(async () => (await readyz()).bus, { timeout: 10_000 }).toBe('down');
      expect((await sb.ssh(['journalctl', '-u', 'messenger-chat@3000', '--no-pager', '-g', 'MI_WARN_BUS_DOWN'])).stdout).toMatch(/redis unreachable: each instance delivers only its own clients' messages/);
      await stillServing();
      const status = await runCli(['status', ...hostFlags()]);
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(/^ {2}PROBLEM {2}redis-server\.service is (inactive|failed)/m);
      expect(status.stdout).toMatch(/^ {2}PROBLEM {2}app instance\(s\) on port 3000 cannot reach Redis: each delivers only its own clients' messages until it is back/m);
      // `restart` (which, unlike `up`, does not start Redis) would put a release live whose messages
      // reach nobody on the other release's instances: refused.
      const { report } = await runUp({ stack, target, bundle: readBundle(), intent: { action: 'restart' }, steps: SWITCH_STEPS, emit: () => {} });
      const app = report.steps.find((s) => s.step === 'app')!;
      expect([app.status, app.code]).toEqual(['failed', 'MI_ERR_HEALTH_GATE']);
      expect(app.reason).toMatch(/the new instances did not reach Redis within 10 s \(ports: 3001\)/);
      expect((await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim()).toBe(current);
      await stillServing();
    } finally {
      expect((await sb.ssh(['systemctl', 'unmask', '--runtime', 'redis-server'])).code).toBe(0);
      expect((await sb.ssh(['systemctl', 'start', 'redis-server'])).code).toBe(0);
    }
    await expect.poll(async () => (await readyz()).bus, { timeout: 10_000 }).toBe('up');
    expect((await runCli(['status', ...hostFlags()])).code).toBe(0);
    // `up` itself starts a stopped Redis again (its step ensures it runs).
    expect((await sb.ssh(['systemctl', 'stop', 'redis-server'])).code).toBe(0);
    const healed = await runCli(['up', ...hostFlags(), '--no-verify']);
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stdout).toMatch(/enable and start redis-server/);
    await expect.poll(async () => (await readyz()).bus, { timeout: 10_000 }).toBe('up');
  }, 180_000);

  it('shows a local edit as a diff in `plan`, and `up` puts the managed file back', async () => {
    await sb.ssh(['sh', '-c', `'echo "# hand edit" >> ${HOST_PATHS.nginxMain}'`]);
    const plan = await runCli(['plan', ...hostFlags(), '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const doc = jsonLines(plan.stdout)[0] as { changes: number; steps: Array<{ step: string; status: string; diffs: string[] }> };
    expect(doc.changes).toBe(1);
    const nginx = doc.steps.find((s) => s.step === 'nginx')!;
    expect(nginx.status).toBe('change');
    expect(nginx.diffs.join('\n')).toMatch(/^-# hand edit$/m);
    expect((await sb.ssh(['tail', '-n1', HOST_PATHS.nginxMain])).stdout.trim()).toBe('# hand edit');
    const up = await runCli(['up', ...hostFlags(), '--no-verify']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/changed {2}nginx/);
    expect((await sb.ssh(['grep', '-c', "'hand edit'", HOST_PATHS.nginxMain])).stdout.trim()).toBe('0');
  }, 120_000);

  const RUN_DIR = '/run/messenger-infra';
  /** Every file an interrupted transaction can leave beside a managed path, one per line. */
  async function leftovers(): Promise<string> {
    const found = await sb.ssh(['sh', '-c', `"find /etc /opt /srv /var/www -xdev -name '*.mi-prev' -o -name '*.mi-new' -o -name '*.mi-none' -o -name '*.mi-prev.tmp'"`]);
    expect(found.code, found.stderr).toBe(0);
    return found.stdout.trim();
  }

  /** Stops the next remote program that reaches CHECKPOINT there (remote/lib.sh `checkpoint`); resolves its PID. */
  async function holdAt(checkpoint: string): Promise<() => Promise<string>> {
    const hold = await sb.ssh(['sh', '-c', `'mkdir -p ${RUN_DIR} && rm -f ${RUN_DIR}/at-${checkpoint} && : > ${RUN_DIR}/hold-${checkpoint}'`]);
    expect(hold.code, hold.stderr).toBe(0);
    return async () => {
      for (let i = 0; i < 200; i++) {
        const pid = (await sb.ssh(['cat', `${RUN_DIR}/at-${checkpoint}`])).stdout.trim();
        if (/^\d+$/.test(pid)) return pid;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no remote program reached checkpoint ${checkpoint}`);
    };
  }

  /** A site change (valid, one comment more) converged in the background under the host lock. */
  async function startSiteChange(host: SshHost): Promise<{ done: Promise<ConvergeReport> }> {
    const desired = await prepare(host, { stack, target, bundle: readBundle() });
    desired.files.full.find((f) => f.path === HOST_PATHS.nginxSite)!.content += '\n# a change that is interrupted\n';
    const lock = await acquireHostLock(host);
    // Wrapped: an async function returning a promise would wait for it.
    return { done: converge(host, desired, [siteStep], () => {}, { runId: lock.runId }).finally(() => lock.release()) };
  }

  async function convergesCleanly(siteBefore: string): Promise<void> {
    const { report } = await runUp({ stack, target, bundle: readBundle(), emit: () => {} });
    expect(report.ok, JSON.stringify(report.steps.filter((s) => s.status === 'failed'))).toBe(true);
    expect((await leftovers())).toBe('');
    expect((await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout).toBe(siteBefore);
    await stillServing();
  }

  it('an activation stopped by SIGTERM restores the previous files; the site keeps serving', async () => {
    const before = (await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout;
    const pidAt = await holdAt('validated');
    const host = await SshHost.connect(target);
    try {
      const running = (await startSiteChange(host)).done;
      const kill = await sb.ssh(['kill', '-TERM', await pidAt()]);
      expect(kill.code, kill.stderr).toBe(0);
      const report = await running;
      expect(report.steps[0]).toMatchObject({ status: 'failed', code: 'MI_ERR_INTERRUPTED' });
      expect(report.steps[0]!.reason).toMatch(/interrupted by a signal; previous files restored/);
      expect(report.steps[0]!.failure).toMatchObject({ step: 'site', exitStatus: 15, host: 'root@127.0.0.1:2222' });
    } finally {
      await host.close();
    }
    expect((await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout).toBe(before);
    expect((await leftovers())).toBe('');
    await stillServing();
    await convergesCleanly(before);
  }, 120_000);

  it('an activation killed with SIGKILL leaves drift that plan shows and the next up finishes', async () => {
    const before = (await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout;
    const pidAt = await holdAt('swapped');
    const host = await SshHost.connect(target);
    try {
      const running = (await startSiteChange(host)).done;
      expect((await sb.ssh(['kill', '-KILL', await pidAt()])).code).toBe(0);
      const report = await running;
      expect(report.steps[0], JSON.stringify(report.steps[0])).toMatchObject({ status: 'failed', code: 'MI_ERR_KILLED' });
    } finally {
      await host.close();
    }
    // The unvalidated file is live but nginx never loaded it: the site serves what it served before.
    expect((await leftovers())).toBe(`${HOST_PATHS.nginxSite}.mi-prev`);
    await stillServing();
    const { plans } = await runPlan({ stack, target, bundle: readBundle() });
    expect(plans.flatMap((p) => p.plan.changes)).toContain(
      `finish the interrupted activation of ${HOST_PATHS.nginxSite} (left: ${HOST_PATHS.nginxSite}.mi-prev)`,
    );
    await convergesCleanly(before);
  }, 120_000);

  it('an activation whose SSH connection drops never leaves the host locked or half-changed', async () => {
    const before = (await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout;
    const pidAt = await holdAt('validated');
    const host = await SshHost.connect(target);
    const running = (await startSiteChange(host)).done;
    const pid = await pidAt();
    await host.close();
    const report = await running;
    expect(report.steps[0]).toMatchObject({ status: 'failed', code: 'MI_ERR_SSH_DROPPED' });
    // The orphaned program goes on (or restores) once released; the next run waits for it to end.
    expect((await sb.ssh(['rm', '-f', `${RUN_DIR}/at-validated`])).code).toBe(0);
    await convergesCleanly(before);
    expect((await sb.ssh(['sh', '-c', `'kill -0 ${pid} 2>/dev/null && echo alive || echo gone'`])).stdout.trim()).toBe('gone');
  }, 120_000);

  it('a second run waits for the host lock, then fails with MI_ERR_HOST_LOCKED naming the holder', async () => {
    const before = (await sb.ssh(['sha256sum', HOST_PATHS.nginxSite])).stdout;
    const pidAt = await holdAt('validated');
    const host = await SshHost.connect(target);
    try {
      const running = (await startSiteChange(host)).done;
      await pidAt();
      const started = Date.now();
      const second = await runUp({ stack, target, bundle: readBundle(), emit: () => {}, lockWaitSeconds: 2 }).then(
        () => null,
        (err: Error & { code?: string }) => err,
      );
      expect(second?.code).toBe('MI_ERR_HOST_LOCKED');
      expect(second?.message).toMatch(/^root@127\.0\.0\.1:2222: the host is locked by another run \(\S+ .*pid \d+ run \S+\); it still held the lock after 2 s; retry when it has finished$/);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect((await sb.ssh(['rm', '-f', `${RUN_DIR}/at-validated`])).code).toBe(0);
      expect((await running).ok).toBe(true);
    } finally {
      await host.close();
    }
    await stillServing();
    await convergesCleanly(before);
  }, 120_000);

  it('works through a sudo user instead of root', async () => {
    const setup = [
      'set -e',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q sudo >/dev/null',
      'id deploy >/dev/null 2>&1 || useradd --create-home --shell /bin/bash deploy',
      'echo "deploy ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/deploy && chmod 440 /etc/sudoers.d/deploy',
      'install -d -m 700 -o deploy -g deploy /home/deploy/.ssh',
      'install -m 600 -o deploy -g deploy /root/.ssh/authorized_keys /home/deploy/.ssh/authorized_keys',
      `rm -f ${HOST_PATHS.appEnvFile}`,
    ].join('; ');
    expect((await sb.ssh(['sh', '-c', `'${setup}'`])).code).toBe(0);
    const up = await runCli(['up', ...hostFlags('deploy')]);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    expect(up.stdout).toContain(`write ${HOST_PATHS.appEnvFile}`);
    expect(up.stdout).toMatch(/14 passed, 0 failed/);
    const again = await runCli(['up', ...hostFlags('deploy'), '--no-verify']);
    expect(again.stdout).toMatch(/^no changes/m);
    // A sudo user deploys: root no longer logs in over SSH at all, not even with its key.
    expect((await sb.ssh(['true'])).code).not.toBe(0);
    const deploy = await SshHost.connect({ ...target, user: 'deploy' });
    try {
      expect((await deploy.run(cmd('effective sshd', 'sshd', '-T', '-C', 'user=root,host=localhost,addr=127.0.0.1'))).stdout).toMatch(/^permitrootlogin no$/m);
      // The harness (and the tests after this one) log in as root: a root-run up converges the file back.
      const back = await deploy.run(cmd('root by key again', 'sed', '-i', 's/^PermitRootLogin no$/PermitRootLogin prohibit-password/', SSHD_DROP_IN));
      expect(back.code).toBe(0);
      expect((await deploy.run(cmd('reload sshd', 'systemctl', 'reload', 'ssh'))).code).toBe(0);
    } finally {
      await deploy.close();
    }
    expect((await sb.ssh(['true'])).code).toBe(0);
  }, 180_000);

  it("an sshd change that would lock out the deploy user is refused before sshd reloads; the site keeps serving", async () => {
    // Someone left a drop-in that sshd reads first and that admits nobody; sshd has not reloaded it yet.
    await sb.ssh(['sh', '-c', `'printf "AllowUsers nobody\\n" > /etc/ssh/sshd_config.d/01-local.conf'`]);
    // Our own drop-in differs from what up renders, so up must validate and reload sshd.
    await sb.ssh(['sed', '-i', "'s/^MaxAuthTries 3$/MaxAuthTries 6/'", SSHD_DROP_IN]);
    try {
      const up = await runCli(['up', ...hostFlags(), '--json', '--no-verify'], { timeoutMs: 300_000 });
      expect(up.code).toBe(1);
      const failed = (jsonLines(up.stdout).find((e) => e.type === 'summary') as { steps: Array<{ step: string; status: string; code?: string; reason?: string }> }).steps.find((s) => s.status === 'failed');
      expect(failed, up.stdout).toMatchObject({ step: 'harden', code: 'MI_ERR_SSHD_INVALID' });
      expect(failed?.reason).toMatch(/sshd would refuse root \(AllowUsers does not name it\)/);
      // Restored and never reloaded: the previous file is back, and root still logs in.
      expect((await sb.ssh(['grep', '-c', "'^MaxAuthTries 6$'", SSHD_DROP_IN])).stdout.trim()).toBe('1');
      await stillServing();
    } finally {
      await sb.ssh(['rm', '-f', '/etc/ssh/sshd_config.d/01-local.conf']);
    }
    // A broken option anywhere fails `sshd -t` the same way.
    await sb.ssh(['sh', '-c', `'printf "NoSuchOption yes\\n" > /etc/ssh/sshd_config.d/01-local.conf'`]);
    try {
      const up = await runCli(['up', ...hostFlags(), '--json', '--no-verify'], { timeoutMs: 300_000 });
      expect(up.code).toBe(1);
      expect(up.stdout).toContain('MI_ERR_SSHD_INVALID');
      await stillServing();
    } finally {
      await sb.ssh(['rm', '-f', '/etc/ssh/sshd_config.d/01-local.conf']);
    }
    const fixed = await runCli(['up', ...hostFlags(), '--no-verify']);
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect((await sb.ssh(['grep', '-c', "'^MaxAuthTries 3$'", SSHD_DROP_IN])).stdout.trim()).toBe('1');
  }, 600_000);

  it('a jail file fail2ban refuses (ours with a broken one beside it) is put back; MI_ERR_HARDEN_INVALID, the site keeps serving', async () => {
    await sb.ssh(['sh', '-c', `'printf "[broken]\\nenabled = true\\nfilter = no-such-filter\\n" > /etc/fail2ban/jail.d/zz-local.local'`]);
    await sb.ssh(['sed', '-i', "'s/^bantime = 1h$/bantime = 2h/'", HARDEN_PATHS.fail2ban]);
    try {
      const up = await runCli(['up', ...hostFlags(), '--json', '--no-verify'], { timeoutMs: 300_000 });
      expect(up.code).toBe(1);
      const failed = (jsonLines(up.stdout).find((e) => e.type === 'summary') as { steps: Array<{ step: string; status: string; code?: string }> }).steps.find((s) => s.status === 'failed');
      expect(failed, up.stdout).toMatchObject({ step: 'harden', code: 'MI_ERR_HARDEN_INVALID' });
      expect((await sb.ssh(['grep', '-c', "'^bantime = 2h$'", HARDEN_PATHS.fail2ban])).stdout.trim()).toBe('1');
      // The running fail2ban was never restarted into the broken configuration.
      expect((await sb.ssh(['systemctl', 'is-active', 'fail2ban'])).stdout.trim()).toBe('active');
      await stillServing();
    } finally {
      await sb.ssh(['rm', '-f', '/etc/fail2ban/jail.d/zz-local.local']);
    }
    const fixed = await runCli(['up', ...hostFlags(), '--no-verify']);
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect((await sb.ssh(['grep', '-c', "'^bantime = 1h$'", HARDEN_PATHS.fail2ban])).stdout.trim()).toBe('1');
  }, 600_000);

  it('refuses an unsupported OS and an unknown host key before changing anything', async () => {
    await sb.ssh(['sh', '-c', `'cp /etc/os-release /root/os-release.bak && sed -i "s/^ID=debian/ID=fedora/" /etc/os-release'`]);
    try {
      const up = await runCli(['up', ...hostFlags()]);
      expect(up.code).toBe(2);
      expect(up.stderr.trim()).toMatch(/^error: root@127\.0\.0\.1:2222 runs fedora 13; supported: Debian 13, Debian 12, Ubuntu 24\.04, Ubuntu 22\.04$/);
    } finally {
      await sb.ssh(['cp', '/root/os-release.bak', '/etc/os-release']);
    }
    const empty = join(mkdtempSync(join(tmpdir(), 'mi-kh-')), 'known_hosts');
    writeFileSync(empty, '');
    const flags = hostFlags();
    flags[flags.indexOf('--known-hosts') + 1] = empty;
    const unknown = await runCli(['up', ...flags]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: host key of root@127\.0\.0\.1:2222 is not in .*known_hosts; check its fingerprint and add: \[127\.0\.0\.1\]:2222 ssh-ed25519 /);
    // --accept-new-host-key trusts it once and records it; later runs check it without the flag.
    expect((await runCli(['up', ...flags, '--accept-new-host-key', '--no-verify'])).code).toBe(0);
    expect(readFileSync(empty, 'utf8')).toBe(readFileSync(sb.info.knownHostsPath, 'utf8').split('\n').find((l) => l.includes('ssh-ed25519'))! + '\n');
    expect((await runCli(['up', ...flags, '--no-verify'])).code).toBe(0);
  }, 60_000);
});

describe('bad input and unreachable hosts fail fast', () => {
  it('names the field and exits 2 for bad flags', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['up', '--tier', 'huge', '--domain', 'chat.example.com', '--email', 'a@example.com', '--host', '127.0.0.1'], /^error: stack\.tier: "huge" must be one of mvp, growth, scale$/],
      [['up', '--tier', 'mvp', '--domain', 'not a domain', '--email', 'a@example.com', '--host', '127.0.0.1'], /^error: stack\.domain: "not a domain" must be a hostname like chat\.example\.com$/],
      [['up', '--tier', 'mvp', '--domain', 'chat.example.com', '--email', 'a@example.com', '--host', '127.0.0.1', '--ssh-port', '99999'], /^error: option '--ssh-port <port>' argument '99999' is invalid\. must be a whole number from 1 to 65535$/],
      [['up', '--tier', 'mvp', '--domain', 'chat.example.com', '--email', 'a@example.com'], /^error: stack\.target\.host: is required; pass --host ADDRESS/],
      [['plan', '--stack', '/nonexistent/prod.yaml'], /^error: --stack: file \/nonexistent\/prod\.yaml does not exist/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr.trim()).toMatch(message);
    }
  }, 60_000);

  it('fails fast with a clear message when nothing listens on the SSH port', async () => {
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'mi-kh-'));
    writeFileSync(join(dir, 'known_hosts'), '');
    const result = await runCli(['up', '--tier', 'mvp', '--domain', 'chat.example.com', '--email', 'a@example.com', '--host', '127.0.0.1', '--ssh-port', '1', '--known-hosts', join(dir, 'known_hosts')]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^error: cannot connect to root@127\.0\.0\.1:1: .*ECONNREFUSED/);
    console.log(`unreachable host reported in ${Date.now() - started} ms`);
  }, 30_000);
});
