// The helper other end-to-end tests use: one fresh sandbox for the file, gone afterwards.
import { describe, expect, it } from 'vitest';
import { useSandbox } from '../helpers/sandbox.js';

describe('useSandbox', () => {
  const sb = useSandbox('debian13');

  it('gives a running guest and its info for the tests of the file', async () => {
    const res = await sb.ssh(['systemd-detect-virt', '--container']);
    expect(res).toMatchObject({ code: 0, stdout: 'systemd-nspawn\n' });
    expect(sb.info).toMatchObject({ os: 'debian13', sshPort: 2222, acmeDirectory: 'https://127.0.0.1:14000/dir' });
  });
});
