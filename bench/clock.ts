/**
 * The clock a bench server runs on: the wall clock, moved forward on demand. Maintenance
 * waits on ages — a small batch is merged once it is 5 minutes old, a replaced chunk is
 * deleted 5 minutes after its swap — and the bench moves the clock past them instead of
 * waiting. It only ever moves forward, as a server's clock does.
 */
export class BenchClock {
  #aheadMs = 0;

  readonly now = (): number => Date.now() + this.#aheadMs;

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`the clock moves forward only, not by ${ms} ms`);
    this.#aheadMs += ms;
  }
}
