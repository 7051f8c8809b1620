import { describe, expect, it } from 'vitest';
import { loadStack, type StackOverrides } from '../../src/config/load.js';
import type { AppBundle } from '../../src/core/desired-state.js';
import { sha256 } from '../../src/core/file-plan.js';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import {
  desiredRelease,
  parseReleases,
  releaseIdOf,
  releasePath,
  releaseRows,
  releaseTime,
  seedUpstreamFile,
  targetSlot,
  upstreamContent,
  upstreamPorts,
  versionLabel,
} from '../../src/core/release.js';
import { SOURCE_DIR } from './step-fixtures.js';

/** Releases on the host, pure: names, manifests, which slot serves and which one the next release takes. */
const NOW = new Date('2026-12-01T12:03:01.456Z');
const stackOf = (app: StackOverrides['app'] = {}, node?: StackOverrides['node']) =>
  loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test', app, ...(node ? { node } : {}) } });
const bundled: AppBundle = { kind: 'bundled', version: '1.0.0', id: '1.0.0-abcdef123456', files: [{ name: 'messenger-chat.mjs', content: Buffer.from('console.log(1)\n') }] };
const source = (install: 'ci' | 'production'): AppBundle => ({
  kind: 'source',
  version: '2.3.0',
  id: '2.3.0-0a1b2c3d4e5f',
  files: [{ name: 'package.json', content: Buffer.from('{"name":"shop"}') }],
  install,
});
const USER_APP = { source: SOURCE_DIR, start: 'node dist/main.js', health: '/api/health' } as const;
const A = [3000, 3001, 3002];
const B = [3003, 3004, 3005];
const none = new Set<number>();

describe('release names', () => {
  it('the time part is UTC, to the second, sortable, and a valid file name', () => {
    expect(releaseTime(NOW)).toBe('20261201T120301Z');
    expect(releaseTime(new Date('2027-01-09T05:06:07Z'))).toBe('20270109T050607Z');
    // Later releases sort after earlier ones as plain strings.
    expect(releaseTime(new Date('2026-12-01T12:03:02Z')) > releaseTime(NOW)).toBe(true);
  });

  it('a new release is TIME-HASH12 with a manifest of what it is, by whom and whether it migrates', () => {
    const r = desiredRelease(stackOf(), bundled, NOW, 'ops@laptop');
    expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.newId).toBe(`20261201T120301Z-${r.hash.slice(0, 12)}`);
    expect(r.manifest).toEqual({ id: r.newId, hash: r.hash, kind: 'bundled', version: '1.0.0', createdAt: '2026-12-01T12:03:01.456Z', by: 'ops@laptop', migrates: false, node: '24.21.0' });
    expect(desiredRelease(stackOf({ ...USER_APP, migrate: 'npx prisma migrate deploy' }), source('ci'), NOW, 'ci').manifest.migrates).toBe(true);
    expect(releasePath(r.newId)).toBe(`/srv/messenger-chat/releases/${r.newId}`);
  });

  it('the hash is the content: same files, same hash at any time; what the host builds from changes it', () => {
    const hash = (stack: ReturnType<typeof stackOf>, bundle: AppBundle) => desiredRelease(stack, bundle, NOW, 'x').hash;
    const base = hash(stackOf(), bundled);
    expect(desiredRelease(stackOf(), bundled, new Date('2030-01-01T00:00:00Z'), 'someone else').hash).toBe(base);
    expect(hash(stackOf(), { ...bundled, files: [{ name: 'messenger-chat.mjs', content: Buffer.from('console.log(2)\n') }] })).not.toBe(base);
    expect(hash(stackOf(), { ...bundled, files: [{ name: 'other.mjs', content: Buffer.from('console.log(1)\n') }] })).not.toBe(base);
    // A release is its code and its runtime: a new Node.js is a new release, health-gated like new code.
    expect(hash(stackOf({}, { version: '24.22.0', integrity: 'sha512-AAAA' }), bundled)).not.toBe(base);

    const ci = hash(stackOf(USER_APP), source('ci'));
    expect(ci).not.toBe(base);
    // Built on the host or only installed there: other releases.
    expect(hash(stackOf(USER_APP), source('production'))).not.toBe(ci);
    // The build command is part of a host build, not of a tree built locally.
    expect(hash(stackOf({ ...USER_APP, build: 'npm run compile' }), source('ci'))).not.toBe(ci);
    expect(hash(stackOf({ ...USER_APP, build: 'npm run compile' }), source('production'))).toBe(hash(stackOf(USER_APP), source('production')));
    // Native modules are built for one Node.js.
    expect(hash(stackOf(USER_APP, { version: '24.22.0', integrity: 'sha512-AAAA' }), source('ci'))).not.toBe(ci);
    // The start command, env and health are config, not content: the same release serves them.
    expect(hash(stackOf({ ...USER_APP, start: 'node dist/other.js', env: { A: '1' } }), source('ci'))).toBe(ci);
  });

  it("the version people see: app.env.APP_VERSION when the stack sets it, else the bundle's", () => {
    expect(versionLabel(stackOf(), bundled)).toBe('1.0.0');
    expect(versionLabel(stackOf({ env: { APP_VERSION: '2026.12.1' } }), bundled)).toBe('2026.12.1');
    expect(desiredRelease(stackOf({ env: { APP_VERSION: '2026.12.1' } }), bundled, NOW, 'x').manifest.version).toBe('2026.12.1');
  });
});

describe('the releases fact', () => {
  const manifest = (id: string, migrates = false, node?: string) => JSON.stringify({ id, hash: sha256(id), kind: 'bundled', version: '1.0.0', createdAt: '2026-12-01T00:00:00.000Z', by: 'ci', migrates, ...(node ? { node } : {}) });

  it('one release a line, newest first, each with its manifest; a bad manifest line keeps the id only', () => {
    const out = [
      `20261201T120301Z-aaaaaaaaaaaa ${manifest('20261201T120301Z-aaaaaaaaaaaa', true)}`,
      '20261130T080000Z-bbbbbbbbbbbb {"id":"20261130T080000Z-bbbbbbbbbbbb", "hash":',
      '',
      '20261120T080000Z-cccccccccccc ',
      '   ',
    ].join('\n');
    const releases = parseReleases(out);
    expect(releases.map((r) => r.id)).toEqual(['20261201T120301Z-aaaaaaaaaaaa', '20261130T080000Z-bbbbbbbbbbbb', '20261120T080000Z-cccccccccccc']);
    expect(releases[0]?.manifest).toMatchObject({ id: '20261201T120301Z-aaaaaaaaaaaa', migrates: true, kind: 'bundled' });
    expect(releases[1]).toEqual({ id: '20261130T080000Z-bbbbbbbbbbbb' });
    expect(releases[2]).toEqual({ id: '20261120T080000Z-cccccccccccc' });
    expect(parseReleases('')).toEqual([]);
  });

  it('a link names a release only inside the releases folder', () => {
    expect(releaseIdOf('/srv/messenger-chat/releases/20261201T120301Z-aaaaaaaaaaaa')).toBe('20261201T120301Z-aaaaaaaaaaaa');
    // The layout before releases ran side by side, or no link at all.
    expect(releaseIdOf('/opt/messenger-chat/releases/1.0.0-abcdef123456')).toBe('');
    expect(releaseIdOf('/srv/messenger-chat/releases')).toBe('');
    expect(releaseIdOf('')).toBe('');
  });

  it('the releases table: which one is live and where each runs right now', () => {
    const out = [`20261201T120301Z-aaaaaaaaaaaa ${manifest('20261201T120301Z-aaaaaaaaaaaa', true, '24.21.0')}`, `20261130T080000Z-bbbbbbbbbbbb ${manifest('20261130T080000Z-bbbbbbbbbbbb')}`, '20261120T080000Z-cccccccccccc {'].join('\n');
    const links = new Map([
      [3000, '/srv/messenger-chat/releases/20261130T080000Z-bbbbbbbbbbbb'],
      [3001, '/srv/messenger-chat/releases/20261201T120301Z-aaaaaaaaaaaa'],
    ]);
    // The new release serves on 3001; the old one still drains on 3000.
    const rows = releaseRows(out, '/srv/messenger-chat/releases/20261201T120301Z-aaaaaaaaaaaa', links, new Set([3000, 3001]));
    expect(rows).toEqual([
      { id: '20261201T120301Z-aaaaaaaaaaaa', version: '1.0.0', createdAt: '2026-12-01T00:00:00.000Z', by: 'ci', migrates: true, node: '24.21.0', live: true, runningOn: [3001] },
      // A release from before manifests named their Node.js.
      { id: '20261130T080000Z-bbbbbbbbbbbb', version: '1.0.0', createdAt: '2026-12-01T00:00:00.000Z', by: 'ci', migrates: false, node: null, live: false, runningOn: [3000] },
      { id: '20261120T080000Z-cccccccccccc', version: null, createdAt: null, by: null, migrates: false, node: null, live: false, runningOn: [] },
    ]);
    // Once drained, the old one runs nowhere though its link remains.
    expect(releaseRows(out, '/srv/messenger-chat/releases/20261201T120301Z-aaaaaaaaaaaa', links, new Set([3001]))[1]?.runningOn).toEqual([]);
  });
});

describe("nginx's live upstream", () => {
  it('names the live ports, one server line each, as the release program writes them', () => {
    expect(upstreamContent([3003, 3004])).toBe('server 127.0.0.1:3003 max_fails=3 fail_timeout=10s;\nserver 127.0.0.1:3004 max_fails=3 fail_timeout=10s;\n');
    expect(upstreamPorts(upstreamContent([3003, 3004]))).toEqual([3003, 3004]);
    expect(upstreamPorts('# managed\nserver 127.0.0.1:3001;\n  server 10.0.0.5:3002;\nserver 127.0.0.1:30011 backup;\n')).toEqual([3001, 30011]);
    expect(upstreamPorts('')).toEqual([]);
    expect(upstreamPorts(undefined)).toEqual([]);
  });

  it('is seeded once with the first slot (nginx -t needs the include), root-owned, notifying nothing', () => {
    const m = buildHostModel(stackOf(), OS_PROFILES.debian13);
    expect(seedUpstreamFile(m)).toEqual({
      path: '/etc/nginx/messenger-chat-upstream.inc',
      content: 'server 127.0.0.1:3000 max_fails=3 fail_timeout=10s;\n',
      mode: 0o644,
      owner: 'root',
      group: 'root',
      notify: [],
    });
    const scale = buildHostModel(loadStack({ overrides: { tier: 'scale', domain: 'chat.messenger.test', email: 'ops@messenger.test', app: { port: 4100 } } }), OS_PROFILES.debian13);
    expect(upstreamPorts(seedUpstreamFile(scale).content)).toEqual([4100, 4101, 4102]);
  });
});

describe('the slot the next release takes', () => {
  const slots: [number[], number[]] = [A, B];

  it('live on A: B; live on B: A (the new release starts beside the old one)', () => {
    expect(targetSlot(slots, A, new Set(A), false)).toBe(1);
    expect(targetSlot(slots, B, new Set(B), false)).toBe(0);
    // The upstream lists the ports in any order.
    expect(targetSlot(slots, [3005, 3003, 3004], new Set(B), false)).toBe(0);
    // Some live instances down: the others still serve, so beside them.
    expect(targetSlot(slots, A, new Set([3000]), false)).toBe(1);
  });

  it('no upstream yet: A, unless something of ours already runs there (a host from before), then B', () => {
    expect(targetSlot(slots, [], none, false)).toBe(0);
    expect(targetSlot(slots, [], new Set([3000, 3001, 3002]), false)).toBe(1);
    expect(targetSlot(slots, [], new Set([3004]), false)).toBe(0);
  });

  it('an upstream that matches no slot (the tier or app.port changed): as if there were none', () => {
    expect(targetSlot(slots, [3000], new Set([3000]), false)).toBe(1);
    expect(targetSlot(slots, [5000, 5001, 5002], none, false)).toBe(0);
  });

  it('the live slot with nothing running on it (a seeded upstream, every instance failed): that slot again', () => {
    expect(targetSlot(slots, A, none, false)).toBe(0);
    expect(targetSlot(slots, B, none, false)).toBe(1);
    // Only the other slot runs (a release still draining there): the live slot, not on top of the drain.
    expect(targetSlot(slots, B, new Set(A), false)).toBe(1);
  });

  it('in place (strategy restart): always the live slot', () => {
    expect(targetSlot(slots, A, new Set(A), true)).toBe(0);
    expect(targetSlot(slots, B, new Set(B), true)).toBe(1);
    expect(targetSlot(slots, [], new Set(A), true)).toBe(0);
    expect(targetSlot(slots, [], none, true)).toBe(0);
  });
});
