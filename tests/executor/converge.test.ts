import { describe, expect, it } from 'vitest';
import { factValue, queryFact } from '../../src/core/facts.js';
import { noChange, type Step } from '../../src/core/step.js';
import { converge } from '../../src/executor/converge.js';
import type { RunEvent } from '../../src/executor/events.js';
import { desired, LocalShellHost, sh } from './fixtures.js';

/** Steps that read and write marker files in a temp dir, so ordering and re-planning are observable. */
function markerStep(id: string, dir: string, opts: { fail?: boolean; sleep?: number } = {}): Step {
  const fact = queryFact(`marker:${id}`, ['read', `${dir}/${id}`]);
  return {
    id,
    title: `marker ${id}`,
    facts: () => [fact],
    plan(facts) {
      if (factValue(facts, fact).stdout === 'done') return noChange();
      return {
        commands: [sh(`write ${id}`, `sleep ${opts.sleep ?? 0}; ${opts.fail ? 'echo broken >&2; exit 3' : `echo done > ${dir}/${id}; echo ${id} >> ${dir}/order`}`)],
        changes: [`write ${id}`],
        diffs: [],
      };
    },
  };
}

describe('converge (real sh)', () => {
  it('runs chains of one phase concurrently, each in order, and reports in declared order', async () => {
    const dir = (await new LocalShellHost().run(sh('tmp', 'mktemp -d'))).stdout.trim();
    const host = new LocalShellHost();
    const events: RunEvent[] = [];
    const report = await converge(
      host,
      desired(),
      [markerStep('a', dir), [[markerStep('b1', dir, { sleep: 0.5 }), markerStep('b2', dir)], [markerStep('c', dir)]], markerStep('d', dir)],
      (e) => events.push(e),
    );
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => `${s.step}:${s.status}`)).toEqual(['a:changed', 'b1:changed', 'b2:changed', 'c:changed', 'd:changed']);
    // c ran while b1 slept; b2 waited for b1; d waited for the whole phase.
    const order = (await host.run(sh('order', `cat ${dir}/order`))).stdout.trim().split('\n');
    expect(order).toEqual(['a', 'c', 'b1', 'b2', 'd']);
    const again = await converge(host, desired(), [markerStep('a', dir), [[markerStep('b1', dir), markerStep('b2', dir)], [markerStep('c', dir)]], markerStep('d', dir)], () => {});
    expect(again.steps.every((s) => s.status === 'ok')).toBe(true);
    expect(events.filter((e) => e.type === 'step' && e.status === 'check')).toHaveLength(5);
  });

  it('stops a failing chain and the later phases; a sibling chain still finishes', async () => {
    const dir = (await new LocalShellHost().run(sh('tmp', 'mktemp -d'))).stdout.trim();
    const report = await converge(
      new LocalShellHost(),
      desired(),
      [[[markerStep('x', dir, { fail: true }), markerStep('y', dir)], [markerStep('z', dir, { sleep: 0.2 })]], markerStep('w', dir)],
      () => {},
    );
    expect(report.ok).toBe(false);
    expect(report.steps.map((s) => `${s.step}:${s.status}`)).toEqual(['x:failed', 'y:skipped', 'z:changed', 'w:skipped']);
    expect(report.steps[0]!.reason).toBe('write x: exit status 3: broken');
    expect(report.steps[1]!.reason).toBe('not run: step x failed');
  });
});
