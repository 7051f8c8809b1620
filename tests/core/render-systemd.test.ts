import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_PATHS, nodeDir, RELEASE_NODE_LINK } from '../../src/core/host-model.js';
import { renderHostFiles } from '../../src/core/render.js';
import { TIER_NAMES } from '../../src/core/tiers.js';
import { fileAt, model, run, tempDir, writeAt } from './fixtures.js';

/**
 * The rendered unit checked by the real `systemd-analyze verify` (Debian package `systemd`), loading
 * the instance messenger-chat@3000.service from the template, as systemctl would.
 *
 * It runs with `--root=TEMP` so nothing is installed on the host: TEMP holds a copy of the host's
 * /usr/lib/systemd/system (verify resolves the unit's dependencies such as sysinit.target,
 * network-online.target, mariadb.service from there), the rendered unit at its host path, and what the
 * host has when an instance starts: a release folder, the instance's link to it
 * (/srv/messenger-chat/instances/3000, its WorkingDirectory) and an executable at the ExecStart path
 * (/opt/messenger-node/current/bin/node). The executables are stand-in shell scripts: verify only
 * checks that ExecStart names an executable file; the real Node.js binary is what the executor
 * installs on the VPS. verify reports bad values and unknown keys as warnings with
 * exit status 0, so the test also requires empty output.
 */
const ANALYZE = '/usr/bin/systemd-analyze';
const INSTANCE = 'messenger-chat@3000.service';
let root: string;

const RELEASE = `${HOST_PATHS.appReleases}/20261201T120301Z-0123456789ab`;
let source: string;

beforeAll(() => {
  root = tempDir('systemd-root');
  cpSync('/usr/lib/systemd/system', `${root}/usr/lib/systemd/system`, { recursive: true, verbatimSymlinks: true });
  writeAt(root, `${nodeDir('24.21.0')}/bin/node`, '#!/bin/sh\nexit 0\n', 0o755);
  writeAt(root, HOST_PATHS.npmOnPath, '#!/bin/sh\nexit 0\n', 0o755);
  writeAt(root, `${RELEASE}/messenger-chat.mjs`, '');
  writeAt(root, `${RELEASE}/bin/server`, '#!/bin/sh\nexit 0\n', 0o755);
  // As `mi-remote release` links it: an absolute link, resolved inside --root like on the host.
  mkdirSync(`${root}${HOST_PATHS.appInstances}`, { recursive: true });
  // The release's own Node.js, as `mi-remote build` / `release` link it.
  symlinkSync(nodeDir('24.21.0'), `${root}${RELEASE}/${RELEASE_NODE_LINK}`);
  symlinkSync(RELEASE, `${root}${HOST_PATHS.appInstances}/3000`);
  mkdirSync(dirname(`${root}${HOST_PATHS.appCurrent}`), { recursive: true });
  symlinkSync(RELEASE, `${root}${HOST_PATHS.appCurrent}`);
  source = tempDir('systemd-app');
  writeAt(source, 'package.json', '{"name":"shop","version":"1.0.0"}');
  writeAt(source, 'package-lock.json', '{"lockfileVersion":3}');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(source, { recursive: true, force: true });
});

function verify(unit: string): { status: number | null; output: string } {
  writeAt(root, HOST_PATHS.systemdUnit, unit);
  const res = run([ANALYZE, 'verify', '--man=no', `--root=${root}`, INSTANCE]);
  return { status: res.status, output: (res.stdout + res.stderr).trim() };
}

describe.each(TIER_NAMES)('systemd-analyze verify accepts the %s unit', (tier) => {
  it('exit 0 and not a single warning', () => {
    const unit = fileAt(renderHostFiles(model(tier), 'full'), HOST_PATHS.systemdUnit).content;
    const res = verify(unit);
    expect(res.output).toBe('');
    expect(res.status).toBe(0);
  });
});

describe("systemd-analyze verify accepts a user's app unit", () => {
  const appUnit = (start: string) =>
    fileAt(renderHostFiles(model('growth', 'debian12', { app: { source, start, health: '/api/health', instances: 2 } }), 'full'), HOST_PATHS.systemdUnit).content;

  it.each(['node dist/main.js', 'npm run start:prod', './bin/server --port-from-env'])('start `%s`: exit 0 and not a single warning', (start) => {
    const unit = appUnit(start);
    expect(unit).toContain(`EnvironmentFile=${HOST_PATHS.appSecretsFile}`);
    const res = verify(unit);
    expect(res.output).toBe('');
    expect(res.status).toBe(0);
  });

  it("a program inside the release must exist there (through the instance's link)", () => {
    const res = verify(appUnit('./bin/missing'));
    expect(res.status).not.toBe(0);
    expect(res.output).toContain('is not executable');
  });
});

describe('systemd-analyze verify catches a broken unit (the check is real)', () => {
  const unit = () => fileAt(renderHostFiles(model('mvp'), 'full'), HOST_PATHS.systemdUnit).content;

  it('reports a bad value and an unknown key', () => {
    const res = verify(unit().replace('ProtectSystem=strict', 'ProtectSystem=bogus\nProtectSystm=strict'));
    expect(res.output).toContain('Failed to parse protect system value');
    expect(res.output).toContain("Unknown key 'ProtectSystm'");
  });

  it('fails when ExecStart is not executable', () => {
    const res = verify(unit().replace(`${RELEASE_NODE_LINK}/bin/node`, `${RELEASE_NODE_LINK}/bin/missing`));
    expect(res.status).not.toBe(0);
    expect(res.output).toContain('is not executable');
  });
});
