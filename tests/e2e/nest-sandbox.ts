import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { stringify } from 'yaml';
import { expect, it } from 'vitest';
import { HOST_PATHS, nodeDir } from '../../src/core/host-model.js';
import { NODE_RELEASE } from '../../src/core/versions.js';
import { parseTarget, targetLookup } from '../../src/verify/target.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * A user's own backend, the real NestJS fixture (tests/fixtures/nest-app: TypeORM + mysql2 with a
 * migration, a Socket.IO gateway, a health endpoint), deployed to a sandbox that runs the bundled
 * server: the switch to it, REST and Socket.IO (WebSocket and long-polling) through nginx + TLS, a
 * second deploy with a new version while clients stay connected, a rollback, and a broken build and a
 * failing migration that leave the live release serving.
 */
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'nest-app');
const JWT = 'nest-fixture-secret-0123456789abcdef';

export function nestSuite(sb: SandboxHandle): void {
  const work = mkdtempSync(join(tmpdir(), 'mi-nest-e2e-'));
  const env = { NEST_JWT_SECRET: JWT };

  /** A copy of the fixture (no node_modules/dist), changed by `edit`. */
  function project(name: string, edit: (dir: string) => void = () => {}): string {
    const dir = join(work, name);
    rmSync(dir, { recursive: true, force: true });
    cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)([/\\]|$)/.test(src) });
    // Git-ignored by the fixture: must never reach the host.
    writeFileSync(join(dir, 'notes.local'), 'private notes\n');
    writeFileSync(join(dir, '.env'), 'DB_PASSWORD=from-a-laptop\n');
    edit(dir);
    return dir;
  }

  function stack(source: string, version: string, more: { node?: { version: string; integrity: string }; env?: Record<string, string>; healthTimeoutSeconds?: number } = {}): string {
    const file = join(work, `stack-${version}${more.node ? `-node-${more.node.version}` : ''}.yaml`);
    writeFileSync(
      file,
      stringify({
        tier: 'mvp',
        domain: sb.info.domain,
        email: 'ops@messenger.test',
        app: {
          source,
          start: 'node dist/main.js',
          health: '/api/health',
          websocket: ['/socket.io/'],
          env: { APP_VERSION: version, NO_COLOR: 1, ...more.env },
          secrets: { JWT_SECRET: { env: 'NEST_JWT_SECRET' } },
          database: { name: 'nest_chat' },
          migrate: 'npm run migration:run',
          drainSeconds: 3,
          ...(more.healthTimeoutSeconds ? { healthTimeoutSeconds: more.healthTimeoutSeconds } : {}),
        },
        ...(more.node ? { node: more.node } : {}),
      }),
    );
    return file;
  }

  const deploy = (stackFile: string, verify = false) =>
    runCli(['deploy', '--sandbox', '--stack', stackFile, '--json', ...(verify ? [] : ['--no-verify'])], { env, timeoutMs: 600_000 });

  function agent(): Agent {
    const target = parseTarget({ url: `wss://${sb.info.domain}/`, resolve: { host: sb.info.domain, port: 443, address: '127.0.0.1' } });
    return new Agent({ lookup: targetLookup(target), ca: readFileSync(sb.info.verifyCaPath, 'utf8'), keepAlive: false });
  }

  /** GET or POST through nginx + TLS, as a browser would reach the domain. */
  function https(path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        { host: sb.info.domain, path, method: data ? 'POST' : 'GET', agent: agent(), headers: data ? { 'content-type': 'application/json' } : {}, timeout: 10_000 },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            let json: unknown = text;
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
      req.end(data);
    });
  }

  function socket(transports: Array<'websocket' | 'polling'>): Promise<Socket> {
    const s = io(`https://${sb.info.domain}`, { transports, agent: agent() as never, reconnectionDelay: 100, reconnectionDelayMax: 1000, timeout: 10_000 });
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  }

  const summaryOf = (stdout: string) => jsonLines(stdout).find((e) => e.type === 'summary') as { ok: boolean; steps: Array<{ step: string; status: string; code?: string; reason?: string }> } | undefined;
  const liveVersion = async () => ((await https('/api/health')).json as { version?: string }).version;

  it('deploy switches a bundled-server host to the NestJS app: migrated, health-gated, REST and Socket.IO through nginx + TLS', async () => {
    const result = await deploy(stack(project('v1'), '1.0.0'), true);
    const summary = summaryOf(result.stdout) as (ReturnType<typeof summaryOf> & { verify?: { exitCode: number; checks: Array<{ id: string; status: string }> } }) | undefined;
    expect(summary?.ok, result.stdout + result.stderr).toBe(true);
    // The closing check adapts: the declared health path and Socket.IO's own handshakes pass, the chat-protocol checks do not apply.
    const checks = Object.fromEntries((summary?.verify?.checks ?? []).map((c) => [c.id, c.status]));
    expect(checks).toMatchObject({ 'app.health': 'pass', 'app.sio.websocket:/socket.io/': 'pass', 'app.sio.polling:/socket.io/': 'pass', 'msg.broadcast': 'skip' });
    expect(await https('/api/health')).toEqual({ status: 200, json: { status: 'ok', version: '1.0.0', node: NODE_RELEASE.version } });
    // The migration ran as the app's user, in its own database.
    const tables = await sb.ssh(['mariadb', '-N', '-B', '-e', '"SHOW TABLES FROM nest_chat"']);
    expect(tables.stdout).toMatch(/^messages$/m);
    // Ignored files and .env never left this machine; the build's output exists only on the host.
    const release = (await sb.ssh(['readlink', HOST_PATHS.appCurrent])).stdout.trim();
    const listing = (await sb.ssh(['ls', '-a', release])).stdout.split('\n');
    expect(listing).not.toContain('notes.local');
    expect(listing).not.toContain('.env');
    expect(listing).toContain('dist');
    // Pruned to production dependencies, and the code belongs to root (the app cannot rewrite it).
    expect((await sb.ssh(['test', '-e', `${release}/node_modules/typescript`, '&&', 'echo', 'dev', '||', 'echo', 'pruned'])).stdout.trim()).toBe('pruned');
    expect((await sb.ssh(['stat', '-c', '%U', `${release}/dist/main.js`])).stdout.trim()).toBe('root');
    // The secrets reach the app through its 0600 file only; the password never crossed the wire.
    expect((await sb.ssh(['stat', '-c', '%a', HOST_PATHS.appSecretsFile])).stdout.trim()).toBe('600');
    expect(result.stdout + result.stderr).not.toContain(JWT);

    const created = await https('/api/messages', { room: 'e2e', text: 'héllo 😀' });
    expect(created.status).toBe(201);
    expect((await https('/api/messages?room=e2e')).json).toEqual(expect.arrayContaining([expect.objectContaining({ text: 'héllo 😀' })]));

    const viaWs = await socket(['websocket']);
    const viaPolling = await socket(['polling']);
    try {
      expect(viaWs.io.engine.transport.name).toBe('websocket');
      expect(viaPolling.io.engine.transport.name).toBe('polling');
      await viaWs.emitWithAck('join', 'e2e');
      await viaPolling.emitWithAck('join', 'e2e');
      const heard = new Promise<{ text: string }>((resolve) => viaPolling.once('message', resolve));
      const ack = (await viaWs.timeout(10_000).emitWithAck('send', { room: 'e2e', text: 'over socket.io' })) as { id: number };
      expect(ack.id).toBeGreaterThan(0);
      expect(await heard).toMatchObject({ text: 'over socket.io' });
    } finally {
      viaWs.close();
      viaPolling.close();
    }
  }, 600_000);

  it('a second deploy with a new version switches while Socket.IO clients stay served; releases lists both', async () => {
    const client = await socket(['websocket']);
    let disconnects = 0;
    client.on('disconnect', () => (disconnects += 1));
    // /api/health polled every 50 ms through nginx for the whole deploy: never a non-2xx.
    const polls: number[] = [];
    let polling = true;
    const poller = (async () => {
      for (let i = 0; polling && i < 2400; i++) {
        polls.push((await https('/api/health').catch(() => ({ status: 0 }))).status);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const result = await deploy(stack(project('v2'), '2.0.0'));
      expect(summaryOf(result.stdout)?.ok, result.stdout + result.stderr).toBe(true);
      expect(await liveVersion()).toBe('2.0.0');
    } finally {
      polling = false;
      await poller;
    }
    expect(polls.length).toBeGreaterThan(20);
    expect(polls.filter((s) => s < 200 || s >= 300)).toEqual([]);
    // The old release keeps its sockets for drainSeconds, then SIGTERM: the client reconnects to the new one.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(client.connected).toBe(true);
    expect(((await client.timeout(5_000).emitWithAck('version')) as string)).toBe('2.0.0');
    console.log(`Socket.IO client: ${disconnects} disconnect(s) during the deploy and drain, ${polls.length} health polls all 2xx`);
    client.close();

    const listed = await runCli(['releases', '--sandbox', '--stack', stack(project('v2'), '2.0.0'), '--json'], { env });
    const { releases } = jsonLines(listed.stdout)[0] as { releases: Array<{ id: string; version: string; live: boolean }> };
    expect(releases.filter((r) => r.version === '2.0.0' || r.version === '1.0.0').map((r) => [r.version, r.live])).toEqual([
      ['2.0.0', true],
      ['1.0.0', false],
    ]);
  }, 600_000);

  it('a broken build stops the deploy with MI_ERR_BUILD_FAILED and its output; the live release keeps serving', async () => {
    const broken = project('broken-build', (dir) => writeFileSync(join(dir, 'src', 'broken.ts'), 'export const x: number = "not a number";\n'));
    const result = await deploy(stack(broken, '3.0.0-broken'));
    const failed = summaryOf(result.stdout)?.steps.find((s) => s.status === 'failed');
    expect(failed, result.stdout).toMatchObject({ step: 'app-build', code: 'MI_ERR_BUILD_FAILED' });
    expect(failed?.reason).toMatch(/TS2322|not assignable/);
    expect(result.code).toBe(1);
    expect(await liveVersion()).toBe('2.0.0');
  }, 600_000);

  it('a failing migration is never followed by a switch: MI_ERR_MIGRATION_FAILED, the live release keeps serving', async () => {
    const failing = project('bad-migration', (dir) => {
      writeFileSync(
        join(dir, 'src', 'migrations', '1767312000000-Broken.ts'),
        "import type { MigrationInterface, QueryRunner } from 'typeorm';\nexport class Broken1767312000000 implements MigrationInterface {\n  async up(q: QueryRunner): Promise<void> {\n    await q.query('ALTER TABLE no_such_table ADD COLUMN x INT');\n  }\n  async down(): Promise<void> {}\n}\n",
      );
      // The fixture lists its migrations explicitly, as many Nest projects do.
      const db = join(dir, 'src', 'database.ts');
      writeFileSync(
        db,
        `import { Broken1767312000000 } from './migrations/1767312000000-Broken';\n${readFileSync(db, 'utf8').replace('migrations: [CreateMessages1767225600000]', 'migrations: [CreateMessages1767225600000, Broken1767312000000]')}`,
      );
    });
    const result = await deploy(stack(failing, '4.0.0-bad-migration'));
    const failed = summaryOf(result.stdout)?.steps.find((s) => s.status === 'failed');
    expect(failed, result.stdout).toMatchObject({ step: 'app', code: 'MI_ERR_MIGRATION_FAILED' });
    expect(failed?.reason).toMatch(/no_such_table/);
    expect(await liveVersion()).toBe('2.0.0');
    expect((await sb.ssh(['cat', HOST_PATHS.liveUpstream])).stdout).toMatch(/^server 127\.0\.0\.1:\d+/);
  }, 600_000);

  it('rollback puts the previous release live through the same switch, and says the schema stays newer', async () => {
    const result = await runCli(['rollback', '--sandbox', '--stack', stack(project('v2'), '2.0.0'), '--json', '--no-verify'], { env, timeoutMs: 300_000 });
    const summary = summaryOf(result.stdout);
    expect(summary?.ok, result.stdout + result.stderr).toBe(true);
    const changes = (summary?.steps.find((s) => s.step === 'app') as { changes?: string[] } | undefined)?.changes ?? [];
    expect(changes.join('\n')).toMatch(/ran migrations after .*forward-only/);
    // The stack's env still says 2.0.0; the code is the 1.0.0 release's: its manifest says so.
    const current = (await sb.ssh(['cat', `${HOST_PATHS.appCurrent}/.mi-manifest.json`])).stdout;
    expect(JSON.parse(current)).toMatchObject({ version: '1.0.0', kind: 'source' });
    expect((await https('/api/health')).status).toBe(200);
  }, 300_000);

  /** Another real Node.js release from the npm registry (x64, as the sandbox is). */
  const NEXT_NODE = { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' };
  /** The Node.js each running instance's process really is, from /proc. */
  const runningNodes = async () => {
    const pids = (await sb.ssh(['systemctl', 'show', '-p', 'MainPID', '--value', 'messenger-chat@3000', 'messenger-chat@3001'])).stdout.split('\n').filter((p) => p.trim() && p.trim() !== '0');
    return Promise.all(pids.map(async (pid) => (await sb.ssh(['readlink', '-f', `/proc/${pid.trim()}/exe`])).stdout.trim()));
  };
  const operatorsNode = async () => (await sb.ssh(['/usr/local/bin/node', '--version'])).stdout.trim();

  it('a Node.js upgrade that fails the health gate switches nothing: the live release keeps serving on the old Node.js, operators keep it too', async () => {
    expect(await operatorsNode()).toBe(`v${NODE_RELEASE.version}`);
    // This build refuses to be healthy on anything but the Node.js it was written for.
    const result = await deploy(stack(project('v2'), '2.0.0', { node: NEXT_NODE, env: { REQUIRES_NODE: NODE_RELEASE.version }, healthTimeoutSeconds: 15 }));
    const failed = summaryOf(result.stdout)?.steps.find((s) => s.status === 'failed');
    expect(failed, result.stdout + result.stderr).toMatchObject({ step: 'app', code: 'MI_ERR_HEALTH_GATE' });
    // The new Node.js is on the host, beside the old one; nothing runs it.
    expect((await sb.ssh([`${nodeDir(NEXT_NODE.version)}/bin/node`, '--version'])).stdout.trim()).toBe(`v${NEXT_NODE.version}`);
    expect(await https('/api/health')).toMatchObject({ status: 200, json: { node: NODE_RELEASE.version } });
    expect(await runningNodes()).toEqual([`${nodeDir(NODE_RELEASE.version)}/bin/node`]);
    expect((await sb.ssh(['readlink', HOST_PATHS.nodeCurrent])).stdout.trim()).toBe(nodeDir(NODE_RELEASE.version));
    expect(await operatorsNode()).toBe(`v${NODE_RELEASE.version}`);
  }, 600_000);

  it('a Node.js upgrade that passes goes live with its release; a rollback runs the older release on its own Node.js again', async () => {
    const result = await deploy(stack(project('v2'), '2.0.0', { node: NEXT_NODE }));
    expect(summaryOf(result.stdout)?.ok, result.stdout + result.stderr).toBe(true);
    expect(await https('/api/health')).toMatchObject({ status: 200, json: { version: '2.0.0', node: NEXT_NODE.version } });
    expect((await sb.ssh(['readlink', HOST_PATHS.nodeCurrent])).stdout.trim()).toBe(nodeDir(NEXT_NODE.version));
    expect(await operatorsNode()).toBe(`v${NEXT_NODE.version}`);
    const listed = await runCli(['releases', '--sandbox', '--stack', stack(project('v2'), '2.0.0', { node: NEXT_NODE }), '--json'], { env });
    const { releases } = jsonLines(listed.stdout)[0] as { releases: Array<{ version: string; node: string | null; live: boolean }> };
    expect(releases.find((r) => r.live)).toMatchObject({ version: '2.0.0', node: NEXT_NODE.version });

    const back = await runCli(['rollback', '--sandbox', '--stack', stack(project('v2'), '2.0.0', { node: NEXT_NODE }), '--json', '--no-verify'], { env, timeoutMs: 300_000 });
    expect(summaryOf(back.stdout)?.ok, back.stdout + back.stderr).toBe(true);
    // The stack now names the new Node.js; the older release runs on the one it was built with.
    expect(await https('/api/health')).toMatchObject({ status: 200, json: { node: NODE_RELEASE.version } });
    expect((await sb.ssh(['readlink', HOST_PATHS.nodeCurrent])).stdout.trim()).toBe(nodeDir(NODE_RELEASE.version));
    // Both versions stay while kept releases run on them.
    expect((await sb.ssh(['ls', HOST_PATHS.nodeRoot])).stdout.split('\n')).toEqual(expect.arrayContaining([NODE_RELEASE.version, NEXT_NODE.version]));
  }, 600_000);
}
