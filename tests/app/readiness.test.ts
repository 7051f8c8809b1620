import { describe, expect, it } from 'vitest';
import { cachedCheck } from '../../app/src/http-router.js';

/** /readyz is public: however many ask, the database is pinged at most once a second (issue 14, finding 7). */
describe('the readiness check', () => {
  it('shares one ping among concurrent callers and reuses it within the ttl', async () => {
    let pings = 0;
    const ready = cachedCheck(200, async () => {
      pings += 1;
      await new Promise((r) => setTimeout(r, 20));
    }, () => {});
    expect(await Promise.all(Array.from({ length: 50 }, () => ready()))).toEqual(Array(50).fill(true));
    expect(await ready()).toBe(true);
    expect(pings).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(await ready()).toBe(true);
    expect(pings).toBe(2);
  });

  it('reports a failure once per change of state, and recovers', async () => {
    let up = false;
    const failures: unknown[] = [];
    const ready = cachedCheck(0, async () => {
      if (!up) throw new Error("connect ECONNREFUSED /run/mysqld/mysqld.sock");
    }, (err) => failures.push(err));
    expect(await ready()).toBe(false);
    expect(await ready()).toBe(false);
    expect(failures).toHaveLength(1);
    up = true;
    expect(await ready()).toBe(true);
    up = false;
    expect(await ready()).toBe(false);
    expect(failures).toHaveLength(2);
  });
});
