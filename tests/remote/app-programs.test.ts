import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Command } from '../../src/core/command.js';
import type { Fact, FactValues } from '../../src/core/facts.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { parseReleases } from '../../src/core/release.js';
import { appBuildStep, appStep, releasesFact } from '../../src/core/steps/app.js';
import { appSecretsFact, appSecretsStep, secretsFact } from '../../src/core/steps/secrets.js';
import { redisStep } from '../../src/core/steps/redis.js';
import { gatherFacts } from '../../src/executor/gather.js';
import { appConverged, state, unitsText, type RawFacts } from '../core/step-fixtures.js';
import { LocalShellHost } from '../executor/fixtures.js';

/**
 * The commands the new app steps plan, run by the real remote programs on this machine with their
 * host paths moved into a temp folder (argv otherwise as planned), and read back through the facts
 * the steps plan from: what a step writes, the next plan finds converged.
 */
let dir: string;
let host: LocalShellHost;
/** Host path → its place under the temp folder. */
let moved: Array<[string, string]>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mi-app-programs-'));
  host = new LocalShellHost({ MI_RUN_DIR: join(dir, 'run') });
  moved = [
    [HOST_PATHS.appReleases, join(dir, 'releases')],
    [HOST_PATHS.appSecretsFile, join(dir, 'app-secrets.env')],
    [HOST_PATHS.secretsEnvFile, join(dir, 'secrets.env')],
    [HOST_PATHS.redisUsers, join(dir, 'redis-users.conf')],
  ];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const move = (arg: string) => moved.reduce((a, [from, to]) => (a.startsWith(from) ? to + a.slice(from.length) : a), arg);
const moveCommand = (c: Command): Command => ({ ...c, argv: c.argv.map(move) });
const moveFact = <T>(f: Fact<T>): Fact<T> => ({ ...f, query: f.query.map(move) });

function parsed(step: typeof appStep, d: ReturnType<typeof state>, raw: RawFacts): FactValues {
  return new Map(step.facts(d).map((f) => {
    const v = raw[f.id];
    const [stdout, code] = typeof v === 'string' ? [v, 0] : (v ?? ['', 1]);
    return [f.id, f.parse(stdout, code)] as const;
  }));
}

describe('app-build: unpack', () => {
  it('a planned upload becomes a complete release the releases fact names, so the next plan builds nothing', async () => {
    const d = state();
    const plan = appBuildStep.plan(parsed(appBuildStep, d, { 'app-user': '998\n', 'app-releases': '' }), d);
    expect(plan.commands.map((c) => c.argv[1])).toEqual(['unpack']);
    const res = await host.run(moveCommand(plan.commands[0]!));
    expect(res.code, res.stderr).toBe(0);
    const folder = join(dir, 'releases', d.release.newId);
    expect(readFileSync(join(folder, 'messenger-chat.mjs'), 'utf8')).toBe('console.log(1)\n');
    expect(existsSync(join(folder, '.complete'))).toBe(true);
    expect(statSync(folder).mode & 0o777).toBe(0o755);

    // An interrupted upload (no .complete) is not a release.
    mkdirSync(join(dir, 'releases', '20261101T000000Z-0123456789ab'));
    const facts = await gatherFacts(host, [moveFact(releasesFact)]);
    const { stdout } = facts.get(releasesFact.id) as { stdout: string };
    expect(parseReleases(stdout)).toEqual([{ id: d.release.newId, manifest: d.release.manifest }]);
    expect(appBuildStep.plan(new Map([...facts, ['app-user', { stdout: '998', code: 0 }]]), d).commands).toEqual([]);
  });
});

// `secret write` makes the file root's (chown root:root): as root only.
describe.skipIf(process.getuid?.() !== 0)('app-secrets: secret write', () => {
  const SOURCE = { source: true, app: { secrets: { STRIPE_KEY: { env: 'STRIPE_KEY' } } }, appSecrets: { STRIPE_KEY: 'sk_live_0123456789' } } as const;

  beforeEach(() => writeFileSync(join(dir, 'secrets.env'), 'MESSENGER_DB_PASSWORD=Abc123generated\nMESSENGER_JWT_SECRET=j\n', { mode: 0o600 }));

  async function writeAndReread(opts: Parameters<typeof state>[0]): Promise<{ file: string; again: number }> {
    const d = state(opts);
    const facts = await gatherFacts(host, [moveFact(appSecretsFact), moveFact(secretsFact)]);
    const plan = appSecretsStep.plan(facts, d);
    expect(plan.commands).toHaveLength(1);
    const res = await host.run(moveCommand(plan.commands[0]!));
    expect(res.code, res.stderr).toBe(0);
    const again = appSecretsStep.plan(await gatherFacts(host, [moveFact(appSecretsFact), moveFact(secretsFact)]), d).commands.length;
    return { file: readFileSync(join(dir, 'app-secrets.env'), 'utf8'), again };
  }

  it("the app's secrets and DB_PASSWORD composed on the host, 0600; read back, the next plan is ok", async () => {
    const { file, again } = await writeAndReread(SOURCE);
    expect(file).toMatch(/^STRIPE_KEY=sk_live_0123456789\nMI_INPUTS=[0-9a-f]{64}\nDB_PASSWORD=Abc123generated\n$/);
    expect(statSync(join(dir, 'app-secrets.env')).mode & 0o777).toBe(0o600);
    expect(again).toBe(0);
  });

  it('database.url: the mysql:// URL with the host password inside', async () => {
    const { file, again } = await writeAndReread({ source: true, app: { database: { name: 'shop', url: 'DATABASE_URL' } } });
    expect(file).toMatch(/^MI_INPUTS=[0-9a-f]{64}\nDATABASE_URL=mysql:\/\/messenger_chat:Abc123generated@127\.0\.0\.1:3306\/shop\n$/);
    expect(again).toBe(0);
  });

  it('a user\'s app of two instances gets REDIS_URL with the host\'s Redis password inside', async () => {
    writeFileSync(join(dir, 'secrets.env'), 'MESSENGER_DB_PASSWORD=Abc123generated\nMESSENGER_JWT_SECRET=j\nMESSENGER_REDIS_PASSWORD=Red1s\n', { mode: 0o600 });
    const { file, again } = await writeAndReread({ source: true, app: { instances: 2 } });
    expect(file).toMatch(/^MI_INPUTS=[0-9a-f]{64}\nDB_PASSWORD=Abc123generated\nREDIS_URL=redis:\/\/messenger-chat:Red1s@127\.0\.0\.1:6379\n$/);
    expect(again).toBe(0);
  });

  it("Redis' users composed on the host (secret render), 0600 redis, read back through the inputs fact: the next plan leaves them", async () => {
    writeFileSync(join(dir, 'secrets.env'), 'MESSENGER_DB_PASSWORD=x\nMESSENGER_JWT_SECRET=j\nMESSENGER_REDIS_PASSWORD=Red1sPassw0rd\n', { mode: 0o600 });
    const d = state();
    const factsOf = () => gatherFacts(host, redisStep.facts(d).map(moveFact));
    const compose = redisStep.plan(await factsOf(), d).commands.find((c) => c.argv[1] === 'secret')!;
    expect(compose.argv).not.toContain('Red1sPassw0rd');
    const res = await host.run(moveCommand(compose));
    expect(res.code, res.stderr).toBe(0);
    const staged = join(dir, 'redis-users.conf.mi-new');
    expect(readFileSync(staged, 'utf8')).toMatch(/^user messenger-chat on >Red1sPassw0rd resetchannels &messenger-chat:\* /m);
    expect(statSync(staged).mode & 0o777).toBe(0o600);
    // Before the swap the staged file counts as an interrupted activation's leftover.
    expect(redisStep.plan(await factsOf(), d).commands.map((c) => c.argv[1])).toContain('secret');
    // activate swaps it in (not run here: it restarts redis-server); then the plan composes nothing.
    renameSync(staged, join(dir, 'redis-users.conf'));
    const next = redisStep.plan(await factsOf(), d);
    expect(next.commands.map((c) => c.argv[1])).not.toContain('secret');
    expect(next.changes.join('\n')).not.toContain(HOST_PATHS.redisUsers);
    // A value that is not a generated one (could break out of the file's syntax) is refused.
    writeFileSync(join(dir, 'secrets.env'), 'MESSENGER_REDIS_PASSWORD=a b\n', { mode: 0o600 });
    const bad = await host.run(moveCommand(compose));
    expect([bad.code, bad.stderr.trim()]).toEqual([1, expect.stringContaining('is not alphanumeric')]);
  });

  it('the host password rotated: the next plan writes again', async () => {
    await writeAndReread(SOURCE);
    writeFileSync(join(dir, 'secrets.env'), 'MESSENGER_DB_PASSWORD=Rotated456\nMESSENGER_JWT_SECRET=j\n', { mode: 0o600 });
    const d = state(SOURCE);
    expect(appSecretsStep.plan(await gatherFacts(host, [moveFact(appSecretsFact), moveFact(secretsFact)]), d).commands).toHaveLength(1);
  });
});

describe('app: mi-remote release takes every option the step plans', () => {
  it('a planned release with migrate, stale, validators and files parses (it stops at the missing release folder)', async () => {
    const d = state({ source: true, app: { migrate: 'npx prisma migrate deploy' } });
    const raw = { ...appConverged(d), 'app-instances': unitsText({ 3000: 'active', 3002: 'active' }, [3000, 3002]), 'file:/etc/systemd/system/messenger-chat@.service': 'left\nmissing\n' };
    const plan = appStep.plan(parsed(appStep, d, raw), d);
    const release = plan.commands.find((c) => c.argv[1] === 'release')!;
    expect(release.argv).toEqual(expect.arrayContaining(['--migrate', '--user', '--env-file', '--stale', '--old', '--validate', '--stamp', '--keep']));
    const res = await host.run(moveCommand(release));
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('release: a complete --release, --current, --instances, --port and --upstream are required');
  });

  it("the bundled server's planned release (with --bus) parses too", async () => {
    const d = state({ intent: { action: 'restart' } });
    const release = appStep.plan(parsed(appStep, d, appConverged(d)), d).commands.find((c) => c.argv[1] === 'release')!;
    expect(release.argv).toContain('--bus');
    const res = await host.run(moveCommand(release));
    expect([res.code, res.stderr.trim()]).toEqual([2, 'release: a complete --release, --current, --instances, --port and --upstream are required']);
  });

  it('refuses an unknown option, and --migrate without --user, before touching anything', async () => {
    const bogus = await host.run({ argv: ['mi-remote', 'release', '--bogus', 'x'], label: 'release' });
    expect([bogus.code, bogus.stderr.trim()]).toEqual([2, 'release: unknown option --bogus']);
    const rel = join(dir, 'releases', 'r');
    mkdirSync(rel, { recursive: true });
    writeFileSync(join(rel, '.complete'), '');
    const noUser = await host.run({
      argv: ['mi-remote', 'release', '--release', rel, '--current', join(dir, 'current'), '--instances', join(dir, 'instances'), '--port', '3001', '--upstream', join(dir, 'up.inc'), '--migrate', 'true', '--'],
      label: 'release',
    });
    expect([noUser.code, noUser.stderr.trim()]).toEqual([2, 'release: --migrate needs --user']);
    expect(existsSync(join(dir, 'instances'))).toBe(false);
  });
});
