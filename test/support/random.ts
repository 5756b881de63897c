/** Seeded randomness for tests: a failure repeats from the seed it printed. */

/** mulberry32: a tiny, fast 32-bit generator; plenty for choosing test inputs. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** One of the choices, by weight. */
  weighted<T>(choices: readonly (readonly [number, () => T])[]): T {
    let roll = this.next() * choices.reduce((sum, [weight]) => sum + weight, 0);
    for (const [weight, choose] of choices) {
      roll -= weight;
      if (roll < 0) return choose();
    }
    const last = choices.at(-1);
    if (!last) throw new Error('no choices');
    return last[1]();
  }
}
