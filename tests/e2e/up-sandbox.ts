import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { ChatClient } from '../../app/src/chat-client.js';
import { mintToken } from '../../app/src/token.js';
import type { SandboxOs } from '../../src/sandbox/index.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { hardenSuite, lynisBaseline } from './harden-sandbox.js';
import { useSandbox, type SandboxHandle } from '../helpers/sandbox.js';

/** The ports of nginx's live upstream on the guest. */
async function livePorts(sb: SandboxHandle): Promise<number[]> {
  return [...(await sb.ssh(['cat', '/etc/nginx/messenger-chat-upstream.inc'])).stdout.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

/**
 * The same host grown to the scale tier in place (three instances a slot on the Redis bus), clients
 * spread over them by nginx hear each other, then back to mvp (the stale instances stopped).
 */
function scaleTier(sb: SandboxHandle, os: SandboxOs): void {
  it('grows to the scale tier in place: three instances on one Redis bus, clients nginx spreads over them hear each other; then back to mvp', async () => {
    const up = await runCli(['up', '--sandbox', '--os', os, '--tier', 'scale', '--json'], { timeoutMs: 300_000 });
    expect(up.code, up.stderr + up.stdout.slice(-2000)).toBe(0);
    const ports = await livePorts(sb);
    expect(ports).toHaveLength(3);
    for (const p of ports) expect(JSON.parse((await sb.ssh(['curl', '-fsS', `http://127.0.0.1:${p}/readyz`])).stdout)).toMatchObject({ status: 'ready', bus: 'up' });
    expect((await sb.ssh(['grep', "'^maxmemory '", '/etc/redis/redis.conf'])).stdout.trim()).toBe('maxmemory 128mb');
    // Redis reads its folder but cannot add to it; the password file is Redis' alone.
    expect((await sb.ssh(['stat', '-c', "'%a %U:%G %n'", '/etc/redis', '/etc/redis/redis.conf', '/etc/redis/messenger-users.conf'])).stdout.trim().split('\n'))
      .toEqual(['750 root:redis /etc/redis', '640 redis:redis /etc/redis/redis.conf', '600 redis:redis /etc/redis/messenger-users.conf']);
    expect((await sb.ssh(['redis-cli', 'ping'])).stdout.trim()).toMatch(/NOAUTH/);

    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', '/etc/messenger-chat/secrets.env'])).stdout.trim();
    const target = parseTarget({ url: `wss://${sb.info.domain}/ws`, resolve: { host: sb.info.domain, port: 443, address: '127.0.0.1' } });
    const clients = await Promise.all(Array.from({ length: 6 }, async (_, i) => ChatClient.connect({
      url: `wss://${sb.info.domain}/ws`, token: await mintToken(secret, `u${i}`, 300), lookup: targetLookup(target), servername: sb.info.domain, ca: readFileSync(sb.info.verifyCaPath, 'utf8'), timeoutMs: 10_000,
    })));
    try {
      for (const c of clients) await c.join('spread');
      const scrape = async (p: number) => (await sb.ssh(['curl', '-fsS', `http://127.0.0.1:${p}/metrics`])).stdout;
      const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      // nginx spread the six over more than one instance.
      const before = await Promise.all(ports.map(scrape));
      expect(before.filter((t) => sample(t, 'messenger_connections') > 0).length).toBeGreaterThan(1);
      const acks = [];
      for (const [i, c] of clients.entries()) acks.push(await c.send('spread', `from u${i}`));
      for (const c of clients) for (const a of acks) await c.waitForMessage({ id: a.id });
      const after = await Promise.all(ports.map(scrape));
      expect(after.reduce((n, t) => n + sample(t, 'messenger_bus_received_total'), 0)).toBeGreaterThan(0);
    } finally {
      for (const c of clients) c.close();
    }

    const back = await runCli(['up', '--sandbox', '--os', os, '--tier', 'mvp', '--no-verify'], { timeoutMs: 300_000 });
    expect(back.code, back.stderr + back.stdout.slice(-2000)).toBe(0);
    expect(await livePorts(sb)).toHaveLength(1);
    expect((await sb.ssh(['sh', '-c', "'systemctl list-units --state=active --no-legend messenger-chat@* | wc -l'"])).stdout.trim()).toBe('1');
    expect((await sb.ssh(['grep', "'^maxmemory '", '/etc/redis/redis.conf'])).stdout.trim()).toBe('maxmemory 32mb');
  }, 600_000);
}

/**
 * The main job end to end on a fresh sandbox VPS: `up --sandbox`, a second `up` that changes
 * nothing, then two WebSocket clients through nginx over TLS with the Pebble-issued certificate,
 * and the message found in MariaDB, then the host's hardening. Shared by the Debian 13 and Debian 12
 * test files (the Debian 12 one also scores the host with lynis, before and after).
 */
export function upSandboxSuite(os: SandboxOs, opts: { lynis?: boolean; scale?: boolean } = {}): SandboxHandle {
  const sb = useSandbox(os);
  const baseline: { index?: number } = {};
  if (opts.lynis) lynisBaseline(sb, baseline);

  it(`up --sandbox --tier mvp converges a fresh ${os} host and verifies it`, async () => {
    const first = await runCli(['up', '--sandbox', '--os', os, '--tier', 'mvp', '--json'], { timeoutMs: 600_000 });
    const events = jsonLines(first.stdout);
    type Summary = { ok: boolean; changed: number; seconds: number; verify: { exitCode: number; checks: Array<{ status: string }> } };
    const summary = events.find((e) => e.type === 'summary') as Summary | undefined;
    expect(first.stderr + first.stdout).not.toMatch(/MESSENGER_(DB_PASSWORD|JWT_SECRET)=/);
    expect(summary, first.stderr).toBeDefined();
    const failures = [...events.filter((e) => e.status === 'failed'), ...(summary?.verify?.checks ?? []).filter((c) => c.status === 'fail')];
    expect(summary!.ok, JSON.stringify(failures)).toBe(true);
    expect(summary!.changed).toBeGreaterThan(5);
    expect(summary!.verify.exitCode).toBe(0);
    expect(first.code).toBe(0);
    const skipped = events.filter((e) => e.status === 'skipped').map((e) => e.step);
    expect(skipped.sort()).toEqual(['backup', 'firewall', 'swap', 'sysctl']);
    console.log(`first up on ${os}: ${summary!.seconds.toFixed(1)} s`);
  }, 600_000);

  it('a second up changes nothing and says so', async () => {
    const second = await runCli(['up', '--sandbox', '--os', os, '--tier', 'mvp', '--no-verify']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^no changes: 12 ok, 0 changed, 0 failed, 4 skipped/m);
    const plan = await runCli(['plan', '--sandbox', '--os', os, '--tier', 'mvp', '--json']);
    const doc = jsonLines(plan.stdout)[0] as { changes: number; os: string; capacity: { clients: number; planned: number } };
    expect(doc).toMatchObject({ changes: 0, os });
    expect(doc.capacity.clients).toBeGreaterThan(1000);
  }, 120_000);

  it("nginx's workers hold the descriptors they were sized for: the host's hard limit read as a fact, not exceeded", async () => {
    const hard = Number((await sb.ssh(['sh', '-c', `"sed -n 's/^Max open files *[0-9]* *\\([0-9]*\\).*/\\1/p' /proc/1/limits"`])).stdout.trim());
    const configured = Number(/^worker_rlimit_nofile (\d+);$/m.exec((await sb.ssh(['cat', '/etc/nginx/nginx.conf'])).stdout)?.[1]);
    expect(configured).toBeLessThanOrEqual(hard);
    const workers = (await sb.ssh(['pgrep', '-f', "'nginx: worker'"])).stdout.trim().split('\n');
    for (const pid of workers) {
      const soft = (await sb.ssh(['sh', '-c', `"sed -n 's/^Max open files *\\([0-9]*\\).*/\\1/p' /proc/${pid}/limits"`])).stdout.trim();
      // Not the 1,024 nginx falls back to when worker_rlimit_nofile is above what it may set.
      expect(Number(soft)).toBe(configured);
    }
  }, 60_000);

  it('carries a message between two clients through nginx over TLS, stored in MariaDB', async () => {
    const info = sb.info;
    const secret = (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', '/etc/messenger-chat/secrets.env'])).stdout.trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    // Connect to the guest's nginx on loopback with the domain as SNI and Host, as before DNS exists.
    const target = parseTarget({ url: `wss://${info.domain}/ws`, resolve: { host: info.domain, port: 443, address: '127.0.0.1' } });
    const connect = async (user: string) =>
      ChatClient.connect({
        url: `wss://${info.domain}/ws`,
        token: await mintToken(secret, user, 300),
        lookup: targetLookup(target),
        servername: info.domain,
        ca: readFileSync(info.verifyCaPath, 'utf8'),
        timeoutMs: 10_000,
      });
    const alice = await connect('alice');
    const bob = await connect('bob');
    try {
      await alice.join('e2e');
      await bob.join('e2e');
      const text = `hello from ${os} ${Date.now()}`;
      const ack = await alice.send('e2e', text);
      const got = await bob.waitForMessage({ id: ack.id });
      expect(got).toMatchObject({ room: 'e2e', user: 'alice', text });
      const row = await sb.ssh(['mariadb', '-N', '-B', '-e', `"SELECT user, text FROM messenger_chat.messages WHERE id=${ack.id}"`]);
      expect(row.stdout.trim()).toBe(`alice\t${text}`);
    } finally {
      alice.close();
      bob.close();
    }
  }, 60_000);

  if (opts.scale) scaleTier(sb, os);
  hardenSuite(sb, os, opts.lynis ? baseline : undefined);
  return sb;
}
