import { describe, expect, it } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import { parseDuration } from '../../src/core/duration.js';
import { formatLogLine, logsArgv, mergeByTime, parseTaggedLine } from '../../src/core/logs.js';

const stack = loadStack({ overrides: { tier: 'scale', domain: 'chat.messenger.test', email: 'ops@messenger.test' } });

describe('logs', () => {
  it('asks the remote `logs` program for the units a name means', () => {
    expect(logsArgv({ source: 'app', follow: false, lines: 50 }, stack)).toEqual([
      // Both slots: a release that is draining (or failed to start) is in the logs too.
      'logs', '-n', '50', '--',
      'messenger-chat@3000.service', 'messenger-chat@3001.service', 'messenger-chat@3002.service',
      'messenger-chat@3003.service', 'messenger-chat@3004.service', 'messenger-chat@3005.service',
    ]);
    expect(logsArgv({ source: 'nginx', follow: true, lines: 10, since: new Date('2026-12-01T10:00:00Z') }, stack)).toEqual([
      'logs', '-f', '-n', '10', '--since', '2026-12-01 10:00:00 UTC', '--nginx', '--', 'nginx.service',
    ]);
    expect(logsArgv({ source: 'all', follow: false, lines: 5 }, stack)).toContain('redis-server.service');
  });

  it('reads journal, access and error lines with their times and sources', () => {
    expect(parseTaggedLine('J 2026-12-01T10:00:01.250000+00:00 vm messenger-chat-3000[812]: listening on 127.0.0.1:3000')).toEqual({
      time: new Date('2026-12-01T10:00:01.250Z'),
      source: 'messenger-chat-3000',
      text: 'listening on 127.0.0.1:3000',
    });
    const access = parseTaggedLine('A {"time":"2026-12-01T10:00:02+00:00","remote_addr":"198.51.100.7","method":"GET","uri":"/healthz","status":200,"request_time":0.001}');
    expect(access).toEqual({ time: new Date('2026-12-01T10:00:02Z'), source: 'nginx/access', text: '198.51.100.7 GET /healthz 200 0.001s' });
    expect(parseTaggedLine('E 2026/12/01 10:00:00 [warn] 12#12: something')).toMatchObject({ time: new Date('2026-12-01T10:00:00Z'), source: 'nginx/error' });
    expect(parseTaggedLine('J -- No entries --')).toBeNull();
    expect(parseTaggedLine('garbage')).toBeNull();
  });

  it('interleaves sources by time, keeps untimed lines after their predecessor, and keeps the last N', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s));
    const merged = mergeByTime(
      [
        { time: at(3), source: 'a', text: '3' },
        { time: null, source: 'a', text: '3+' },
        { time: at(1), source: 'b', text: '1' },
        { time: at(2), source: 'c', text: '2' },
      ],
      3,
    );
    expect(merged.map((l) => l.text)).toEqual(['2', '3', '3+']);
    expect(mergeByTime([{ time: at(1), source: 'a', text: 'old' }, { time: at(5), source: 'a', text: 'new' }], 10, at(4)).map((l) => l.text)).toEqual(['new']);
    expect(formatLogLine({ time: at(1), source: 'nginx', text: 'x' })).toBe('2026-12-01T10:00:01.000Z nginx                x');
  });

  it('takes durations as operators write them', () => {
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('30m'), parseDuration('1h'), parseDuration('7d')]).toEqual([90, 90, 1800, 3600, 604800]);
    expect([parseDuration('0'), parseDuration('1w'), parseDuration('-1h'), parseDuration('')]).toEqual([null, null, null, null]);
  });
});
