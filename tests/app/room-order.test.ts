import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../app/src/protocol.js';
import { RoomOrder } from '../../app/src/room-order.js';

/** The ordering rule on its own: the database range read is a plain function of the rows stored. */
const msg = (seq: number | undefined, room = 'r'): ChatMessage => ({ room, id: seq ?? 0, ...(seq === undefined ? {} : { seq }), user: 'u', text: `m${seq}`, ts: new Date(0).toISOString() });
const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(stored: number[], fail = false, members = new Set(['r', 'a', 'b'])) {
  const out: Array<number | undefined> = [];
  const reads: Array<[number, number]> = [];
  let release: (() => void) | undefined;
  let hold = false;
  const order = new RoomOrder(
    (m) => out.push(m.seq),
    async (room, from, to) => {
      reads.push([from, to]);
      // `hold`: the read stays in flight until the test lets it finish.
      if (hold) await new Promise<void>((r) => (release = r));
      if (fail) throw new Error('database down');
      return stored.filter((s) => s > from && s < to).map((s) => msg(s, room));
    },
    (room) => members.has(room),
  );
  return { order, out, reads, members, holdReads: () => (hold = true), finishRead: () => release?.() };
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
    // The bus's late copy of 2 and a repeated 3 are dropped.
    order.accept(msg(2));
    order.accept(msg(3));
    order.accept(msg(4));
    expect(out).toEqual([1, 2, 3, 4]);
    expect(order.duplicates).toBe(2);
  });

  it('catches up to a seq the bus says is stored (a lost publish), reading the tail nobody heard, then goes on live', async () => {
    const { order, out, reads } = setup([1, 2, 3, 4, 5, 6]);
    order.track('r', 2);
    order.accept(msg(3));
    expect(out).toEqual([3]);
    // 4 and 5 were published while Redis was away: no later message shows the gap, the mark does.
    order.catchUp('r', 5);
    await tick();
    expect(reads).toEqual([[3, 6]]);
    expect(out).toEqual([3, 4, 5]);
    // A mark for what was delivered already, or for a room nobody here reads, reads nothing.
    order.catchUp('r', 4);
    order.catchUp('elsewhere', 9);
    await tick();
    expect(reads).toHaveLength(1);
    order.accept(msg(5));
    order.accept(msg(6));
    expect(out).toEqual([3, 4, 5, 6]);
    expect(order.roomNames()).toEqual(['r']);
  });

  it('forgets a room whose members all left when asked for the rooms read here, so a catch-up never reads it', async () => {
    const { order, members } = setup([1]);
    order.track('r', 0);
    order.track('a', 0);
    members.delete('a');
    expect(order.roomNames()).toEqual(['r']);
    expect(order.trackedRooms).toBe(1);
  });

  it('a catch-up read that fails skips to the marked seq: clients catch up through history on reconnect', async () => {
    const { order, out } = setup([], true);
    order.track('r', 0);
    order.catchUp('r', 3);
    await tick();
    expect(out).toEqual([]);
    order.accept(msg(4));
    expect(out).toEqual([4]);
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

  it('a second gap opened while the first is read is read too: nothing skipped, nothing lost', async () => {
    const { order, out, reads, holdReads, finishRead } = setup([4, 5, 6, 7, 8, 9, 10]);
    holdReads();
    order.accept(msg(4));
    order.accept(msg(7));
    // During the read of (4, 7): 5 and 6 come by the relay, then 10 past a new gap.
    order.accept(msg(5));
    order.accept(msg(6));
    order.accept(msg(10));
    expect(out).toEqual([4, 5, 6, 7]);
    finishRead();
    await tick();
    finishRead();
    await tick();
    expect(reads).toEqual([[4, 7], [7, 10]]);
    expect(out).toEqual([4, 5, 6, 7, 8, 9, 10]);
    // The relay's late copies of 8 and 9 are the duplicates.
    order.accept(msg(8));
    order.accept(msg(9));
    expect(order.duplicates).toBe(2);
  });

  it('a room nobody here reads is not tracked; once its last member leaves, its order is forgotten', () => {
    const { order, out, members } = setup([]);
    members.delete('r');
    order.accept(msg(5));
    expect(order.trackedRooms).toBe(0);
    members.add('r');
    order.track('r', 5);
    order.accept(msg(6));
    expect(order.trackedRooms).toBe(1);
    members.delete('r');
    order.accept(msg(8));
    expect(order.trackedRooms).toBe(0);
    expect(out).toEqual([5, 6, 8]);
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
