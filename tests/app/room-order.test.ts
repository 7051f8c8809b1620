import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../app/src/protocol.js';
import { RoomOrder } from '../../app/src/room-order.js';

/** The ordering rule on its own: the database range read is a plain function of the rows stored. */
const msg = (seq: number | undefined, room = 'r'): ChatMessage => ({ room, id: seq ?? 0, ...(seq === undefined ? {} : { seq }), user: 'u', text: `m${seq}`, ts: new Date(0).toISOString() });
const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(stored: number[], fail = false) {
  const out: Array<number | undefined> = [];
  const reads: Array<[number, number]> = [];
  const order = new RoomOrder(
    (m) => out.push(m.seq),
    async (room, from, to) => {
      reads.push([from, to]);
      if (fail) throw new Error('database down');
      return stored.filter((s) => s > from && s < to).map((s) => msg(s, room));
    },
  );
  return { order, out, reads };
}

describe('room order', () => {
  it('delivers in seq order, each once: a message past a gap waits while the gap is read', async () => {
    const { order, out, reads } = setup([1, 2, 3, 4, 5]);
    order.accept(msg(1));
    order.accept(msg(3));
    expect(out).toEqual([1]);
    await tick();
    expect(reads).toEqual([[1, 3]]);
    expect(out).toEqual([1, 2, 3]);
    // The relay's late copy of 2 and a repeated 3 are dropped.
    order.accept(msg(2));
    order.accept(msg(3));
    order.accept(msg(4));
    expect(out).toEqual([1, 2, 3, 4]);
    expect(order.duplicates).toBe(2);
  });

  it('a row the read does not return is skipped, and later messages still flow', async () => {
    const { order, out } = setup([1, 3]);
    order.accept(msg(1));
    order.accept(msg(3));
    await tick();
    expect(out).toEqual([1, 3]);
    order.accept(msg(4));
    expect(out).toEqual([1, 3, 4]);
  });

  it('the database down: what is held goes out in order anyway', async () => {
    const { order, out } = setup([], true);
    order.accept(msg(1));
    order.accept(msg(4));
    order.accept(msg(3));
    await tick();
    expect(out).toEqual([1, 3, 4]);
  });

  it('the missing message arriving by the relay while its gap is read: each once, in order, and the order goes on', async () => {
    const { order, out } = setup([1, 2, 3, 4, 5, 6]);
    order.accept(msg(1));
    order.accept(msg(3));
    order.accept(msg(2));
    await tick();
    expect(out).toEqual([1, 2, 3]);
    order.accept(msg(5));
    order.accept(msg(6));
    await tick();
    expect(out).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a join starts the order after the newest stored seq; an older one relayed late is left to history', () => {
    const { order, out } = setup([]);
    order.track('r', 10);
    order.accept(msg(10));
    order.accept(msg(11));
    // A room already tracked keeps its place.
    order.track('r', 5);
    order.accept(msg(12));
    expect(out).toEqual([11, 12]);
  });

  it('rooms are independent; a message without a seq passes straight through', () => {
    const { order, out } = setup([]);
    order.accept(msg(7, 'a'));
    order.accept(msg(1, 'b'));
    order.accept(msg(undefined, 'a'));
    order.accept(msg(8, 'a'));
    expect(out).toEqual([7, 1, undefined, 8]);
  });
});
