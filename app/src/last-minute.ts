/**
 * A count of events over the last 60 seconds, in one-second slots. Prometheus derives rates from two
 * scrapes; `status` scrapes once, so the app reports "messages in the last minute" itself.
 */
const SLOTS = 60;

export class LastMinute {
  private readonly counts = new Float64Array(SLOTS);
  /** The second (since the epoch) each slot counts; a slot from an older minute is stale. */
  private readonly seconds = new Float64Array(SLOTS);

  add(nowMs = Date.now()): void {
    const second = Math.floor(nowMs / 1000);
    const i = second % SLOTS;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.counts[i] = 0;
    }
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  /** Events in the 60 seconds up to `nowMs`, the current second included. */
  total(nowMs = Date.now()): number {
    const second = Math.floor(nowMs / 1000);
    let n = 0;
    for (let i = 0; i < SLOTS; i++) if (second - (this.seconds[i] ?? 0) < SLOTS) n += this.counts[i] ?? 0;
    return n;
  }
}
