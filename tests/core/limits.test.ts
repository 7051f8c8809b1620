import { describe, expect, it } from 'vitest';
import { capacityWarning, fitToLimits, maxNofile, parseLimits, type HostLimits } from '../../src/core/limits.js';
import { renderHostFiles } from '../../src/core/render.js';
import { deriveSizing } from '../../src/core/sizing.js';
import { HOST_PATHS, buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { loadStack } from '../../src/config/load.js';
import { fileAt } from './fixtures.js';

/** The host's limits as facts, and the tier's sizing fitted to them (issue 13: limits as facts). */
const CONTAINER = 'nofile-hard 20000\nraise no\nnr-open 1048576\nfile-max 2466170\nsomaxconn 4096\nports 32768 60999\n';
const VPS = 'nofile-hard 524288\nraise yes\nnr-open 1048576\nfile-max 9223372036854775807\nsomaxconn 4096\nports 10000 65535\n';
const limits = (text: string): HostLimits => {
  const parsed = parseLimits(text);
  if (!parsed) throw new Error('unparsed');
  return parsed;
};

describe('host limits', () => {
  it('parses the fact; an unreadable one gives nothing (tier values stay)', () => {
    expect(limits(CONTAINER)).toEqual({ nofileHard: 20000, mayRaise: false, nrOpen: 1048576, fileMax: 2466170, somaxconn: 4096, ports: [32768, 60999] });
    expect(limits('nofile-hard unlimited\nraise no\nnr-open 1048576\nports 1 2\n').nofileHard).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseLimits('')).toBeUndefined();
    expect(parseLimits('nofile-hard x\nnr-open 5\nports 1 2\n')).toBeUndefined();
  });

  it('a process may hold PID 1 hard limit, or nr_open where PID 1 may raise it', () => {
    expect(maxNofile(limits(CONTAINER))).toBe(20000);
    expect(maxNofile(limits(VPS))).toBe(1048576);
  });

  it('a container whose hard limit is below worker_rlimit_nofile: nginx and the app get what it allows, the tier still fits', () => {
    const tier = deriveSizing('mvp');
    expect(tier.nginx.workerRlimitNofile).toBe(26624);
    const { sizing, capacity } = fitToLimits(tier, limits(CONTAINER));
    expect(sizing.nginx.workerRlimitNofile).toBe(20000);
    expect(sizing.nginx.workerConnections).toBe(tier.nginx.workerConnections);
    expect(sizing.app.limitNofile).toBe(20000);
    expect(capacity).toEqual({ clients: 10240, planned: 10240, limitedBy: null });
    expect(capacityWarning(capacity, 'mvp')).toBeNull();
  });

  it('a host that allows too few descriptors: the number it can hold, and what binds', () => {
    const { sizing, capacity } = fitToLimits(deriveSizing('scale'), limits(CONTAINER.replace('20000', '4096')));
    expect(sizing.nginx.workerRlimitNofile).toBe(4096);
    expect(sizing.nginx.workerConnections).toBe(3072);
    expect(capacity.planned).toBe(40960);
    expect(capacity.clients).toBe(6144);
    expect(capacity.limitedBy).toMatch(/^nginx: 3072 connections per worker \(this host allows 4096 open files per process\)$/);
    expect(capacityWarning(capacity, 'scale')).toBe(`this host holds about 6144 WebSocket clients, not the 40960 the scale tier plans: limited by ${capacity.limitedBy}`);
  });

  it('a narrow ephemeral port range binds too: one source port per upstream connection', () => {
    const { capacity } = fitToLimits(deriveSizing('mvp'), limits(VPS.replace('ports 10000 65535', 'ports 60000 61999')));
    expect(capacity).toEqual({ clients: 2000, planned: 10240, limitedBy: 'ephemeral ports 60000-61999 per instance' });
  });

  it('unknown limits leave the tier as it is', () => {
    const tier = deriveSizing('growth');
    expect(fitToLimits(tier, undefined)).toEqual({ sizing: tier, capacity: { clients: tier.nginx.clients, planned: tier.nginx.clients, limitedBy: null } });
  });

  it('the rendered nginx.conf and unit carry the fitted numbers', () => {
    const stack = loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test' } });
    const files = renderHostFiles(buildHostModel(stack, OS_PROFILES.debian13, undefined, limits(CONTAINER)), 'full');
    expect(fileAt(files, HOST_PATHS.nginxMain).content).toMatch(/^worker_rlimit_nofile 20000;$/m);
    expect(fileAt(files, HOST_PATHS.systemdUnit).content).toMatch(/^LimitNOFILE=20000$/m);
  });
});
