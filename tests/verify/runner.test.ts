// The runner: prerequisites, skip cascades naming the root failure, background checks, exit codes,
// and the stable JSON report. Pure: checks here are plain functions, no network.
import { describe, expect, it } from 'vitest';
import { CheckFailure } from '../../src/verify/errors.js';
import { renderJson, renderTable } from '../../src/verify/report.js';
import { runChecks, type CheckDef, type VerifyContext } from '../../src/verify/runner.js';
import { parseTarget } from '../../src/verify/target.js';
import type { CheckId, VerifyReport } from '../../src/verify/types.js';

const ctx = (): VerifyContext => ({
  opts: { url: 'wss://chat.example.com/ws', room: 'verify', idleSeconds: 0, connections: 1, messages: 1, timeoutMs: 1000, quick: false, token: 't' },
  target: parseTarget({ url: 'wss://chat.example.com/ws' }),
  token: 't',
  badToken: 'b',
});

const check = (id: CheckId, needs: CheckId[], run: CheckDef['run'], extra: Partial<CheckDef> = {}): CheckDef => ({ id, title: id, needs, run, ...extra });

describe('runChecks', () => {
  it('skips dependants of a failed check, naming the root failure, and keeps going elsewhere', async () => {
    const { results, reachable } = await runChecks(
      [
        check('tls.chain', [], async () => {
          throw new CheckFailure('MI_ERR_VERIFY_TLS_NAME', 'the certificate is for a.test, not b.test');
        }),
        check('http.redirect', [], async () => ({ status: 'pass', figure: '301' })),
        check('ws.upgrade', ['tls.chain'], async () => ({ status: 'pass' })),
        check('ws.ping', ['ws.upgrade'], async () => ({ status: 'pass' })),
      ],
      ctx(),
    );
    expect(reachable).toBe(true);
    expect(results.map((r) => [r.id, r.status, r.cause ?? null])).toEqual([
      ['tls.chain', 'fail', 'the certificate is for a.test, not b.test'],
      ['http.redirect', 'pass', null],
      ['ws.upgrade', 'skip', 'not run: tls.chain failed'],
      ['ws.ping', 'skip', 'not run: tls.chain failed'],
    ]);
    expect(results[0]!.code).toBe('MI_ERR_VERIFY_TLS_NAME');
  });

  it('does not cascade a skip that is not a failure (e.g. DNS skipped under --resolve)', async () => {
    const { results } = await runChecks(
      [check('dns.resolve', [], async () => ({ status: 'fail' }), { skipIf: () => '--resolve given' }), check('tls.chain', ['dns.resolve'], async () => ({ status: 'pass' }))],
      ctx(),
    );
    expect(results.map((r) => r.status)).toEqual(['skip', 'pass']);
  });

  it('starts a background check once its needs are done, overlapping the rest, and reports it in place', async () => {
    const order: string[] = [];
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const { results } = await runChecks(
      [
        check('ws.upgrade', [], async () => (order.push('upgrade'), { status: 'pass' })),
        check('ws.latency', ['ws.upgrade'], async () => (await sleep(150), order.push('latency'), { status: 'pass' })),
        check('ws.idle', ['ws.upgrade'], async () => (order.push('idle start'), await sleep(200), order.push('idle end'), { status: 'pass' }), { background: true }),
      ],
      ctx(),
    );
    // The idle check started before latency ran and ended after it: they overlapped.
    expect(order).toEqual(['upgrade', 'idle start', 'latency', 'idle end']);
    expect(results.map((r) => r.id)).toEqual(['ws.upgrade', 'ws.latency', 'ws.idle']);
  });

  it('marks the run unreachable when a check says nothing answered', async () => {
    const { reachable } = await runChecks([check('tls.chain', [], async () => ({ status: 'fail', unreachable: true, cause: 'ECONNREFUSED' }))], ctx());
    expect(reachable).toBe(false);
  });

  it('turns an unexpected throw into a failure with a stable code', async () => {
    const { results } = await runChecks([check('ws.ping', [], async () => { throw new TypeError('boom'); })], ctx());
    expect(results[0]).toMatchObject({ status: 'fail', code: 'MI_ERR_VERIFY_INTERNAL', cause: 'ws.ping crashed: boom' });
  });
});

describe('report renderers', () => {
  const report: VerifyReport = {
    schema: 'messenger-infra/verify@1',
    url: 'wss://chat.example.com/ws',
    host: 'chat.example.com',
    port: 443,
    room: 'verify',
    quick: true,
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 812,
    reachable: true,
    summary: { pass: 1, fail: 1, warn: 0, skip: 1 },
    exitCode: 4,
    checks: [
      { id: 'tls.chain', title: 'TLS', status: 'pass', figure: 'TLSv1.3', durationMs: 9, data: { protocol: 'TLSv1.3' } },
      { id: 'ws.upgrade', title: 'upgrade', status: 'fail', cause: 'nginx is not forwarding the Upgrade header: got 404 instead of 101', code: 'MI_ERR_VERIFY_UPGRADE', durationMs: 3 },
      { id: 'ws.idle', title: 'idle', status: 'skip', cause: '--quick: idle window skipped', durationMs: 0 },
    ],
  };

  it('JSON has a fixed shape: every key present, nulls instead of missing values', () => {
    const doc = JSON.parse(renderJson(report)) as Record<string, unknown> & { checks: Record<string, unknown>[] };
    expect(Object.keys(doc)).toEqual(['schema', 'url', 'host', 'port', 'address', 'room', 'quick', 'startedAt', 'durationMs', 'reachable', 'exitCode', 'summary', 'checks']);
    expect(doc.address).toBeNull();
    for (const c of doc.checks) expect(Object.keys(c)).toEqual(['id', 'title', 'status', 'figure', 'cause', 'code', 'durationMs', 'data']);
    expect(doc.checks[1]).toMatchObject({ status: 'fail', figure: null, code: 'MI_ERR_VERIFY_UPGRADE', data: {} });
  });

  it('the table shows one row per check with the figure or the cause', () => {
    const lines = renderTable(report).split('\n');
    expect(lines).toContain('  PASS  tls.chain   TLSv1.3');
    expect(lines).toContain('  FAIL  ws.upgrade  nginx is not forwarding the Upgrade header: got 404 instead of 101');
    expect(lines).toContain('  SKIP  ws.idle     --quick: idle window skipped');
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 0 warnings, 1 skipped in 0.8 s');
  });
});
