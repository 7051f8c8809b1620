import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatPlan, type PlanView } from '../../cli/plan-output.js';
import { createRenderer, HEARTBEAT_MS, humanSummary, type RendererOptions } from '../../cli/step-output.js';
import type { Step, StepPlan } from '../../src/core/step.js';
import type { ConvergeReport } from '../../src/executor/converge.js';
import type { StepEvent } from '../../src/executor/events.js';

/** The one renderer pair of step events: human lines (live on a terminal) and JSON lines. */
function capture(options: Partial<RendererOptions> = {}) {
  const out: string[] = [];
  const log: string[] = [];
  const renderer = createRenderer({ json: false, tty: false, write: (t) => out.push(t), log: (t) => log.push(t), ...options });
  return { renderer, out, log };
}

const start = (step: string, title: string): StepEvent => ({ type: 'step', step, title, status: 'check' });
const done = (step: string, title: string, status: StepEvent['status'], extra: Partial<StepEvent> = {}): StepEvent => ({ type: 'step', step, title, status, durationMs: 1200, ...extra });

describe('human renderer', () => {
  it("prints up's words, change lines and the failure's code under each finished step", () => {
    const { renderer, out } = capture();
    renderer.emit({ type: 'info', message: 'root@h:22: Debian 13 (x86_64); tier mvp' });
    renderer.emit(start('nginx', 'nginx'));
    renderer.emit(done('nginx', 'nginx', 'changed', { changes: ['write /etc/nginx/nginx.conf'] }));
    renderer.emit(done('swap', 'swap', 'skipped', { reason: 'inside a container', durationMs: 0 }));
    renderer.emit(done('app', 'chat server', 'failed', { code: 'MI_ERR_HEALTH_GATE', reason: 'not ready\nrestored' }));
    renderer.close();
    expect(out.join('')).toBe(
      [
        'root@h:22: Debian 13 (x86_64); tier mvp',
        '  changed  nginx (1.2 s)',
        '             - write /etc/nginx/nginx.conf',
        '  skipped  swap (0.0 s)',
        '             inside a container',
        '  FAILED   chat server (1.2 s)',
        '             MI_ERR_HEALTH_GATE: not ready',
        '             restored',
        '',
      ].join('\n'),
    );
  });

  it('keeps the recap line the end-to-end tests read', () => {
    const report = { ok: true, changed: 0, failed: 0, steps: [...Array(9).fill({ status: 'ok' }), ...Array(3).fill({ status: 'skipped' })] } as unknown as ConvergeReport;
    expect(humanSummary(report, 1.234)).toBe('no changes: 9 ok, 0 changed, 0 failed, 3 skipped in 1.2 s\n');
  });
});

describe('live progress of long steps', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('on a terminal, redraws one status line of every running step each second, cleared before other output', () => {
    const { renderer, out } = capture({ tty: true });
    renderer.emit(start('packages', 'packages'));
    vi.advanceTimersByTime(2_000);
    renderer.emit(start('node', 'Node.js'));
    vi.advanceTimersByTime(10_000);
    expect(out.at(-1)).toBe('\r\x1b[2K  …  packages (12 s) | Node.js (10 s)');
    renderer.emit(done('node', 'Node.js', 'changed'));
    expect(out.slice(-3)).toEqual(['\r\x1b[2K', '  changed  Node.js (1.2 s)\n', '\r\x1b[2K  …  packages (12 s)']);
    renderer.emit(done('packages', 'packages', 'ok'));
    expect(out.slice(-2)).toEqual(['\r\x1b[2K', '  ok       packages (1.2 s)\n']);
    expect(vi.getTimerCount()).toBe(0);
    renderer.close();
  });

  it('elsewhere, prints "still running" every 30 s per running step', () => {
    const { renderer, out } = capture({ tty: false });
    renderer.emit(start('packages', 'packages'));
    vi.advanceTimersByTime(HEARTBEAT_MS - 1);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(HEARTBEAT_MS + 1);
    expect(out).toEqual(['  …  packages still running (30 s)\n', '  …  packages still running (60 s)\n']);
    renderer.emit(done('packages', 'packages', 'ok'));
    vi.advanceTimersByTime(HEARTBEAT_MS * 3);
    expect(out).toHaveLength(3);
  });

  it('close() stops every timer and clears the status line, so the process can exit', () => {
    for (const tty of [true, false]) {
      const { renderer, out } = capture({ tty });
      renderer.emit(start('a', 'A'));
      renderer.emit(start('b', 'B'));
      expect(vi.getTimerCount()).toBeGreaterThan(0);
      renderer.close();
      expect(vi.getTimerCount()).toBe(0);
      if (tty) expect(out.at(-1)).toBe('\r\x1b[2K');
    }
  });
});

describe('JSON renderer', () => {
  it('prints finished steps as JSON lines; starts are not results, info lines go to the log as text', () => {
    const { renderer, out, log } = capture({ json: true });
    renderer.emit({ type: 'info', message: 'sandbox: already running' });
    renderer.emit(start('nginx', 'nginx'));
    renderer.emit(done('nginx', 'nginx', 'ok'));
    renderer.close();
    expect(out).toEqual([`${JSON.stringify(done('nginx', 'nginx', 'ok'))}\n`]);
    expect(log).toEqual(['sandbox: already running\n']);
  });
});

describe('plan output', () => {
  const step = (id: string, title: string) => ({ id, title }) as Step;
  const plan = (p: Partial<StepPlan>): StepPlan => ({ commands: [], changes: [], diffs: [], ...p });
  const view: PlanView = {
    host: 'root@203.0.113.7:22',
    os: { id: 'debian13', name: 'Debian 13' },
    tier: 'mvp',
    plans: [
      { step: step('swap', 'swap'), plan: plan({ skipped: 'inside a container' }) },
      { step: step('nginx', 'nginx'), plan: plan({ commands: [{ label: 'write nginx.conf' } as StepPlan['commands'][number]], changes: ['write /etc/nginx/nginx.conf'], diffs: ['-a\n+b'] }) },
      { step: step('app', 'chat server'), plan: plan({}) },
    ],
  };

  it("uses up's words and renderer, under a header saying it is a plan, with a recap", () => {
    expect(formatPlan(view, false)).toBe(
      [
        'plan for root@203.0.113.7:22 (Debian 13, tier mvp):',
        '  skipped  swap',
        '             inside a container',
        '  changed  nginx',
        '             - write /etc/nginx/nginx.conf',
        '             -a',
        '             +b',
        '  ok       chat server',
        '1 step(s) would change; run `messenger-infra up` to apply',
        '',
      ].join('\n'),
    );
    expect(formatPlan({ ...view, plans: [view.plans[2]!] }, false)).toMatch(/\n {2}ok {7}chat server\nno changes\n$/);
  });

  it("keeps --json's schema: one object, status 'change' for a step that would change", () => {
    expect(JSON.parse(formatPlan(view, true))).toEqual({
      type: 'plan',
      host: 'root@203.0.113.7:22',
      os: 'debian13',
      changes: 1,
      steps: [
        { step: 'swap', title: 'swap', status: 'skipped', reason: 'inside a container', changes: [], diffs: [], commands: [] },
        { step: 'nginx', title: 'nginx', status: 'change', changes: ['write /etc/nginx/nginx.conf'], diffs: ['-a\n+b'], commands: ['write nginx.conf'] },
        { step: 'app', title: 'chat server', status: 'ok', changes: [], diffs: [], commands: [] },
      ],
    });
  });
});
