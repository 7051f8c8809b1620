import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { buildStatus, metricSum, statusFacts, systemdTime } from '../../src/core/status.js';

/** `status` from facts as the host prints them: what is down becomes a problem, and `ok` follows. */
const stack = loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test' } });
const model = buildHostModel(stack, OS_PROFILES.debian13);
const NOW = Date.parse('2026-12-01T12:00:00Z');

const service = (state: string, since = 'Tue 2026-12-01 10:00:00 UTC') => ({ stdout: `LoadState=loaded\nActiveState=${state}\nSubState=${state === 'active' ? 'running' : 'dead'}\nActiveEnterTimestamp=${since}`, code: 0 });
/** `facts file` of nginx's live upstream naming `ports`. */
function upstream(...ports: number[]): string {
  const content = ports.map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;\n`).join('');
  return `left\n644 root root\n${createHash('sha256').update(content).digest('hex')}\n${Buffer.from(content).toString('base64')}`;
}
const METRICS = '# TYPE messenger_connections gauge\nmessenger_connections 12\nmessenger_messages_in_total 340\nmessenger_messages_last_minute 7\n';

function facts(overrides: Record<string, { stdout: string; code: number }> = {}) {
  const raw: Record<string, { stdout: string; code: number }> = {
    uptime: { stdout: '7200.5', code: 0 },
    memory: { stdout: 'MemTotal:        2048000 kB\nMemAvailable:     1024000 kB\nSwapTotal:        1048576 kB\nSwapFree:          1048576 kB', code: 0 },
    'disk:/': { stdout: '/dev/vda1 20971520 5242880 15728640 25% /', code: 0 },
    'timer:certbot.timer': { stdout: 'NextElapseUSecRealtime=Tue 2026-12-01 23:43:00 UTC\nLastTriggerUSec=Tue 2026-12-01 11:43:00 UTC', code: 0 },
    'link:/srv/messenger-chat/current': { stdout: 'left\n/srv/messenger-chat/releases/20261130T080000Z-abcdef123456', code: 0 },
    'release-manifest': { stdout: '{"id":"20261130T080000Z-abcdef123456","hash":"abcdef123456","kind":"bundled","version":"0.1.0","migrates":false}', code: 0 },
    'file:/etc/nginx/messenger-chat-upstream.inc': { stdout: upstream(3000), code: 0 },
    'nginx-status': { stdout: 'Active connections: 15 \nserver accepts handled requests\n 1 1 1 \n', code: 0 },
    'cert-end:chat.messenger.test': { stdout: 'notAfter=Feb 28 10:00:00 2027 GMT', code: 0 },
    'service:nginx.service': service('active'),
    'service:mariadb.service': service('active'),
    'service:messenger-chat@3000.service': service('active'),
    // The other slot: nothing there between releases.
    'service:messenger-chat@3001.service': { stdout: 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nActiveEnterTimestamp=', code: 0 },
    'service:redis-server.service': service('active'),
    'metrics:3000': { stdout: METRICS, code: 0 },
    'metrics:3001': { stdout: '', code: 7 },
    ...overrides,
  };
  // Parse through the facts' own parsers, as gathering would.
  return new Map(statusFacts(stack).map((f) => [f.id, f.parse(raw[f.id]!.stdout, raw[f.id]!.code)]));
}

describe('status from facts', () => {
  it('reads every part of a healthy host, and says ok', () => {
    const r = buildStatus(facts(), model, { label: 'root@203.0.113.10:22', os: 'Debian 13' }, NOW);
    expect(r.ok).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.services.map((s) => [s.name, s.state, s.since])).toEqual([
      ['nginx', 'active', '2026-12-01T10:00:00.000Z'],
      ['mariadb', 'active', '2026-12-01T10:00:00.000Z'],
      ['app:3000', 'active', '2026-12-01T10:00:00.000Z'],
      ['redis', 'active', '2026-12-01T10:00:00.000Z'],
    ]);
    expect(r.release).toEqual({ id: '20261130T080000Z-abcdef123456', version: '0.1.0' });
    expect(r.app).toEqual({ instances: 1, scraped: 1, connections: 12, messagesIn: 340, messagesLastMinute: 7 });
    expect(r.nginx.activeConnections).toBe(15);
    expect(r.certificate).toMatchObject({ notAfter: '2027-02-28T10:00:00.000Z', daysLeft: 88, nextRenewal: '2026-12-01T23:43:00.000Z' });
    expect(r.disk).toEqual({ path: '/', usedMb: 5120, totalMb: 20480, usedPct: 25, tierDiskMb: 20480 });
    expect(r.memory).toMatchObject({ usedMb: 1000, totalMb: 2000, tierRamMb: 2048, swapUsedMb: 0 });
    expect(r.uptimeSeconds).toBe(7201);
  });

  it('names what is down: a failed instance, an unreachable /metrics, a certificate about to expire, a full disk', () => {
    const r = buildStatus(
      facts({
        'service:messenger-chat@3000.service': service('failed'),
        'metrics:3000': { stdout: '', code: 7 },
        'cert-end:chat.messenger.test': { stdout: 'notAfter=Dec  4 10:00:00 2026 GMT', code: 0 },
        'disk:/': { stdout: '/dev/vda1 20971520 19922944 1048576 95% /', code: 0 },
      }),
      model,
      { label: 'h', os: 'Debian 13' },
      NOW,
    );
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      'messenger-chat@3000.service is failed (dead)',
      '1 of 1 app instance(s) did not answer /metrics on loopback',
      'the certificate for chat.messenger.test expires in 2 day(s)',
      'the disk is 95% full',
    ]);
    expect(r.app.connections).toBeNull();
  });

  it("names Redis down, and each instance off the bus (it delivers only its own clients' messages)", () => {
    const r = buildStatus(
      facts({ 'service:redis-server.service': service('failed'), 'metrics:3000': { stdout: `${METRICS}messenger_bus_up 0\n`, code: 0 } }),
      model,
      { label: 'h', os: 'Debian 13' },
      NOW,
    );
    expect(r.problems).toEqual([
      'redis-server.service is failed (dead)',
      "app instance(s) on port 3000 cannot reach Redis: each delivers only its own clients' messages until it is back (MI_WARN_BUS_DOWN; see journalctl -u redis-server)",
    ]);
    expect(buildStatus(facts({ 'metrics:3000': { stdout: `${METRICS}messenger_bus_up 1\n`, code: 0 } }), model, { label: 'h', os: 'Debian 13' }, NOW).ok).toBe(true);
  });

  it('follows the live slot: the upstream names 3001, so 3001 must run; 3000 is listed only while it drains', () => {
    const live = { 'file:/etc/nginx/messenger-chat-upstream.inc': { stdout: upstream(3001), code: 0 }, 'metrics:3001': { stdout: METRICS, code: 0 }, 'metrics:3000': { stdout: '', code: 7 } };
    const settled = buildStatus(
      facts({ ...live, 'service:messenger-chat@3000.service': { stdout: 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nActiveEnterTimestamp=', code: 0 }, 'service:messenger-chat@3001.service': service('active') }),
      model,
      { label: 'h', os: 'Debian 13' },
      NOW,
    );
    expect(settled.services.map((s) => s.name)).toEqual(['nginx', 'mariadb', 'app:3001', 'redis']);
    expect([settled.ok, settled.app.instances, settled.app.scraped, settled.app.connections]).toEqual([true, 1, 1, 12]);

    const draining = buildStatus(facts({ ...live, 'service:messenger-chat@3001.service': service('active') }), model, { label: 'h', os: 'Debian 13' }, NOW);
    expect(draining.services.map((s) => s.name)).toEqual(['nginx', 'mariadb', 'app:3000', 'app:3001', 'redis']);
    // The draining instance is not scraped or counted: only the live release is.
    expect([draining.ok, draining.app.instances, draining.app.scraped]).toEqual([true, 1, 1]);

    const down = buildStatus(facts({ ...live, 'service:messenger-chat@3001.service': service('failed') }), model, { label: 'h', os: 'Debian 13' }, NOW);
    expect([down.ok, down.problems]).toEqual([false, ['messenger-chat@3001.service is failed (dead)']]);
  });

  it('without redis in the stack: Redis listed only once it is installed, never a problem when it is not', () => {
    const off = buildHostModel(loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test', redis: { enabled: false } } }), OS_PROFILES.debian13);
    const notThere = { 'service:redis-server.service': { stdout: 'LoadState=not-found\nActiveState=inactive\nSubState=dead\nActiveEnterTimestamp=', code: 0 } };
    const r = buildStatus(facts(notThere), off, { label: 'h', os: 'Debian 13' }, NOW);
    expect([r.ok, r.services.map((s) => s.name)]).toEqual([true, ['nginx', 'mariadb', 'app:3000']]);
    expect(buildStatus(facts(), off, { label: 'h', os: 'Debian 13' }, NOW).services.map((s) => s.name)).toContain('redis');
  });

  it('parses systemd times and Prometheus sums', () => {
    expect(systemdTime('Tue 2026-12-01 10:00:00 UTC')).toBe('2026-12-01T10:00:00.000Z');
    expect(systemdTime('')).toBeNull();
    expect(systemdTime('n/a')).toBeNull();
    expect(metricSum('a{x="1"} 2\na{x="2"} 3\nab 100\n# a 9\n', 'a')).toBe(5);
    expect(metricSum('b 1\n', 'a')).toBeNull();
  });
});
