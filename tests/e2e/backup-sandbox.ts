import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChatClient } from '../../app/src/chat-client.js';
import { mintToken } from '../../app/src/token.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { quickVerifyOptions, runVerify } from '../../src/verify/index.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { startResticServer, type ResticServer } from '../helpers/restic-server.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * Backups end to end, on real restic and MariaDB, with the repository off the host (restic's REST
 * protocol served by rclone on this machine's loopback, which the guest shares): `up` with a backup
 * section → messages through the chat → `backup now` → the sandbox destroyed → a fresh one → `up` →
 * `backup restore` → every message back in the chat's history. Then the failure paths: a dump that
 * fails (MariaDB stopped) leaves no snapshot and a failed unit, a corrupted repository fails the
 * drill; the live site serves after each.
 */
export function backupSuite(sb: SandboxHandle): void {
  let server: ResticServer;
  let dir: string;
  let stackFile: string;
  const room = 'backup-e2e';
  const sent: Array<{ id: number; text: string }> = [];
  const withStack = () => ['--sandbox', '--stack', stackFile];

  beforeAll(async () => {
    server = await startResticServer();
    dir = mkdtempSync(join(tmpdir(), 'mi-backup-e2e-'));
    writeFileSync(join(dir, 'restic.pw'), 'correct horse battery staple, for the e2e repository\n', { mode: 0o600 });
    stackFile = join(dir, 'stack.yaml');
    writeFileSync(stackFile, stringify({ tier: 'mvp', backup: { repository: server.url, password: { file: './restic.pw' }, schedule: '03:30', keep: { daily: 7, weekly: 4, monthly: 6 } } }));
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  async function jwtSecret(): Promise<string> {
    return (await sb.ssh(['sed', '-n', 's/^MESSENGER_JWT_SECRET=//p', HOST_PATHS.secretsEnvFile])).stdout.trim();
  }

  async function chat(user: string): Promise<ChatClient> {
    const info = sb.info;
    const target = parseTarget({ url: `wss://${info.domain}/ws`, resolve: { host: info.domain, port: 443, address: '127.0.0.1' } });
    return ChatClient.connect({
      url: `wss://${info.domain}/ws`,
      token: await mintToken(await jwtSecret(), user, 300),
      lookup: targetLookup(target),
      servername: info.domain,
      ca: readFileSync(info.verifyCaPath, 'utf8'),
      timeoutMs: 10_000,
    });
  }

  async function stillServing(): Promise<void> {
    const report = await runVerify(quickVerifyOptions({ domain: sb.info.domain, address: '127.0.0.1', caPath: sb.info.verifyCaPath, jwtSecret: await jwtSecret() }));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  }

  async function up(): Promise<void> {
    const result = await runCli(['up', ...withStack(), '--json'], { timeoutMs: 600_000 });
    const events = jsonLines(result.stdout);
    const backup = events.find((e) => e.type === 'step' && e.step === 'backup' && e.status !== 'check');
    expect(result.code, result.stderr + result.stdout.slice(-3000)).toBe(0);
    expect(backup?.status).toBe('changed');
    // The repository's password and URL credentials never appear in what up prints.
    expect(result.stdout + result.stderr).not.toContain(server.password);
  }

  it('up with a backup section: restic installed, settings 0600, the repository initialised, both timers on', async () => {
    await up();
    expect((await sb.ssh(['stat', '-c', '%a', '/etc/messenger-chat/backup/env'])).stdout.trim()).toBe('600');
    for (const timer of ['messenger-backup.timer', 'messenger-backup-drill.timer']) {
      expect((await sb.ssh(['systemctl', 'is-enabled', timer])).stdout.trim()).toBe('enabled');
      expect((await sb.ssh(['systemctl', 'is-active', timer])).stdout.trim()).toBe('active');
    }
    // Initialised off the host: restic's config object is in the server's folder.
    expect(readdirSync(server.dataDir())).toContain('config');
    const again = await runCli(['plan', ...withStack(), '--json']);
    const plan = jsonLines(again.stdout)[0] as { changes: number; backup?: unknown };
    expect(plan.changes, again.stdout).toBe(0);
  }, 600_000);

  it('backup now: the chat\'s messages in a good snapshot; list and drill see it; plan shows its age', async () => {
    const alice = await chat('alice');
    try {
      await alice.join(room);
      for (let i = 0; i < 40; i++) {
        const text = `message ${i} before the disaster 🛟 ${'x'.repeat(i)}`;
        sent.push({ id: (await alice.send(room, text)).id, text });
      }
    } finally {
      alice.close();
    }
    const now = await runCli(['backup', 'now', ...withStack(), '--json']);
    expect(now.code, now.stderr).toBe(0);
    const [doc] = jsonLines(now.stdout) as Array<{ snapshots: Array<{ id: string; database: string; rows: number; tables: number }> }>;
    expect(doc!.snapshots).toHaveLength(1);
    expect(doc!.snapshots[0]).toMatchObject({ database: 'messenger_chat' });
    expect(doc!.snapshots[0]!.rows).toBeGreaterThanOrEqual(40);

    const list = await runCli(['backup', 'list', ...withStack(), '--json']);
    expect(list.code, list.stderr).toBe(0);
    const snaps = (jsonLines(list.stdout)[0] as { snapshots: Array<{ id: string; ok: boolean; reason?: string }> }).snapshots;
    expect(snaps.filter((s) => s.ok).map((s) => s.id)).toContain(doc!.snapshots[0]!.id);

    const drill = await runCli(['backup', 'drill', ...withStack()]);
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.stdout).toMatch(/drill ok \S+ messenger_chat \d+ \d+/);
    // The drill's scratch database is gone.
    expect((await sb.ssh(['mariadb', '-N', '-e', '"SHOW DATABASES"'])).stdout).not.toMatch(/mi_drill_|mi_load_|mi_old_/);

    const plan = await runCli(['plan', ...withStack()]);
    expect(plan.stdout).toMatch(/^backups: last backup: ok \d+ s ago/m);
    expect(plan.stdout).toMatch(/^backups: last drill: ok/m);
  }, 300_000);

  it('a dump that fails (MariaDB stopped) makes no snapshot and fails the unit with a named error; the site serves again after', async () => {
    const before = await runCli(['backup', 'list', ...withStack(), '--json']);
    const goodBefore = (jsonLines(before.stdout)[0] as { snapshots: Array<{ ok: boolean }> }).snapshots.filter((s) => s.ok).length;
    expect((await sb.ssh(['systemctl', 'stop', 'mariadb'])).code).toBe(0);
    try {
      const run = await sb.ssh(['systemctl', 'start', 'messenger-backup.service'], 300_000);
      expect(run.code).not.toBe(0);
      expect((await sb.ssh(['systemctl', 'is-failed', 'messenger-backup.service'])).stdout.trim()).toBe('failed');
      const journal = (await sb.ssh(['journalctl', '-u', 'messenger-backup.service', '-n', '30', '--no-pager'])).stdout;
      expect(journal).toMatch(/the backup of messenger_chat failed, no snapshot kept: .*(mariadb|connect|socket)/i);
      const cli = await runCli(['backup', 'now', ...withStack()]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/^error: .*backing up .* failed: .*/m);
    } finally {
      expect((await sb.ssh(['systemctl', 'start', 'mariadb'])).code).toBe(0);
    }
    const after = await runCli(['backup', 'list', ...withStack(), '--json']);
    const snaps = (jsonLines(after.stdout)[0] as { snapshots: Array<{ ok: boolean }> }).snapshots;
    expect(snaps.filter((s) => s.ok)).toHaveLength(goodBefore);
    // A snapshot that is not marked good is not left behind either.
    expect(snaps.filter((s) => !s.ok)).toEqual([]);
    const plan = await runCli(['plan', ...withStack()]);
    expect(plan.stdout).toMatch(/^backups: last backup: FAILED/m);
    await sb.ssh(['systemctl', 'reset-failed', 'messenger-backup.service']);
    await stillServing();
  }, 600_000);

  it('the host destroyed: a fresh server, up, backup restore, and every message is back in the chat\'s history', async () => {
    await sb.replace();
    await up();
    const fresh = await chat('bob');
    try {
      await fresh.join(room);
      expect((await fresh.history(room, { after: 0, limit: 100 })).messages).toHaveLength(0);
    } finally {
      fresh.close();
    }
    // Over the live database without a terminal: --yes is required.
    const refused = await runCli(['backup', 'restore', ...withStack()]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: --yes: is required to restore over the live database/m);

    const restore = await runCli(['backup', 'restore', ...withStack(), '--yes', '--json'], { timeoutMs: 600_000 });
    expect(restore.code, restore.stderr).toBe(0);
    const doc = jsonLines(restore.stdout)[0] as { tables: Array<{ name: string; rows: number }> };
    expect(doc.tables.find((t) => t.name === 'messages')?.rows).toBeGreaterThanOrEqual(40);

    const carol = await chat('carol');
    try {
      await carol.join(room);
      const { messages } = await carol.history(room, { after: 0, limit: 100 });
      expect(messages.map((m) => ({ id: m.id, text: m.text }))).toEqual(sent);
      // And the chat goes on after them.
      const ack = await carol.send(room, 'after the restore');
      expect(ack.id).toBeGreaterThan(Math.max(...sent.map((s) => s.id)));
    } finally {
      carol.close();
    }
    await stillServing();
  }, 900_000);

  it('a drill against a corrupted repository fails loudly; the site still serves', async () => {
    const data = join(server.dataDir(), 'data');
    const packs = readdirSync(data, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    expect(packs.length).toBeGreaterThan(0);
    for (const pack of packs) {
      // Flip bytes in the middle of every pack: what bit rot or a broken disk on the backup server does.
      const fd = openSync(pack, 'r+');
      writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, Math.floor(statSync(pack).size / 2));
      closeSync(fd);
    }
    const drill = await runCli(['backup', 'drill', ...withStack()]);
    expect(drill.code).not.toBe(0);
    expect(drill.stderr).toMatch(/^error: the restore drill on .* failed: .+/m);
    const plan = await runCli(['plan', ...withStack()]);
    expect(plan.stdout).toMatch(/^warning: the last restore drill failed/m);
    await stillServing();
  }, 300_000);
}

