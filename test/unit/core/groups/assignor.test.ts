import { describe, expect, it } from 'vitest';
import {
  type Assignment,
  type AssignorMember,
  assignPartitions,
} from '../../../../functions/core/groups/assignor.ts';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const member = (memberId: string, ...topics: string[]): AssignorMember => ({ memberId, topics });
const counts = (entries: Record<string, number>) => new Map(Object.entries(entries));
const NONE: Assignment = new Map();

/** The assignment as nested entry arrays, so comparisons see order as well as content. */
function entries(assignment: Assignment): [string, [string, number[]][]][] {
  return [...assignment].map(([memberId, topics]) => [
    memberId,
    [...topics].map(([topic, partitions]) => [topic, [...partitions]]),
  ]);
}

/** `{memberId: {topic: partitions}}`, readable in failure messages. */
function plain(assignment: Assignment): Record<string, Record<string, number[]>> {
  return Object.fromEntries(
    [...assignment].map(([memberId, topics]) => [
      memberId,
      Object.fromEntries([...topics].map(([topic, partitions]) => [topic, [...partitions]])),
    ]),
  );
}

/** `topic/partition` → owner. Assumes each partition has one owner (checked separately). */
function owners(assignment: Assignment): Map<string, string> {
  const result = new Map<string, string>();
  for (const [memberId, topics] of assignment) {
    for (const [topic, partitions] of topics) {
      for (const p of partitions) result.set(`${topic}/${p}`, memberId);
    }
  }
  return result;
}

/** Partitions of `next` whose owner is not their owner in `previous` (new ones included). */
function moved(previous: Assignment, next: Assignment): number {
  const before = owners(previous);
  let count = 0;
  for (const [key, owner] of owners(next)) if (before.get(key) !== owner) count++;
  return count;
}

const countOf = (assignment: Assignment, memberId: string) =>
  [...(assignment.get(memberId)?.values() ?? [])].reduce((sum, list) => sum + list.length, 0);

/** Cheaper than `expect` in loops that run millions of times; throws with the message. */
function ensure(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** mulberry32: a tiny seeded PRNG, so every random scenario reproduces from its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Random {
  readonly int: (min: number, max: number) => number;
  readonly chance: (p: number) => boolean;
  readonly pick: <T>(items: readonly T[]) => T;
  readonly shuffle: <T>(items: readonly T[]) => T[];
}

function random(seed: number): Random {
  const next = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    int,
    chance: (p) => next() < p,
    pick: (items) => {
      const item = items[int(0, items.length - 1)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
    shuffle: (items) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i);
        [copy[i], copy[j]] = [copy[j] as (typeof copy)[number], copy[i] as (typeof copy)[number]];
      }
      return copy;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Invariants, checked after every random step
// ---------------------------------------------------------------------------------------------

interface Step {
  readonly members: readonly AssignorMember[];
  readonly partitionCounts: ReadonlyMap<string, number>;
  readonly previous: Assignment;
  /** `previous` gives each partition at most one owner (true for any output of ours). */
  readonly previousDisjoint: boolean;
}

/** Subscribers of each topic that exists and has partitions, as the assignor sees them. */
function subscribersOf(step: Step): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  for (const { memberId, topics } of step.members) {
    for (const topic of topics) {
      if ((step.partitionCounts.get(topic) ?? 0) === 0) continue;
      const set = result.get(topic) ?? new Set<string>();
      set.add(memberId);
      result.set(topic, set);
    }
  }
  return result;
}

/** A member's previous partitions of a topic that are still valid: ascending, no repeats. */
function validPrevious(step: Step, memberId: string, topic: string): number[] {
  const count = step.partitionCounts.get(topic) ?? 0;
  const list = step.previous.get(memberId)?.get(topic) ?? [];
  return [...new Set(list.filter((p) => Number.isInteger(p) && p >= 0 && p < count))].sort(
    (a, b) => a - b,
  );
}

function checkInvariants(step: Step, next: Assignment): void {
  const subscribers = subscribersOf(step);
  const ids = step.members.map((m) => m.memberId).sort();

  // Every member appears, in memberId order; topics in name order; lists ascending and valid.
  ensure(same([...next.keys()], ids), 'every member, in memberId order');
  const seen = new Map<string, number>();
  for (const [memberId, topics] of next) {
    const names = [...topics.keys()];
    ensure(same(names, [...names].sort()), `${memberId}: topics in name order`);
    for (const [topic, partitions] of topics) {
      ensure(subscribers.get(topic)?.has(memberId) === true, `${memberId} reads ${topic}`);
      ensure(partitions.length > 0, `${memberId}: empty list for ${topic}`);
      const count = step.partitionCounts.get(topic) ?? 0;
      partitions.forEach((p, i) => {
        ensure(Number.isInteger(p) && p >= 0 && p < count, `${topic}/${p} exists`);
        ensure(i === 0 || p > (partitions[i - 1] ?? -1), `${memberId}: ${topic} ascending`);
        seen.set(`${topic}/${p}`, (seen.get(`${topic}/${p}`) ?? 0) + 1);
      });
    }
  }

  // Every partition of every subscribed topic owned exactly once; nothing else owned.
  let expected = 0;
  for (const [topic, members] of subscribers) {
    const count = step.partitionCounts.get(topic) ?? 0;
    expected += count;
    for (let p = 0; p < count; p++) {
      ensure(seen.get(`${topic}/${p}`) === 1, `${topic}/${p} has exactly one owner`);
    }

    // Per-topic balance: floor(n/k) or ceil(n/k) each.
    const base = Math.floor(count / members.size);
    const sizes = [...members].map((id) => next.get(id)?.get(topic)?.length ?? 0);
    for (const size of sizes) {
      ensure(size === base || size === base + 1, `${topic}: ${size} is not ${base} or ${base + 1}`);
    }
  }
  ensure(seen.size === expected, 'only subscribed partitions are owned');

  // Members with identical (effective) subscriptions: totals differ by at most the number of
  // those topics whose partitions do not divide evenly, since only those topics hand out a
  // ceil; and by at most 1 for a fresh assignment, where "fewest so far" alone picks the ceils.
  const groups = new Map<string, string[]>();
  for (const { memberId, topics } of step.members) {
    const key = [...new Set(topics.filter((t) => subscribers.has(t)))].sort().join(',');
    groups.set(key, [...(groups.get(key) ?? []), memberId]);
  }
  for (const [key, memberIds] of groups) {
    if (memberIds.length < 2 || key === '') continue;
    const uneven = key.split(',').filter((topic) => {
      const k = subscribers.get(topic)?.size ?? 1;
      return (step.partitionCounts.get(topic) ?? 0) % k !== 0;
    }).length;
    const totals = memberIds.map((id) => countOf(next, id));
    const spread = Math.max(...totals) - Math.min(...totals);
    ensure(spread <= uneven, `${key}: spread ${spread} over ${uneven} uneven topics`);
    if (step.previous.size === 0) ensure(spread <= 1, `${key}: fresh spread ${spread}`);
  }

  if (!step.previousDisjoint) return;

  // Minimal movement, per topic: no balanced assignment keeps more than
  // Σ min(prev_m, floor) + min(n mod k, #{m : prev_m > floor}) partitions in place.
  for (const [topic, members] of subscribers) {
    const count = step.partitionCounts.get(topic) ?? 0;
    const base = Math.floor(count / members.size);
    const extra = count % members.size;
    let keepable = 0;
    let above = 0;
    let kept = 0;
    for (const id of members) {
      const valid = validPrevious(step, id, topic);
      keepable += Math.min(valid.length, base);
      if (valid.length > base) above++;
      const now = new Set(next.get(id)?.get(topic) ?? []);
      const stayed = valid.filter((p) => now.has(p));
      kept += stayed.length;
      // Stickiness keeps the lowest-numbered valid previous partitions.
      ensure(
        same(stayed, valid.slice(0, Math.min(valid.length, now.size))),
        `${id}: kept ${stayed} of ${valid} on ${topic}, not the lowest`,
      );
    }
    keepable += Math.min(extra, above);
    ensure(kept === keepable, `${topic}: kept ${kept}, could keep ${keepable}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------

describe('assignPartitions', () => {
  it('gives a lone member every partition', () => {
    const result = assignPartitions([member('a', 'orders')], counts({ orders: 4 }), NONE);
    expect(plain(result)).toEqual({ a: { orders: [0, 1, 2, 3] } });
  });

  it('splits 6 partitions 3/3 between two members', () => {
    const result = assignPartitions(
      [member('b', 'orders'), member('a', 'orders')],
      counts({ orders: 6 }),
      NONE,
    );
    expect(plain(result)).toEqual({ a: { orders: [0, 1, 2] }, b: { orders: [3, 4, 5] } });
  });

  it('moves exactly 2 partitions when a third member joins, one from each', () => {
    const before = assignPartitions(
      [member('a', 'orders'), member('b', 'orders')],
      counts({ orders: 6 }),
      NONE,
    );
    const after = assignPartitions(
      [member('a', 'orders'), member('b', 'orders'), member('c', 'orders')],
      counts({ orders: 6 }),
      before,
    );
    expect(plain(after)).toEqual({
      a: { orders: [0, 1] },
      b: { orders: [3, 4] },
      c: { orders: [2, 5] },
    });
    expect(moved(before, after)).toBe(2);
  });

  it('moves only the partitions of a member that leaves', () => {
    const three = [member('a', 'orders'), member('b', 'orders'), member('c', 'orders')];
    const before = assignPartitions(three, counts({ orders: 6 }), NONE);
    expect(plain(before)).toEqual({
      a: { orders: [0, 1] },
      b: { orders: [2, 3] },
      c: { orders: [4, 5] },
    });
    const after = assignPartitions(three.slice(0, 2), counts({ orders: 6 }), before);
    expect(plain(after)).toEqual({ a: { orders: [0, 1, 4] }, b: { orders: [2, 3, 5] } });
    expect(moved(before, after)).toBe(2);
  });

  it('keeps the lowest-numbered partitions when a member must give some up', () => {
    const previous: Assignment = new Map([
      ['a', new Map([['orders', [1, 3, 5, 7]]])],
      ['b', new Map([['orders', [0, 2, 4, 6]]])],
    ]);
    const after = assignPartitions(
      [member('a', 'orders'), member('b', 'orders'), member('c', 'orders')],
      counts({ orders: 8 }),
      previous,
    );
    expect(plain(after)).toEqual({
      a: { orders: [1, 3, 5] },
      b: { orders: [0, 2, 4] },
      c: { orders: [6, 7] },
    });
  });

  it('balances each topic over its own subscribers only', () => {
    const result = assignPartitions(
      [member('a', 'clicks', 'orders'), member('b', 'orders'), member('c', 'clicks', 'missing')],
      counts({ clicks: 4, orders: 3, unread: 5 }),
      NONE,
    );
    // clicks first (name order): a and c take 2 each. orders: b has taken least so far, so it
    // gets the extra. `unread` has no subscriber and `missing` does not exist: nobody gets them.
    expect(plain(result)).toEqual({
      a: { clicks: [0, 1], orders: [0] },
      b: { orders: [1, 2] },
      c: { clicks: [2, 3] },
    });
  });

  it('drops the partitions of a deleted topic and leaves the rest in place', () => {
    const subscribed = [member('a', 'clicks', 'orders'), member('b', 'clicks', 'orders')];
    const before = assignPartitions(subscribed, counts({ clicks: 4, orders: 4 }), NONE);
    const after = assignPartitions(subscribed, counts({ clicks: 4 }), before);
    expect(plain(after)).toEqual({ a: { clicks: [0, 1] }, b: { clicks: [2, 3] } });
  });

  it('places only the new partitions when a topic grows, on the least loaded member', () => {
    const subscribed = [member('a', 'clicks', 'orders'), member('b', 'clicks', 'orders')];
    const before = assignPartitions(subscribed, counts({ clicks: 3, orders: 2 }), NONE);
    expect(plain(before)).toEqual({
      a: { clicks: [0, 1], orders: [0] },
      b: { clicks: [2], orders: [1] },
    });
    const after = assignPartitions(subscribed, counts({ clicks: 3, orders: 3 }), before);
    expect(plain(after)).toEqual({
      a: { clicks: [0, 1], orders: [0] },
      b: { clicks: [2], orders: [1, 2] },
    });
    expect(moved(before, after)).toBe(1);
  });

  it('leaves members beyond the partition count with an empty map', () => {
    const result = assignPartitions(
      ['e', 'd', 'c', 'b', 'a'].map((id) => member(id, 'orders')),
      counts({ orders: 3 }),
      NONE,
    );
    expect(plain(result)).toEqual({
      a: { orders: [0] },
      b: { orders: [1] },
      c: { orders: [2] },
      d: {},
      e: {},
    });
  });

  it('returns the previous assignment unchanged when nothing changed', () => {
    const subscribed = [member('a', 'x', 'y'), member('b', 'y'), member('c', 'x', 'y')];
    const partitionCounts = counts({ x: 7, y: 5 });
    const first = assignPartitions(subscribed, partitionCounts, NONE);
    const second = assignPartitions(subscribed, partitionCounts, first);
    expect(entries(second)).toEqual(entries(first));
  });

  it('ignores previous claims that are no longer valid', () => {
    const previous: Assignment = new Map([
      ['gone', new Map([['orders', [0, 1]]])],
      [
        'a',
        new Map([
          ['orders', [3, 3, -1, 1.5, 9, 2]],
          ['deleted', [0]],
        ]),
      ],
      [
        'b',
        new Map([
          ['orders', [2, 0]],
          ['clicks', [0]],
        ]),
      ], // b no longer reads clicks
    ]);
    const result = assignPartitions(
      [member('a', 'orders'), member('b', 'orders'), member('c', 'clicks')],
      counts({ orders: 4, clicks: 1 }),
      previous,
    );
    // a claims 2 and 3 and keeps both; b's claim on 2 comes second, so b keeps only 0.
    expect(plain(result)).toEqual({
      a: { orders: [2, 3] },
      b: { orders: [0, 1] },
      c: { clicks: [0] },
    });
  });

  it('rejects duplicate member ids and invalid partition counts', () => {
    expect(() => assignPartitions([member('a'), member('a')], counts({}), NONE)).toThrow(
      RangeError,
    );
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => assignPartitions([member('a', 't')], counts({ t: bad }), NONE)).toThrow(
        RangeError,
      );
    }
  });

  it('handles 1,000 members over 1,000-partition topics', () => {
    const topics = ['t0', 't1', 't2', 't3', 't4'];
    const many = Array.from({ length: 1000 }, (_, i) => member(`m${i}`, ...topics));
    const partitionCounts = new Map(topics.map((t) => [t, 1000]));
    const step0: Step = { members: many, partitionCounts, previous: NONE, previousDisjoint: true };
    const first = assignPartitions(many, partitionCounts, NONE);
    checkInvariants(step0, first);
    const fewer = many.filter((_, i) => i % 7 !== 0);
    const second = assignPartitions(fewer, partitionCounts, first);
    checkInvariants({ ...step0, members: fewer, previous: first }, second);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over seeded random scenarios
// ---------------------------------------------------------------------------------------------

const TOPICS = ['t0', 't1', 't2', 't3', 't4'];
const MAX_MEMBERS = 12;

function randomMember(rnd: Random, taken: ReadonlySet<string>): AssignorMember {
  let memberId: string;
  do {
    // Random ids, so memberId order differs from the order members arrive in.
    memberId = `${String.fromCharCode(97 + rnd.int(0, 25))}${rnd.int(0, 999)}`;
  } while (taken.has(memberId));
  return { memberId, topics: randomTopics(rnd) };
}

function randomTopics(rnd: Random): string[] {
  // Sometimes a topic that does not exist, sometimes a repeat: both must be harmless.
  const topics = TOPICS.filter(() => rnd.chance(0.5));
  if (topics.length === 0) topics.push(rnd.pick(TOPICS));
  if (rnd.chance(0.1)) topics.push('ghost');
  if (rnd.chance(0.1)) topics.push(rnd.pick(topics));
  return rnd.shuffle(topics);
}

/** A `previous` written by someone careless: repeats, out-of-range, and shared partitions. */
function randomGarbage(rnd: Random, members: readonly AssignorMember[]): Assignment {
  const ids = [...members.map((m) => m.memberId), 'departed'];
  return new Map(
    ids.map((id) => [
      id,
      new Map(
        [...TOPICS, 'ghost']
          .filter(() => rnd.chance(0.4))
          .map((topic) => [topic, Array.from({ length: rnd.int(0, 10) }, () => rnd.int(-2, 45))]),
      ),
    ]),
  );
}

/** The same inputs in another order. */
function reordered(rnd: Random, step: Step): Step {
  return {
    ...step,
    members: rnd.shuffle(step.members).map((m) => ({ ...m, topics: rnd.shuffle(m.topics) })),
    partitionCounts: new Map(rnd.shuffle([...step.partitionCounts])),
    previous: new Map(
      rnd
        .shuffle([...step.previous])
        .map(([id, topics]) => [
          id,
          new Map(rnd.shuffle([...topics]).map(([t, ps]) => [t, rnd.shuffle(ps)])),
        ]),
    ),
  };
}

function change(rnd: Random, step: Step): Step {
  const members = [...step.members];
  const partitionCounts = new Map(step.partitionCounts);
  const taken = new Set(members.map((m) => m.memberId));
  switch (rnd.int(0, 6)) {
    case 0:
      if (members.length < MAX_MEMBERS) members.push(randomMember(rnd, taken));
      break;
    case 1:
      if (members.length > 0) members.splice(rnd.int(0, members.length - 1), 1);
      break;
    case 2: {
      const i = rnd.int(0, members.length - 1);
      const resubscribing = members[i];
      if (resubscribing) members[i] = { ...resubscribing, topics: randomTopics(rnd) };
      break;
    }
    case 3: // Kafka only grows a topic, but a delete-and-recreate can shrink it.
      partitionCounts.set(rnd.pick(TOPICS), rnd.int(1, 40));
      break;
    case 4:
      partitionCounts.delete(rnd.pick(TOPICS));
      break;
    case 5: {
      const topic = rnd.pick(TOPICS);
      partitionCounts.set(topic, (partitionCounts.get(topic) ?? 0) + rnd.int(1, 5));
      break;
    }
    default: // no change at all
      break;
  }
  return { members, partitionCounts, previous: step.previous, previousDisjoint: true };
}

describe('assignPartitions properties', () => {
  it('holds its invariants over 500 random scenarios of changes', () => {
    let steps = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = random(seed);
      const members: AssignorMember[] = [];
      const size = rnd.int(1, MAX_MEMBERS);
      while (members.length < size) {
        members.push(randomMember(rnd, new Set(members.map((m) => m.memberId))));
      }
      const partitionCounts = new Map(
        TOPICS.filter(() => rnd.chance(0.85)).map((t) => [t, rnd.int(1, 40)]),
      );
      const garbage = rnd.chance(0.2);
      let step: Step = {
        members,
        partitionCounts,
        previous: garbage ? randomGarbage(rnd, members) : NONE,
        previousDisjoint: !garbage,
      };
      const changes = rnd.int(1, 12);
      for (let i = 0; i <= changes; i++) {
        const next = assignPartitions(step.members, step.partitionCounts, step.previous);
        try {
          checkInvariants(step, next);
          // Deterministic whatever the input order.
          const again = reordered(rnd, step);
          const shuffled = assignPartitions(again.members, again.partitionCounts, again.previous);
          ensure(same(entries(shuffled), entries(next)), 'input order changed the result');
          // Nothing changes: nothing moves.
          const unchanged = assignPartitions(step.members, step.partitionCounts, next);
          ensure(same(entries(unchanged), entries(next)), 'an unchanged group was reassigned');
        } catch (error) {
          throw new Error(`seed ${seed}, step ${i}: ${String(error)}`, { cause: error });
        }
        steps++;
        step = change(rnd, { ...step, previous: next });
      }
    }
    expect(steps).toBeGreaterThan(2500);
  });

  it('moves exactly what a joining member receives (one topic, balanced group)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = random(seed);
      const n = rnd.int(1, 40);
      const partitionCounts = counts({ t: n });
      // Reach a balanced but not necessarily fresh state through a few joins and leaves.
      let group: AssignorMember[] = [];
      let current: Assignment = NONE;
      for (let i = rnd.int(1, 6); i > 0 || group.length === 0; i--) {
        const taken = new Set(group.map((m) => m.memberId));
        if (group.length > 1 && rnd.chance(0.3)) group.splice(rnd.int(0, group.length - 1), 1);
        else if (group.length < MAX_MEMBERS)
          group.push({ ...randomMember(rnd, taken), topics: ['t'] });
        current = assignPartitions(group, partitionCounts, current);
      }
      const m = group.length;
      const joiner = { ...randomMember(rnd, new Set(group.map((g) => g.memberId))), topics: ['t'] };
      group = [...group, joiner];
      const after = assignPartitions(group, partitionCounts, current);
      const received = countOf(after, joiner.memberId);
      expect(moved(current, after), `seed ${seed}: ${m} members, ${n} partitions`).toBe(received);
      expect(received).toBe(Math.floor(n / (m + 1)));
    }
  });
});
