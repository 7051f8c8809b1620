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
      // Pulumi's default: a server it has just created, whose host key nobody could list yet.
      knownHosts: '',
      ...settings,
      acmeCaBundle: readFileSync(info.acmeCaBundlePath, 'utf8'),
      renderedDigest: hostSetupDigest(settings),
    };
    const created = await provider.create(inputs);
    expect(created.id).toBe('root@127.0.0.1:2222');
    outs = created.outs!;
    expect(outs.failed).toBe(0);
    expect(outs.changed).toBeGreaterThan(5);
    // Trusted on first use, and recorded: the key the sandbox's sshd really has.
    const known = readFileSync(info.knownHostsPath, 'utf8').split('\n').filter(Boolean);
    expect(known).toContain(outs.hostKey);
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

  it('the recorded host key is pinned: a different key is refused as a possible man-in-the-middle; a new address is a new server', async () => {
    const [pattern, type] = outs.hostKey!.split(' ');
    // Another real key of the same type, as a rebuilt server or an interceptor would present.
    const other = `${pattern} ${type} AAAAC3NzaC1lZDI1NTE5AAAAIB4eLk3jYl9m5WbM6gYl0mGc8aN2iSUxl2fG3Kx1yWqZ`;
    const tampered = { ...outs, hostKey: other };
    await expect(provider.diff(outs.host, tampered, inputs)).rejects.toThrow(/does not match .*man-in-the-middle/);
    await expect(provider.update(outs.host, tampered, inputs)).rejects.toThrow(/does not match/);
    // The key given in the stack wins over the recorded one.
    const given = await provider.update(outs.host, tampered, { ...inputs, knownHosts: `${outs.hostKey}\n` });
    expect(given.outs).toMatchObject({ failed: 0, hostKey: outs.hostKey });
    // The resource recorded at another address (the server was replaced): trusted on first use again.
    const moved = await provider.update(outs.host, { ...tampered, host: '127.0.0.2' }, inputs);
    expect(moved.outs).toMatchObject({ failed: 0, hostKey: outs.hostKey });
  }, 120_000);

  it('a different rendered digest (a changed template or bundle) is a diff', async () => {
    expect((await provider.diff(outs.host, outs, { ...inputs, renderedDigest: `${inputs.renderedDigest}x` })).changes).toBe(true);
    expect(hostSetupDigest({ ...inputs, tier: 'growth' })).not.toBe(inputs.renderedDigest);
  });
});
