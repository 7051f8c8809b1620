/**
 * A stack of several servers as data: the roles' rules, each server's placement, and what that
 * changes in the desired state (packages, steps, rendered files, firewall, secrets, accounts).
 */
import { describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import type { StackConfig } from '../../src/config/schema.js';
import { buildDesiredState, type DesiredState } from '../../src/core/desired-state.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { firewallRules, firewallStep } from '../../src/core/steps/kernel.js';
import { UP_STEPS } from '../../src/core/steps/index.js';
import { databaseStep } from '../../src/core/steps/mariadb.js';
import { secretsStep } from '../../src/core/steps/secrets.js';
import { placementsOf, SINGLE_HOST, type Placement } from '../../src/core/topology.js';
import { applicable, stepsOf } from '../../src/executor/converge.js';
import type { Step, StepPlan } from '../../src/core/step.js';
import { BUNDLED, CHAT_ENV, DOMAIN, MARIADB_CNF, secretsText } from './step-fixtures.js';

const TWO: StackOverrides = {
  tier: 'mvp',
  domain: DOMAIN,
  email: 'ops@messenger.test',
  servers: { web: { host: '203.0.113.10', privateAddress: '10.0.0.2' }, db: { host: '203.0.113.11', privateAddress: '10.0.0.3' } },
  hosts: { edge: 'web', app: ['web'], db: 'db' },
} as StackOverrides;

const load = (over: Record<string, unknown>) => loadStack({ overrides: { ...TWO, ...over } as StackOverrides });
const problem = (over: Record<string, unknown>) => {
  try {
    load(over);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

/** A step's plan from raw fact text (as remote/facts.sh prints it), through each fact's own parser. */
function planWith(step: Step, d: DesiredState, raw: Record<string, string>): StepPlan {
  const facts = new Map<string, unknown>(step.facts(d).map((f) => {
    const text = raw[f.id];
    if (text === undefined) throw new Error(`no raw text for fact ${f.id}`);
    return [f.id, f.parse(text, 0)];
  }));
  return step.plan(facts, d);
}

function desiredFor(stack: StackConfig, placement: Placement, peerSecrets?: Record<string, string>): DesiredState {
  return buildDesiredState({
    stack,
    host: { os: OS_PROFILES.debian13, arch: 'x64', container: null, sshPort: 22 },
    bundle: BUNDLED,
    placement,
    ...(peerSecrets ? { peerSecrets } : {}),
    now: new Date('2026-12-01T12:00:00Z'),
    by: 'test',
  });
}

describe('the roles of a stack of several servers', () => {
  it('accepts an edge with the app and the database on a server of its own', () => {
    const stack = load({});
    expect(stack.hosts).toEqual({ edge: 'web', app: ['web'], db: 'db' });
    expect(stack.servers?.db).toEqual({ host: '203.0.113.11', privateAddress: '10.0.0.3', ssh: { user: 'root', port: 22 } });
  });

  it('names the field and the fix for each broken rule', () => {
    expect(problem({ hosts: undefined })).toMatch(/^stack\.hosts: is required with servers: say which server is the edge/);
    expect(problem({ servers: undefined })).toMatch(/^stack\.servers: is required with hosts: name each server/);
    expect(problem({ hosts: { edge: 'web', app: ['web'], db: 'dbx' } })).toBe(`stack.hosts.db: "dbx" names no server; use one of web, db`);
    expect(problem({ hosts: { edge: 'web', app: ['db'], db: 'db' } })).toMatch(/^stack\.hosts\.app: \["db"\] must include the edge \(web\) for now: the edge runs the app too/);
    expect(problem({ hosts: { edge: 'web', app: ['web', 'web'], db: 'db' } })).toMatch(/^stack\.hosts\.app: \["web","web"\] lists a server twice/);
    expect(problem({ target: { host: '203.0.113.10' } })).toBe('stack.target: {"host":"203.0.113.10"} applies to a one-server stack; with hosts, give each server under servers, and remove target');
    expect(problem({ servers: { web: { privateAddress: '10.0.0.2' }, db: { privateAddress: '10.0.0.2' } } })).toBe('stack.servers.db.privateAddress: "10.0.0.2" is web\'s too; give each server its own');
    expect(problem({ servers: { ...(TWO.servers as object), spare: { privateAddress: '10.0.0.9' } } })).toBe('stack.servers.spare: {"privateAddress":"10.0.0.9"} has no role in hosts; give it one or remove it');
    expect(problem({ servers: { web: { privateAddress: 'fd00::2' }, db: {} } })).toMatch(/^stack\.servers\.web\.privateAddress: "fd00::2" must be the IPv4 address the other servers reach this one at/);
  });

  it('places the db server first, with the app server\'s address as its only client', () => {
    const [db, web] = placementsOf(load({}));
    expect(db).toEqual({ name: 'db', roles: new Set(['db']), dbAddress: '127.0.0.1', dbClients: ['10.0.0.2'], privateAddress: '10.0.0.3', edgeAddress: null, appPeers: [] });
    expect(web).toEqual({ name: 'web', roles: new Set(['edge', 'app']), dbAddress: '10.0.0.3', dbClients: [], privateAddress: '10.0.0.2', edgeAddress: null, appPeers: [] });
    // One server in this form is a single VPS: everything on loopback.
    const one = placementsOf(load({ servers: { vps: {} }, hosts: { edge: 'vps', app: ['vps'], db: 'vps' } }));
    expect(one).toEqual([{ ...SINGLE_HOST, name: 'vps' }]);
    expect(placementsOf(loadStack({ overrides: { tier: 'mvp', domain: DOMAIN, email: 'ops@messenger.test' } }))).toEqual([SINGLE_HOST]);
  });

  it('refuses to place a server whose private address the others need but is not given', () => {
    const stack = load({ servers: { web: { host: '203.0.113.10' }, db: { host: '203.0.113.11', privateAddress: '10.0.0.3' } } });
    expect(() => placementsOf(stack)).toThrowError(/^stack\.servers\.web\.privateAddress: is required: the address the other servers reach it at/);
  });
});

describe('what each server gets', () => {
  const stack = load({});
  const [dbPlace, webPlace] = placementsOf(stack) as [Placement, Placement];
  const db = desiredFor(stack, dbPlace);
  const web = desiredFor(stack, webPlace, { MESSENGER_DB_PASSWORD: 'p'.repeat(48), MESSENGER_REDIS_PASSWORD: 'r'.repeat(48) });
  const stepIds = (d: DesiredState) => stepsOf(applicable(UP_STEPS, d)).map((s) => s.id);

  it('installs the database on the db server and the web server on the edge only', () => {
    expect(db.packages).toEqual(['mariadb-server', 'ufw', 'curl', 'ca-certificates', 'openssl', 'zstd', 'redis-server']);
    expect(web.packages).toEqual(['nginx', 'certbot', 'ufw', 'curl', 'ca-certificates', 'openssl', 'zstd']);
  });

  it('runs each step where its role is', () => {
    expect(stepIds(db)).toEqual(['swap', 'sysctl', 'packages', 'firewall', 'mariadb-config', 'secrets', 'redis', 'database', 'backup', 'harden']);
    expect(stepIds(web)).toEqual(['swap', 'sysctl', 'packages', 'node', 'firewall', 'secrets', 'nginx', 'certificate', 'site', 'app-build', 'harden', 'app']);
  });

  it('binds MariaDB and Redis to loopback and the private address, and points the app at them', () => {
    const text = (d: DesiredState, path: string) => d.files.full.find((f) => f.path === path)?.content ?? '';
    expect(text(db, MARIADB_CNF)).toMatch(/^bind-address = 127\.0\.0\.1,10\.0\.0\.3$/m);
    expect(text(db, '/etc/redis/redis.conf')).toMatch(/^bind 127\.0\.0\.1 10\.0\.0\.3$/m);
    const env = text(web, CHAT_ENV);
    expect(env).toMatch(/^MESSENGER_DB_HOST=10\.0\.0\.3\nMESSENGER_DB_PORT=3306$/m);
    expect(env).toMatch(/^MESSENGER_REDIS=10\.0\.0\.3:6379$/m);
    expect(env).not.toContain('MESSENGER_DB_SOCKET');
    // A single VPS keeps loopback and the socket.
    const one = desiredFor(stack, SINGLE_HOST);
    expect(text(one, MARIADB_CNF)).toMatch(/^bind-address = 127\.0\.0\.1$/m);
    expect(text(one, CHAT_ENV)).toMatch(/^MESSENGER_DB_SOCKET=\/run\/mysqld\/mysqld\.sock$/m);
  });

  it('opens the web ports on the edge, and MariaDB and Redis on the db server to the app server only', () => {
    const fmt = (rules: ReturnType<typeof firewallRules>) => rules.map((r) => r.argv.join(' '));
    expect(fmt(firewallRules([22], webPlace))).toEqual(['ufw allow 22/tcp', 'ufw allow 80/tcp', 'ufw allow 443/tcp']);
    expect(fmt(firewallRules([22], dbPlace))).toEqual([
      'ufw allow 22/tcp',
      'ufw allow from 10.0.0.2 to any port 3306 proto tcp',
      'ufw allow from 10.0.0.2 to any port 6379 proto tcp',
    ]);
    // Converged: ufw status lists exactly those rules.
    const status = 'Status: active\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\nTo Action From\n22/tcp ALLOW IN Anywhere\n3306/tcp ALLOW IN 10.0.0.2\n6379/tcp ALLOW IN 10.0.0.2\n';
    expect(planWith(firewallStep, db, { 'ufw-status': status, 'ssh-ports': 'sshd 22\n' }).commands).toEqual([]);
    // The same rules on the edge would be missing its web ports.
    expect(planWith(firewallStep, web, { 'ufw-status': status, 'ssh-ports': 'sshd 22\n' }).changes).toEqual(['allow 80/tcp', 'allow 443/tcp']);
  });

  it("gives the app server the db server's secrets through stdin, never argv, and refuses to run without them", () => {
    const none = { secrets: secretsText('600 root:root', {}) };
    const plan = planWith(secretsStep, web, none);
    expect(plan.changes).toEqual([
      "install MESSENGER_DB_PASSWORD with the db server's (0600)",
      'generate MESSENGER_JWT_SECRET (kept on the host, 0600)',
      "install MESSENGER_REDIS_PASSWORD with the db server's (0600)",
    ]);
    const install = plan.commands.filter((c) => c.stdin !== undefined);
    expect(install.map((c) => c.argv.slice(-2))).toEqual([['MESSENGER_DB_PASSWORD', 'stdin'], ['MESSENGER_REDIS_PASSWORD', 'stdin']]);
    for (const c of plan.commands) expect(c.argv.join(' ')).not.toContain('p'.repeat(48));
    // The db server keeps its own, and no JWT secret: no app runs there.
    const dbPlan = planWith(secretsStep, db, none);
    expect(dbPlan.changes).toEqual(['generate MESSENGER_DB_PASSWORD (kept on the host, 0600)', 'generate MESSENGER_REDIS_PASSWORD (kept on the host, 0600)']);
    const orphan = desiredFor(stack, webPlace);
    expect(() => planWith(secretsStep, orphan, none)).toThrowError(/MESSENGER_DB_PASSWORD did not come from the db server/);
  });

  it("lets the app's user in from the app server's address, and drops an account no server uses", () => {
    const raw = 'db messenger_chat\nuser messenger_chat@localhost\nuser messenger_chat@127.0.0.1\nuser messenger_chat@10.0.0.9\nlogin-ok\n';
    const plan = planWith(databaseStep, db, { 'database:messenger_chat': raw });
    expect(plan.changes).toContain('create user messenger_chat@10.0.0.2');
    expect(plan.changes).toContain('drop user messenger_chat@10.0.0.9 (no app server there any more)');
    const sql = plan.commands[0]?.stdin ?? '';
    expect(sql).toContain("DROP USER IF EXISTS 'messenger_chat'@'10.0.0.9';");
    expect(sql).toContain("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, LOCK TABLES, CREATE TEMPORARY TABLES ON messenger_chat.* TO 'messenger_chat'@'10.0.0.2';");
  });
});

describe('a second app server behind the edge', () => {
  const stack = load({
    servers: { web: { privateAddress: '10.0.0.2' }, app2: { privateAddress: '10.0.0.4' }, db: { privateAddress: '10.0.0.3' } },
    hosts: { edge: 'web', app: ['web', 'app2'], db: 'db' },
  });
  const placements = placementsOf(stack);
  const [dbPlace, webPlace, app2Place] = placements as [Placement, Placement, Placement];
  const peer = { MESSENGER_DB_PASSWORD: 'p'.repeat(48), MESSENGER_REDIS_PASSWORD: 'r'.repeat(48) };
  const app2 = desiredFor(stack, app2Place, { ...peer, MESSENGER_JWT_SECRET: 'j'.repeat(64) });

  it('converges the db server, then the edge, then the other app servers', () => {
    expect(placements.map((p) => p.name)).toEqual(['db', 'web', 'app2']);
    expect(dbPlace.dbClients).toEqual(['10.0.0.2', '10.0.0.4']);
    expect(webPlace.appPeers).toEqual([{ name: 'app2', address: '10.0.0.4' }]);
    expect(app2Place).toMatchObject({ roles: new Set(['app']), dbAddress: '10.0.0.3', edgeAddress: '10.0.0.2', appPeers: [] });
  });

  it('gives it nginx without certbot, and every app step but the certificate', () => {
    expect(app2.packages).toEqual(['nginx', 'ufw', 'curl', 'ca-certificates', 'openssl', 'zstd']);
    expect(stepsOf(applicable(UP_STEPS, app2)).map((s) => s.id)).toEqual(['swap', 'sysctl', 'packages', 'node', 'firewall', 'secrets', 'nginx', 'site', 'app-build', 'harden', 'app']);
  });

  it('opens its site to the edge only, and takes the JWT secret from the edge', () => {
    expect(firewallRules([22], app2Place).map((r) => r.argv.join(' '))).toEqual(['ufw allow 22/tcp', 'ufw allow from 10.0.0.2 to any port 8088 proto tcp']);
    const plan = planWith(secretsStep, app2, { secrets: secretsText('600 root:root', {}) });
    expect(plan.changes).toEqual([
      "install MESSENGER_DB_PASSWORD with the db server's (0600)",
      "install MESSENGER_JWT_SECRET with the edge's (0600)",
      "install MESSENGER_REDIS_PASSWORD with the db server's (0600)",
    ]);
    for (const c of plan.commands) expect(c.argv.join(' ')).not.toContain('j'.repeat(64));
    const noJwt = desiredFor(stack, app2Place, peer);
    expect(() => planWith(secretsStep, noJwt, { secrets: secretsText('600 root:root', {}) })).toThrowError(/MESSENGER_JWT_SECRET did not come from the edge/);
  });
});
