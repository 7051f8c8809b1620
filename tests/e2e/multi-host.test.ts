/**
 * `up` for a stack of three servers on a three-guest sandbox: the edge with the chat server, a second
 * app server behind it, and MariaDB with Redis on the third, over the sandbox's private network. Real
 * apt installs, real certbot against Pebble, real WebSockets through the edge; every address is
 * loopback or inside the namespaces the sandbox made.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../app/src/chat-client.js';
import { ReconnectingChatClient } from '../../app/src/reconnecting-client.js';
import { mintToken } from '../../app/src/token.js';
import { runRaw } from '../../src/sandbox/exec.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';
import { sandboxDown, sandboxStatus, sshArgv, type SandboxHost, type SandboxInfo } from '../../src/sandbox/index.js';
import { procsInPidNamespace } from '../../src/sandbox/procs.js';
import { readState } from '../../src/sandbox/state.js';
import { jsonLines, runCli, type CliResult } from '../helpers/cli.js';

/** Polls `ok` every 100 ms until it holds; fails after `ms`. */
async function waitFor(ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const STACK = `tier: mvp
servers:
  web: {}
  app2: {}
  db: {}
hosts:
  edge: web
  app: [web, app2]
  db: db
`;

describe('up --sandbox for a stack of three servers: the edge and an app server in front, the database behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mi-multi-'));
  const stackFile = join(dir, 'two.yaml');
  let first: CliResult;
  let info: SandboxInfo;
  let web: SandboxHost;
  let app2: SandboxHost;
  let db: SandboxHost;
  const on = (h: SandboxHost, remote: string) => runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, [remote], 5, h.sshPort), { timeoutMs: 120_000 });
  const up = (...extra: string[]) => runCli(['up', '--sandbox', '--stack', stackFile, ...extra], { timeoutMs: 600_000 });
  const summaryOf = (r: CliResult) => jsonLines(r.stdout).find((l) => l.type === 'summary') as { ok: boolean; changed: number; steps: { step: string; status: string }[]; verify?: { exitCode: number } };
  /** WebSocket connections the server's live instance holds (the mvp tier runs one, on 3000 or 3001). */
  const appConnections = async (h: SandboxHost) => {
    const metrics = await on(h, 'curl -fsS http://127.0.0.1:3000/metrics 2>/dev/null || curl -fsS http://127.0.0.1:3001/metrics');
    return Number(/^messenger_connections (\S+)$/m.exec(metrics.stdout)?.[1] ?? NaN);
  };
  const healthz = () =>
    runRaw(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--resolve', `${info.domain}:443:127.0.0.1`, '--cacert', info.verifyCaPath, `https://${info.domain}/readyz`]);

  beforeAll(async () => {
    writeFileSync(stackFile, STACK);
    await sandboxDown();
    first = await up('--json');
    const status = await sandboxStatus();
    if (!status) throw new Error(`no sandbox after up: ${first.stderr.slice(-2000)}`);
    info = status;
    [web, app2, db] = info.hosts as [SandboxHost, SandboxHost, SandboxHost];
  }, 900_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (process.env.MI_KEEP_SANDBOX !== '1') await sandboxDown();
  }, 120_000);

  it('boots a guest per server and converges all three, each step named with its server, then verifies through the edge', () => {
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(info.hosts.map((h) => h.privateAddress)).toEqual(['198.18.0.11', '198.18.0.12', '198.18.0.13']);
    const summary = summaryOf(first);
    expect(summary.ok).toBe(true);
    expect(summary.verify?.exitCode).toBe(0);
    const ran = (server: string) => summary.steps.filter((s) => s.step.startsWith(`${server}:`) && s.status !== 'skipped').map((s) => s.step.slice(server.length + 1));
    expect(ran('db')).toEqual(expect.arrayContaining(['packages', 'mariadb-config', 'secrets', 'redis', 'database', 'harden']));
    expect(ran('db')).not.toEqual(expect.arrayContaining(['nginx']));
    expect(ran('web')).toEqual(expect.arrayContaining(['packages', 'node', 'nginx', 'certificate', 'site', 'app']));
    expect(ran('web').some((s) => ['mariadb-config', 'database', 'redis'].includes(s))).toBe(false);
    expect(ran('app2')).toEqual(expect.arrayContaining(['packages', 'node', 'nginx', 'site', 'app']));
    expect(ran('app2')).not.toContain('certificate');
  });

  it('runs MariaDB and Redis on the db server only, for loopback and the app servers, and the chat writes there', async () => {
    const dbSide = await on(db, "ss -Hltn '( sport = :3306 or sport = :6379 )' | awk '{print $4}' | sort; mariadb -N -e \"SELECT host FROM mysql.user WHERE user='messenger_chat' ORDER BY host; SELECT COUNT(*) > 0 FROM messenger_chat.messages\"; command -v nginx node || true");
    expect(dbSide.stdout.trim().split('\n')).toEqual([
      '127.0.0.1:3306', '127.0.0.1:6379', '198.18.0.13:3306', '198.18.0.13:6379',
      '127.0.0.1', '198.18.0.11', '198.18.0.12', 'localhost',
      '1', // the closing check's messages are stored here
    ]);
    for (const h of [web, app2]) {
      const appSide = await on(h, 'command -v mariadbd redis-server || true; grep -E "^MESSENGER_(DB_HOST|DB_PORT|DB_SOCKET|REDIS)=" /etc/messenger-chat/chat.env');
      expect(appSide.stdout.trim().split('\n'), h.name).toEqual(['MESSENGER_DB_HOST=198.18.0.13', 'MESSENGER_DB_PORT=3306', 'MESSENGER_REDIS=198.18.0.13:6379']);
    }
    // The second app server: its site on its private address only, no certificate, no port 443.
    // (reuseport: one listening socket per nginx worker, hence sort -u)
    const site = await on(app2, "ss -Hltn | awk '{print $4}' | grep -E ':(80|443|8088)$' | sort -u; ls /etc/letsencrypt/live 2>&1 | head -1");
    expect(site.stdout.trim().split('\n')).toEqual(['198.18.0.12:8088', 'ls: cannot access \'/etc/letsencrypt/live\': No such file or directory']);
  });

  it('spreads clients over both app servers through the edge, and they hear each other through Redis', async () => {
    const tokenSecret = (await on(web, "sed -n 's/^MESSENGER_JWT_SECRET=//p' /etc/messenger-chat/secrets.env")).stdout.trim();
    const target = parseTarget({ url: `wss://${info.domain}/ws`, resolve: { host: info.domain, port: 443, address: '127.0.0.1' } });
    const ca = readFileSync(info.verifyCaPath, 'utf8');
    const connect = async (user: string) =>
      ChatClient.connect({ url: `wss://${info.domain}/ws`, token: await mintToken(tokenSecret, user, 300), lookup: targetLookup(target), servername: info.domain, ca, timeoutMs: 10_000 });
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(`spread-${i}`)));
    try {
      for (const c of clients) await c.join('across');
      const [onWeb, onApp2] = await Promise.all([appConnections(web), appConnections(app2)]);
      expect(onWeb + onApp2).toBeGreaterThanOrEqual(8);
      expect(onWeb, 'clients on the edge').toBeGreaterThan(0);
      expect(onApp2, 'clients on app2').toBeGreaterThan(0);
      const acks = [];
      for (const [i, c] of clients.entries()) acks.push(await c.send('across', `from ${i}`));
      for (const c of clients) for (const a of acks) await c.waitForMessage({ id: a.id });
    } finally {
      for (const c of clients) c.close();
    }
  }, 120_000);

  it("moves the second app server's clients to the edge within seconds when its instances stop, and back after up", async () => {
    const tokenSecret = (await on(web, "sed -n 's/^MESSENGER_JWT_SECRET=//p' /etc/messenger-chat/secrets.env")).stdout.trim();
    const target = parseTarget({ url: `wss://${info.domain}/ws`, resolve: { host: info.domain, port: 443, address: '127.0.0.1' } });
    const ca = readFileSync(info.verifyCaPath, 'utf8');
    const clients = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
      ReconnectingChatClient.connect({ url: `wss://${info.domain}/ws`, token: await mintToken(tokenSecret, `failover-${i}`, 600), lookup: targetLookup(target), servername: info.domain, ca, timeoutMs: 10_000, maxOutageMs: 30_000 })));
    try {
      for (const c of clients) await c.join('failover');
      const before = await appConnections(app2);
      expect(before, 'clients on app2 before the stop').toBeGreaterThan(0);
      const stopped = Date.now();
      await on(app2, "systemctl stop 'messenger-chat@*'");
      // Those on app2 are cut off and come back through the edge, which now skips app2 (502).
      await waitFor(() => clients.reduce((n, c) => n + c.stats().reconnects, 0) >= before, 30_000);
      const movedInMs = Date.now() - stopped;
      const ack = await clients[0]!.send('failover', 'after the stop');
      for (const c of clients) await waitFor(() => c.received.some((m) => m.id === ack.id), 10_000);
      expect(await appConnections(web)).toBeGreaterThanOrEqual(clients.length);
      console.log(`[failover] ${before} of ${clients.length} clients moved from app2 to the edge in ${movedInMs} ms; longest gap ${Math.max(...clients.map((c) => c.stats().longestGapMs))} ms`);
      expect((await healthz()).stdout).toBe('200');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      const back = await up('--json', '--no-verify');
      expect(back.code, back.stderr.slice(-2000)).toBe(0);
    }
    expect((await on(app2, 'systemctl is-active messenger-chat@3000')).stdout.trim()).toBe('active');
  }, 300_000);

  it("holds the db server's passwords and the edge's JWT secret on both app servers, 0600, and no JWT secret on the db server", async () => {
    const digest = (text: string) => createHash('sha256').update(text).digest('hex');
    // Only digests leave the guests' shells here, never a value.
    const read = (h: SandboxHost) => on(h, "stat -c '%a %U' /etc/messenger-chat/secrets.env; sed -n 's/^\\(MESSENGER_[A-Z_]*\\)=\\(.*\\)$/\\1 \\2/p' /etc/messenger-chat/secrets.env | while read -r k v; do printf '%s %s\\n' \"$k\" \"$(printf %s \"$v\" | sha256sum | cut -c1-64)\"; done");
    const [w, a, d] = await Promise.all([read(web), read(app2), read(db)]);
    const parse = (out: string) => Object.fromEntries(out.trim().split('\n').slice(1).map((l) => l.split(' ') as [string, string]));
    for (const r of [w, a, d]) expect(r.stdout.split('\n')[0]).toBe('600 root');
    const [ws, as, ds] = [parse(w.stdout), parse(a.stdout), parse(d.stdout)];
    expect(Object.keys(ds).sort()).toEqual(['MESSENGER_DB_PASSWORD', 'MESSENGER_REDIS_PASSWORD']);
    expect(ws).toEqual(as);
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
      ['db', 'db (db) root@127.0.0.1:2224', 0],
      ['web', 'web (edge, app) root@127.0.0.1:2222', 0],
      ['app2', 'app2 (app) root@127.0.0.1:2223', 0],
    ]);
  }, 600_000);

  it('fails naming the db server when it cannot be reached, changing nothing, and the live site keeps serving', async () => {
    // The same stack written out with the guests' addresses, as for servers that are not a sandbox:
    // `up --sandbox` would replace a sandbox whose guest stopped answering.
    const explicit = join(dir, 'explicit.yaml');
    const server = (h: SandboxHost) => ({ host: h.sshHost, privateAddress: h.privateAddress, ssh: { port: h.sshPort, key: info.sshKeyPath, knownHosts: info.knownHostsPath } });
    writeFileSync(explicit, JSON.stringify({
      tier: 'mvp', domain: info.domain, email: info.email,
      servers: { web: server(web), app2: server(app2), db: server(db) }, hosts: { edge: 'web', app: ['web', 'app2'], db: 'db' },
      acme: { server: info.acmeDirectory, caBundle: info.acmeCaBundlePath }, verify: { ca: info.verifyCaPath },
    }));
    const converged = await runCli(['up', '--stack', explicit, '--json', '--no-verify'], { timeoutMs: 300_000 });
    expect(summaryOf(converged).changed, converged.stderr.slice(-2000)).toBe(0);

    // The db server's sshd stops (a server gone for the operator); MariaDB and Redis keep serving.
    const state = await readState();
    const ns = state?.guests[2]?.guestPidNs;
    const init = ns ? Math.min(...procsInPidNamespace(ns).map((p) => p.pid)) : NaN;
    expect(init).toBeGreaterThan(0);
    const inGuest = (...argv: string[]) => runRaw(['nsenter', '--target', String(init), '--mount', '--uts', '--ipc', '--net', '--pid', '--', ...argv], { timeoutMs: 30_000 });
    await on(db, 'systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh');
    try {
      const failed = await runCli(['up', '--stack', explicit, '--no-verify'], { timeoutMs: 300_000 });
      expect(failed.code).toBe(1);
      expect(failed.stderr.trim().split('\n').at(-1)).toMatch(/^error: .*127\.0\.0\.1:2224/);
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
