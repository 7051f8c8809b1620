/**
 * `up` for a stack of two servers on a two-guest sandbox: the edge with the chat server on one, MariaDB
 * and Redis on the other, over the sandbox's private network. Real apt installs, real certbot against
 * Pebble, real WebSocket checks through the edge; every address is loopback or inside the namespaces
 * the sandbox made.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../../src/sandbox/exec.js';
import { sandboxDown, sandboxStatus, sshArgv, type SandboxHost, type SandboxInfo } from '../../src/sandbox/index.js';
import { procsInPidNamespace } from '../../src/sandbox/procs.js';
import { readState } from '../../src/sandbox/state.js';
import { jsonLines, runCli, type CliResult } from '../helpers/cli.js';

const STACK = `tier: mvp
servers:
  web: {}
  db: {}
hosts:
  edge: web
  app: [web]
  db: db
`;

describe('up --sandbox for a stack of two servers: the edge and app on one, the database on the other', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mi-multi-'));
  const stackFile = join(dir, 'two.yaml');
  let first: CliResult;
  let info: SandboxInfo;
  let web: SandboxHost;
  let db: SandboxHost;
  const on = (h: SandboxHost, remote: string) => runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, [remote], 5, h.sshPort), { timeoutMs: 120_000 });
  const up = (...extra: string[]) => runCli(['up', '--sandbox', '--stack', stackFile, ...extra], { timeoutMs: 600_000 });
  const summaryOf = (r: CliResult) => jsonLines(r.stdout).find((l) => l.type === 'summary') as { ok: boolean; changed: number; steps: { step: string; status: string }[]; verify?: { exitCode: number } };
  const healthz = () =>
    runRaw(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--resolve', `${info.domain}:443:127.0.0.1`, '--cacert', info.verifyCaPath, `https://${info.domain}/readyz`]);

  beforeAll(async () => {
    writeFileSync(stackFile, STACK);
    await sandboxDown();
    first = await up('--json');
    const status = await sandboxStatus();
    if (!status) throw new Error(`no sandbox after up: ${first.stderr.slice(-2000)}`);
    info = status;
    [web, db] = info.hosts as [SandboxHost, SandboxHost];
  }, 900_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (process.env.MI_KEEP_SANDBOX !== '1') await sandboxDown();
  }, 120_000);

  it('boots a guest per server and converges both, each step named with its server, then verifies through the edge', () => {
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(info.hosts.map((h) => h.privateAddress)).toEqual(['198.18.0.11', '198.18.0.12']);
    const summary = summaryOf(first);
    expect(summary.ok).toBe(true);
    expect(summary.verify?.exitCode).toBe(0);
    const ran = (server: string) => summary.steps.filter((s) => s.step.startsWith(`${server}:`) && s.status !== 'skipped').map((s) => s.step.slice(server.length + 1));
    expect(ran('db')).toEqual(expect.arrayContaining(['packages', 'mariadb-config', 'secrets', 'redis', 'database', 'harden']));
    expect(ran('db')).not.toEqual(expect.arrayContaining(['nginx']));
    expect(ran('web')).toEqual(expect.arrayContaining(['packages', 'node', 'nginx', 'certificate', 'site', 'app']));
    expect(ran('web').some((s) => ['mariadb-config', 'database', 'redis'].includes(s))).toBe(false);
  });

  it('runs MariaDB and Redis on the db server only, for loopback and the app server, and the chat writes there', async () => {
    const dbSide = await on(db, "ss -Hltn '( sport = :3306 or sport = :6379 )' | awk '{print $4}' | sort; mariadb -N -e \"SELECT host FROM mysql.user WHERE user='messenger_chat' ORDER BY host; SELECT COUNT(*) > 0 FROM messenger_chat.messages\"; command -v nginx node || true");
    expect(dbSide.stdout.trim().split('\n')).toEqual([
      '127.0.0.1:3306', '127.0.0.1:6379', '198.18.0.12:3306', '198.18.0.12:6379',
      '127.0.0.1', '198.18.0.11', 'localhost',
      '1', // the closing check's messages are stored here
    ]);
    const webSide = await on(web, 'command -v mariadbd redis-server || true; grep -E "^MESSENGER_(DB_HOST|DB_PORT|DB_SOCKET|REDIS)=" /etc/messenger-chat/chat.env');
    expect(webSide.stdout.trim().split('\n')).toEqual(['MESSENGER_DB_HOST=198.18.0.12', 'MESSENGER_DB_PORT=3306', 'MESSENGER_REDIS=198.18.0.12:6379']);
  });

  it("holds the db server's passwords on the app server, the same values, 0600, and no JWT secret on the db server", async () => {
    const digest = (text: string) => createHash('sha256').update(text).digest('hex');
    // Only digests leave the guests' shells here, never a value.
    const read = (h: SandboxHost) => on(h, "stat -c '%a %U' /etc/messenger-chat/secrets.env; sed -n 's/^\\(MESSENGER_[A-Z_]*\\)=\\(.*\\)$/\\1 \\2/p' /etc/messenger-chat/secrets.env | while read -r k v; do printf '%s %s\\n' \"$k\" \"$(printf %s \"$v\" | sha256sum | cut -c1-64)\"; done");
    const [w, d] = await Promise.all([read(web), read(db)]);
    const parse = (out: string) => Object.fromEntries(out.trim().split('\n').slice(1).map((l) => l.split(' ') as [string, string]));
    expect(w.stdout.split('\n')[0]).toBe('600 root');
    expect(d.stdout.split('\n')[0]).toBe('600 root');
    const [ws, ds] = [parse(w.stdout), parse(d.stdout)];
    expect(Object.keys(ds).sort()).toEqual(['MESSENGER_DB_PASSWORD', 'MESSENGER_REDIS_PASSWORD']);
    expect(ws.MESSENGER_DB_PASSWORD).toBe(ds.MESSENGER_DB_PASSWORD);
    expect(ws.MESSENGER_REDIS_PASSWORD).toBe(ds.MESSENGER_REDIS_PASSWORD);
    expect(ws.MESSENGER_JWT_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(ws.MESSENGER_DB_PASSWORD).not.toBe(digest(''));
  });

  it('changes nothing on a second run, and plan shows each server with no changes', async () => {
    const again = await up('--json', '--no-verify');
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    expect(summaryOf(again).changed).toBe(0);
    const plan = await runCli(['plan', '--sandbox', '--stack', stackFile, '--json'], { timeoutMs: 300_000 });
    expect(plan.code, plan.stderr).toBe(0);
    const views = jsonLines(plan.stdout) as { server: string; host: string; changes: number }[];
    expect(views.map((v) => [v.server, v.host, v.changes])).toEqual([
      ['db', 'db (db) root@127.0.0.1:2223', 0],
      ['web', 'web (edge, app) root@127.0.0.1:2222', 0],
    ]);
  }, 600_000);

  it('fails naming the db server when it cannot be reached, changing nothing, and the live site keeps serving', async () => {
    // The same stack written out with the guests' addresses, as for servers that are not a sandbox:
    // `up --sandbox` would replace a sandbox whose guest stopped answering.
    const explicit = join(dir, 'explicit.yaml');
    const server = (h: SandboxHost) => ({ host: h.sshHost, privateAddress: h.privateAddress, ssh: { port: h.sshPort, key: info.sshKeyPath, knownHosts: info.knownHostsPath } });
    writeFileSync(explicit, JSON.stringify({
      tier: 'mvp', domain: info.domain, email: info.email,
      servers: { web: server(web), db: server(db) }, hosts: { edge: 'web', app: ['web'], db: 'db' },
      acme: { server: info.acmeDirectory, caBundle: info.acmeCaBundlePath }, verify: { ca: info.verifyCaPath },
    }));
    const converged = await runCli(['up', '--stack', explicit, '--json', '--no-verify'], { timeoutMs: 300_000 });
    expect(summaryOf(converged).changed, converged.stderr.slice(-2000)).toBe(0);

    // The db server's sshd stops (a server gone for the operator); MariaDB and Redis keep serving.
    const state = await readState();
    const ns = state?.guests[1]?.guestPidNs;
    const init = ns ? Math.min(...procsInPidNamespace(ns).map((p) => p.pid)) : NaN;
    expect(init).toBeGreaterThan(0);
    const inGuest = (...argv: string[]) => runRaw(['nsenter', '--target', String(init), '--mount', '--uts', '--ipc', '--net', '--pid', '--', ...argv], { timeoutMs: 30_000 });
    await on(db, 'systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh');
    try {
      const failed = await runCli(['up', '--stack', explicit, '--no-verify'], { timeoutMs: 300_000 });
      expect(failed.code).toBe(1);
      expect(failed.stderr.trim().split('\n').at(-1)).toMatch(/^error: .*127\.0\.0\.1:2223/);
      expect((await healthz()).stdout).toBe('200');
    } finally {
      const started = await inGuest('systemctl', 'start', 'ssh');
      expect(started.code, started.stderr).toBe(0);
    }
    expect((await on(db, 'echo back')).stdout.trim()).toBe('back');
    const after = await runCli(['up', '--stack', explicit, '--json', '--no-verify'], { timeoutMs: 300_000 });
    expect(summaryOf(after).changed, after.stderr.slice(-2000)).toBe(0);
    expect((await healthz()).stdout).toBe('200');
  }, 600_000);
});
