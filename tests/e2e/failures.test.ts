import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import type { StackConfig } from '../../src/config/schema.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { siteStep } from '../../src/core/steps/web.js';
import { readBundle } from '../../src/executor/bundle.js';
import { converge } from '../../src/executor/converge.js';
import type { RunEvent } from '../../src/executor/events.js';
import { SshHost, type SshTarget } from '../../src/executor/ssh-host.js';
import { prepare, runUp } from '../../src/executor/up.js';
import { quickVerifyOptions, runVerify } from '../../src/verify/index.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';

/**
 * What must not break a server: bad changes are refused or rolled back while the host keeps
 * serving, a sudo user works like root, and a local edit shows up in `plan` and is undone by `up`.
 * One Debian 13 sandbox, converged once, then broken in turn.
 */
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
    expect(app.reason).toMatch(/instance on port 3000 not ready after 30 s\nactivation failed; previous files restored/);
    // nginx and TLS run in a chain of their own, untouched by the app's failure.
    expect(report.steps.filter((s) => s.status === 'failed').map((s) => s.step)).toEqual(['app']);
    expect((await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim()).toBe(current);
    expect((await sb.ssh(['systemctl', 'is-active', 'messenger-chat@3000.service'])).stdout.trim()).toBe('active');
    await stillServing();
  }, 120_000);

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
  }, 180_000);

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
