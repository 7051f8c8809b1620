import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { expect, it } from 'vitest';
import { ChatClient } from '../../app/src/chat-client.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import type { StatusReport } from '../../src/core/status.js';
import { quickVerifyOptions, runVerify } from '../../src/verify/index.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';
import { CLI, jsonLines, runCli } from '../helpers/cli.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * Day-to-day commands on a converged sandbox: a token that opens the chat, `status` (and its exit
 * status when something is down), `logs` with and without `-f`, and /metrics never public.
 */
export function operateSuite(sb: SandboxHandle): void {
  const onSandbox = ['--sandbox', '--tier', 'mvp'];

  async function stillServing(): Promise<void> {
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
    const report = await runVerify(quickVerifyOptions({ domain: sb.info.domain, address: '127.0.0.1', caPath: sb.info.verifyCaPath, jwtSecret: secret }));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  }

  it('token: mints a token the deployed chat accepts, with the URL that opens the web client', async () => {
    const result = await runCli(['token', ...onSandbox, '--user', 'alice', '--ttl', '10m', '--room', 'lobby', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const [doc] = jsonLines(result.stdout) as Array<{ type: string; user: string; token: string; url: string; expiresAt: string }>;
    expect(doc).toMatchObject({ type: 'token', user: 'alice' });
    expect(doc!.url).toBe(`https://${sb.info.domain}/#token=${doc!.token}&room=lobby`);
    expect(Date.parse(doc!.expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000);
    // The host's secret itself is never printed.
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
    expect(result.stdout + result.stderr).not.toContain(secret);
    const client = await ChatClient.connect({
      url: `wss://${sb.info.domain}/ws`,
      token: doc!.token,
      lookup: targetLookup(parseTarget({ url: `wss://${sb.info.domain}/ws`, resolve: { host: sb.info.domain, port: 443, address: '127.0.0.1' } })),
      servername: sb.info.domain,
      ca: readFileSync(sb.info.verifyCaPath, 'utf8'),
      timeoutMs: 10_000,
    });
    try {
      await client.join('lobby');
      expect((await client.send('lobby', 'hello with a minted token')).id).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    const human = await runCli(['token', ...onSandbox, '--user', 'bob']);
    expect(human.stdout).toMatch(/^open the chat: https:\/\/chat\.messenger\.test\/#token=ey/m);
    expect(human.stdout).toContain(`--host-resolver-rules="MAP ${sb.info.domain} 127.0.0.1"`);
    expect(human.stdout).toContain(sb.info.verifyCaPath);
  }, 60_000);

  it('status: every service running, the release, connections, certificate and budget; exit 1 once the app is down', async () => {
    const result = await runCli(['status', ...onSandbox, '--json']);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const report = jsonLines(result.stdout)[0] as unknown as StatusReport;
    expect(report.ok).toBe(true);
    expect(report.services.map((s) => `${s.name}:${s.state}`)).toEqual(['nginx:active', 'mariadb:active', 'app:3000:active', 'redis:active']);
    expect(report.services.every((s) => s.since !== null)).toBe(true);
    expect(report.release.id).toBe((await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim().split('/').pop());
    expect(report.release.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(report.app).toMatchObject({ instances: 1, scraped: 1 });
    expect(report.app.connections).toBeGreaterThanOrEqual(0);
    expect(report.app.messagesLastMinute).toBeGreaterThanOrEqual(1);
    expect(report.nginx.activeConnections).toBeGreaterThanOrEqual(1);
    expect(report.certificate.daysLeft).toBeGreaterThan(30);
    expect(report.memory).toMatchObject({ tierRamMb: 2048 });
    // The host's hardening as sshd, fail2ban and apt say it is now.
    const harden = (report as StatusReport & { harden: { sshd: Record<string, string>; fail2ban: boolean; securityUpdates: boolean } }).harden;
    expect(harden).toMatchObject({ fail2ban: true, securityUpdates: true, sshd: { passwordauthentication: 'no' } });
    const human = await runCli(['status', ...onSandbox]);
    expect(human.stdout).toMatch(/^ {2}harden {12}ssh: password off, root login without-password/m);

    expect((await sb.ssh(['systemctl', 'stop', 'messenger-chat@3000.service'])).code).toBe(0);
    try {
      const down = await runCli(['status', ...onSandbox]);
      expect(down.code).toBe(1);
      expect(down.stdout).toMatch(/^ {2}PROBLEM {2}messenger-chat@3000\.service is inactive/m);
      expect(down.stdout).toMatch(/^ {2}app:3000 +inactive/m);
    } finally {
      expect((await sb.ssh(['systemctl', 'start', 'messenger-chat@3000.service'])).code).toBe(0);
    }
    for (let i = 0; i < 50 && (await sb.ssh(['curl', '-fsS', '-o', '/dev/null', 'http://127.0.0.1:3000/readyz'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 200));
    await stillServing();
  }, 60_000);

  it('logs: the last lines of a source, merged by time with their source', async () => {
    const app = await runCli(['logs', ...onSandbox, 'app', '-n', '5']);
    expect(app.code, app.stderr).toBe(0);
    const lines = app.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\S+Z messenger-chat-3000 /);
    const times = lines.map((l) => Date.parse(l.slice(0, 24)));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const all = await runCli(['logs', ...onSandbox, 'all', '--since', '30m', '-n', '400']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/ nginx\/access +127\.0\.0\.1 GET \/ws 101 /);
    expect(all.stdout).toMatch(/ messenger-chat-3000 /);
  }, 60_000);

  it('logs -f: shows new lines as they come and stops cleanly on Ctrl-C, leaving no reader on the host', async () => {
    const child = spawn(process.execPath, [CLI, 'logs', ...onSandbox, 'nginx', '-f', '-n', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const until = async (test: () => boolean, what: string) => {
      for (let i = 0; i < 100 && !test(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(test(), what).toBe(true);
    };
    await until(() => out.includes('nginx'), 'the first lines');
    const marker = `/logs-follow-${Date.now()}`;
    await sb.ssh(['curl', '-sk', '--resolve', `${sb.info.domain}:443:127.0.0.1`, '-o', '/dev/null', `https://${sb.info.domain}${marker}`]);
    await until(() => out.includes(marker), 'a new access line');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const readers = await sb.ssh(['sh', '-c', `'ps -eo args | grep -E "^(journalctl|tail) " | grep -v grep || true'`]);
    expect(readers.stdout.trim()).toBe('');
  }, 60_000);

  it('the CI recipes: their messenger-infra command lines, run as written against the sandbox, give the JSON they document', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mi-ci-'));
    const stackFile = join(dir, 'production.yaml');
    const { info } = sb;
    writeFileSync(
      stackFile,
      stringify({
        tier: 'mvp',
        domain: info.domain,
        email: info.email,
        target: { host: info.sshHost, ssh: { user: info.sshUser, port: info.sshPort, key: info.sshKeyPath, knownHosts: info.knownHostsPath } },
        acme: { server: info.acmeDirectory, caBundle: info.acmeCaBundlePath },
        // No DNS name points at the sandbox: verify connects to its address, as before a DNS cut-over.
        verify: { ca: info.verifyCaPath, address: '127.0.0.1' },
      }),
    );
    // The CI store's secret is the deployment's: here, the one the sandbox generated.
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
    for (const recipe of ['examples/ci/github-actions.yml', 'examples/ci/gitlab-ci.yml']) {
      const commands = ciCommands(readFileSync(join(CLI, '../..', recipe), 'utf8'));
      expect(commands.map((c) => c.args[0]), recipe).toEqual(['up', 'verify', 'status']);
      for (const { args, output } of commands) {
        const result = await runCli(args.map((a) => (a === '$MI_STACK' ? stackFile : a)), { env: { MESSENGER_JWT_SECRET: secret }, timeoutMs: 300_000 });
        expect(result.code, `${recipe}: ${args.join(' ')}\n${result.stderr}`).toBe(0);
        if (output.endsWith('.jsonl')) {
          const docs = jsonLines(result.stdout);
          for (const event of docs.slice(0, -1)) STEP_EVENT.parse(event);
          UP_SUMMARY.parse(docs.at(-1));
        } else {
          // One JSON document per file (verify's is indented).
          (args[0] === 'verify' ? VERIFY_REPORT : STATUS_REPORT).parse(JSON.parse(result.stdout));
        }
      }
    }
  }, 300_000);

  it('/metrics answers on the app loopback port and never through the public site', async () => {
    const local = await sb.ssh(['curl', '-fsS', 'http://127.0.0.1:3000/metrics']);
    expect(local.code).toBe(0);
    expect(local.stdout).toMatch(/^messenger_connections \d+/m);
    const publicSite = await sb.ssh(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--resolve', `${sb.info.domain}:443:127.0.0.1`, `https://${sb.info.domain}/metrics`]);
    expect(publicSite.stdout.trim()).toBe('404');
  }, 30_000);
}

/** `node bin/messenger-infra.js CMD ARGS > FILE` lines of a CI recipe: the arguments and the output file. */
function ciCommands(recipe: string): Array<{ args: string[]; output: string }> {
  return recipe
    .split('\n')
    .map((line) => /node bin\/messenger-infra\.js (.+?) > (\S+)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ args: m[1]!.split(/\s+/).map((a) => a.replace(/^"(.*)"$/, '$1')), output: m[2]! }));
}

// The JSON the recipes keep as artifacts, as docs/json-output.md documents it (the fields CI reads).
const STEP_EVENT = z.object({
  type: z.literal('step'),
  step: z.string(),
  title: z.string(),
  status: z.enum(['ok', 'changed', 'failed', 'skipped']),
  changes: z.array(z.string()).optional(),
});
const CHECK = z.object({ id: z.string(), status: z.enum(['pass', 'fail', 'warn', 'skip']) }).passthrough();
const VERIFY_REPORT = z.object({ exitCode: z.number(), checks: z.array(CHECK) }).passthrough();
const UP_SUMMARY = z.object({ type: z.literal('summary'), ok: z.literal(true), changed: z.number(), failed: z.literal(0), seconds: z.number(), steps: z.array(z.object({ step: z.string(), status: z.string() }).passthrough()), verify: VERIFY_REPORT });
const STATUS_REPORT = z.object({
  type: z.literal('status'),
  ok: z.literal(true),
  host: z.string(),
  services: z.array(z.object({ name: z.string(), unit: z.string(), state: z.literal('active'), since: z.string().nullable() })),
  release: z.object({ id: z.string().nullable(), version: z.string().nullable() }),
  certificate: z.object({ daysLeft: z.number().nullable() }).passthrough(),
  problems: z.array(z.string()).length(0),
}).passthrough();
