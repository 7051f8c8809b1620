import { describe, expect, it } from 'vitest';
import { spreadFor } from '../../app/src/drain.js';

/** How long a draining instance spreads its 1012 closes: steady reconnects, within the configured bound. */
describe('drain spread', () => {
  it('two seconds for a few sockets, longer for many (200 reconnects a second), never beyond the bound', () => {
    expect(spreadFor(10, 200, 30_000)).toBe(2_000);
    expect(spreadFor(400, 200, 30_000)).toBe(2_000);
    expect(spreadFor(1_000, 200, 30_000)).toBe(5_000);
    expect(spreadFor(10_000, 200, 30_000)).toBe(30_000);
  });

  it('a bound below two seconds is the spread; 0 closes everything at once', () => {
    expect(spreadFor(1_000, 200, 1_500)).toBe(1_500);
    expect(spreadFor(5, 200, 500)).toBe(500);
    expect(spreadFor(1_000, 200, 0)).toBe(0);
  });
});
