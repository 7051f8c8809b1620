import { describe, expect, it } from 'vitest';
import { InfraError } from '../../infra/errors.js';
import { BEGET_VPS_STATUSES } from '../../infra/providers/beget-models.js';
import { chooseSoftware } from '../../infra/providers/beget-os.js';
import { deriveUnits } from '../../infra/providers/beget-sizing.js';
import { keyFingerprints, matchesFingerprint } from '../../infra/providers/beget-ssh.js';
import { publicIpv4 } from '../../infra/providers/beget-wait.js';
import { BEGET_SPEC, enumOf, schema, violations } from './beget-spec.js';
import { STANDIN_SOFTWARE, standinFingerprint } from './beget-standin.js';

/**
 * The spec fixture itself, and the client's pure pieces that encode what the spec leaves open
 * (units, OS naming, fingerprint format, where the address is).
 */
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPm3r0fYq7Z9Xw0e0cM8Sx7C8aX1lZ4dC2b9mJ8nQ0aB me@laptop';

describe('the spec fixture (tests/infra/fixtures/beget-openapi.yaml)', () => {
  it('holds every operation the client calls, and every schema it refers to', () => {
    expect(Object.keys(BEGET_SPEC.paths).sort()).toEqual([
      '/v1/auth',
      '/v1/auth/refresh',
      '/v1/vps/configuration',
      '/v1/vps/configurator/info',
      '/v1/vps/marketplace/software/list',
      '/v1/vps/region',
      '/v1/vps/server',
      '/v1/vps/server/list',
      '/v1/vps/server/{id}',
      '/v1/vps/server/{id}/configuration',
      '/v1/vps/server/{id}/remove',
      '/v1/vps/sshKey',
    ]);
    const refs = JSON.stringify(BEGET_SPEC).match(/"(\$ref|request|response)":"(\w+)"/g) ?? [];
    for (const ref of refs) expect(() => schema(ref.split('"')[3] ?? '')).not.toThrow();
  });

  it("the client's status list and the error codes it branches on are the spec's", () => {
    expect(enumOf('Manage_VpsInfo', 'status')).toEqual([...BEGET_VPS_STATUSES]);
    expect(enumOf('Manage_RemoveVpsResponse_Error', 'code')).toEqual(expect.arrayContaining(['ALREADY_REMOVING', 'INVALID_STATE']));
    expect(enumOf('Manage_ChangeConfigurationResponse_Error', 'code')).toContain('INVALID_STATE');
    expect(enumOf('SshKey_AddResponse_Error', 'code')).toContain('KEY_EXISTS');
    expect(enumOf('Manage_CreateVpsResponse_Error', 'code')).toEqual(expect.arrayContaining(['INSUFFICIENT_FUNDS', 'UNSUPPORTED_IP_VERSION']));
    expect(Object.keys(schema('Manage_CreateVpsResponse_Error_InsufficientFundsError').properties ?? {}).sort()).toEqual(['charge_on_add', 'current_balance', 'needed_balance']);
    expect(enumOf('Auth_AuthResponse', 'error')).toEqual(expect.arrayContaining(['CODE_REQUIRED', 'INCORRECT_CODE', 'INCORRECT_CREDENTIALS']));
    expect(enumOf('Auth_RefreshTokenResponse', 'error')).toContain('TOKEN_REVOKED');
    expect(enumOf('Manage_RemoveVpsRequest', 'ip_action')).toEqual(['DELETE', 'RELEASE']);
  });

  it('is strict: an undeclared field, a wrong type or a value outside an enum is a violation', () => {
    expect(violations(schema('Manage_CreateVpsRequest'), { hostname: 'a', image: 'debian' })).toEqual(['$.image: not declared by the spec']);
    expect(violations(schema('Manage_CreateVpsRequest'), { software: { id: -1 } })).toEqual(['$.software.id: -1 is not a uint32']);
    expect(violations(schema('Manage_RemoveVpsRequest'), { id: 'x', ip_action: 'KEEP' })).toEqual(['$.ip_action: "KEEP" is not one of DELETE, RELEASE']);
    expect(violations(schema('Manage_CreateVpsRequest'), { network_interfaces: [{ public: { allocate_new: { v: 4 } } }] })).toEqual([
      '$.network_interfaces[0].public.allocate_new.v: not declared by the spec',
    ]);
    // network_interfaces is a request field only: v1.8.0's Manage_VpsInfo has the address in ip_address.
    expect(violations(schema('Manage_VpsInfo'), { id: 'x', network_interfaces: [] })).toEqual(['$.network_interfaces: not declared by the spec']);
  });
});

describe('what the spec leaves open, decided in one place each', () => {
  it('derives MiB or GiB from the smallest plan, and refuses to guess', () => {
    expect(deriveUnits([{ memory: 1024, disk_size: 10240 }, { memory: 8192, disk_size: 163840 }])).toEqual({ memory: 'MiB', disk: 'MiB' });
    expect(deriveUnits([{ memory: 1, disk_size: 10 }, { memory: 512, disk_size: 2000 }])).toEqual({ memory: 'GiB', disk: 'GiB' });
    for (const plans of [[], [{ id: 'custom' }], [{ id: 'odd', memory: 128, disk_size: 800 }]]) {
      expect(() => deriveUnits(plans)).toThrow(expect.objectContaining({ code: 'MI_ERR_BEGET_UNITS' }) as InfraError);
    }
  });

  it('finds an OS by name and version or by slug, never an app built on it', () => {
    expect(chooseSoftware(STANDIN_SOFTWARE, 'debian12').id).toBe(6101);
    expect(chooseSoftware([{ id: 1, slug: 'ubuntu-22-04', display_name: 'Ubuntu' }], 'ubuntu2204').id).toBe(1);
    expect(chooseSoftware([{ id: 2, name: 'Debian', version: '13.1' }, { id: 3, name: 'debian', version: '13' }], 'debian13').id).toBe(3);
    expect(() => chooseSoftware([{ id: 4, name: 'docker', version: '13', slug: 'docker-debian-13' }], 'debian13')).toThrow(/MI_ERR_BEGET_OS_UNAVAILABLE|no available Debian 13/);
    expect(() => chooseSoftware([{ id: 5, name: 'debian', version: '13', is_available: false }], 'debian13')).toThrow(/no available Debian 13/);
  });

  it('matches key fingerprints in the SHA256 and MD5 forms', async () => {
    const ours = await keyFingerprints(KEY);
    expect(matchesFingerprint(standinFingerprint(KEY, 'sha256'), ours)).toBe(true);
    expect(matchesFingerprint(standinFingerprint(KEY, 'md5'), ours)).toBe(true);
    expect(matchesFingerprint(standinFingerprint(KEY, 'md5').toUpperCase(), ours)).toBe(true);
    expect(matchesFingerprint('SHA256:someoneelse', ours)).toBe(false);
    expect(matchesFingerprint(undefined, ours)).toBe(false);
  });

  it('reads the public IPv4 from ip_address, else additional_ip_address', () => {
    expect(publicIpv4({ id: 'a', ip_address: '198.51.100.7' })).toBe('198.51.100.7');
    expect(publicIpv4({ id: 'b', ip_address: '2001:db8::1', additional_ip_address: ['198.51.100.8'] })).toBe('198.51.100.8');
    expect(publicIpv4({ id: 'c', ip_address: '' })).toBeUndefined();
  });
});
