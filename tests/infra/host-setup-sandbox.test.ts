import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HostSetupProvider, type HostSetupInput, type HostSetupOutputs } from '../../infra/host-setup.js';
import { HOST_PATHS } from '../../src/core/host-model.js';
import { hostSetupDigest } from '../../src/executor/host-setup-api.js';
import { useSandbox } from '../helpers/sandbox.js';

/**
 * The Pulumi host-setup resource's provider methods, called directly (as the engine would) against a
 * real sandbox VPS: create converges the host, diff asks the host itself and sees hand-made drift,
 * update converges again, and a changed template digest is a diff without touching the host.
 */
describe('HostSetup dynamic provider against the sandbox', () => {
  const sb = useSandbox('debian13');
  const provider = new HostSetupProvider(() => import('../../src/executor/host-setup-api.js'));
  let inputs: HostSetupInput;
  let outs: HostSetupOutputs;

  it('create converges a fresh host', async () => {
    const info = sb.info;
    const settings = { tier: 'mvp' as const, domain: info.domain, email: info.email, acmeServer: info.acmeDirectory };
    inputs = {
      host: info.sshHost,
      sshPort: info.sshPort,
      sshUser: info.sshUser,
      sshPrivateKey: readFileSync(info.sshKeyPath, 'utf8'),
      knownHosts: readFileSync(info.knownHostsPath, 'utf8'),
      ...settings,
      acmeCaBundle: readFileSync(info.acmeCaBundlePath, 'utf8'),
      renderedDigest: hostSetupDigest(settings),
    };
    const created = await provider.create(inputs);
    expect(created.id).toBe('root@127.0.0.1:2222');
    outs = created.outs!;
    expect(outs.failed).toBe(0);
    expect(outs.changed).toBeGreaterThan(5);
    expect((await sb.ssh(['systemctl', 'is-active', 'nginx', 'mariadb', 'messenger-chat@3000'])).stdout.trim().split('\n')).toEqual(['active', 'active', 'active']);
  }, 300_000);

  it('diff: no changes on a converged host; drift made by hand is a change; update converges it', async () => {
    expect((await provider.diff(outs.host, outs, inputs)).changes).toBe(false);
    await sb.ssh(['rm', '-f', HOST_PATHS.appEnvFile]);
    expect((await provider.diff(outs.host, outs, inputs)).changes).toBe(true);
    const updated = await provider.update(outs.host, outs, inputs);
    expect(updated.outs?.changed).toBe(1);
    expect((await sb.ssh(['test', '-f', HOST_PATHS.appEnvFile])).code).toBe(0);
    expect((await provider.diff(outs.host, outs, inputs)).changes).toBe(false);
  }, 120_000);

  it('a different rendered digest (a changed template or bundle) is a diff', async () => {
    expect((await provider.diff(outs.host, outs, { ...inputs, renderedDigest: `${inputs.renderedDigest}x` })).changes).toBe(true);
    expect(hostSetupDigest({ ...inputs, tier: 'growth' })).not.toBe(inputs.renderedDigest);
  });
});
