/**
 * Server-side partition assignment for consumer groups, in the spirit of Kafka KIP-848's
 * uniform assignor: the coordinator, not a client leader, decides who reads what. It spreads
 * each topic's partitions evenly over the members subscribed to it and, on every change,
 * moves as few partitions as that even spread allows, so consumers keep their caches and
 * positions across rebalances.
 *
 * Pure: no clock, no randomness, no I/O. Everything is sorted internally, so the result does
 * not depend on the order members, topics or previous partitions are given in.
 */

export interface AssignorMember {
  readonly memberId: string;
  readonly topics: readonly string[];
}

/** Partitions each member owns: topic → sorted partition numbers. Members with nothing get an empty map. */
export type Assignment = ReadonlyMap<string, ReadonlyMap<string, readonly number[]>>;

/**
 * Assigns every partition of every subscribed topic, topic by topic in name order.
 *
 * Rules:
 * - Ownership: each partition of a topic some member subscribes to goes to exactly one member
 *   subscribed to that topic. Topics nobody subscribes to, and subscribed topics absent from
 *   `partitionCounts` (they do not exist), are not assigned.
 * - Balance per topic: with k subscribers and n partitions, each subscriber gets floor(n/k)
 *   or ceil(n/k); exactly n mod k of them get the ceil.
 * - Who gets the ceil, in order of preference: members that owned more than floor(n/k)
 *   valid partitions of the topic in `previous` (giving them the ceil keeps one more
 *   partition in place), then members with the fewest partitions assigned so far over the
 *   topics already placed (keeps totals even across topics), then memberId order.
 * - Totals across topics: members with the same subscriptions differ by at most 1 when
 *   `previous` is empty, and always by at most the number of their topics whose partition
 *   count is not a multiple of their subscriber count. Stickiness ranks first, so a change
 *   can leave totals up to that far apart rather than move partitions to even them.
 * - Stickiness: a previous partition is valid if its topic still exists, its number is
 *   below the count, and its owner is still subscribed. A member keeps as many of its valid
 *   previous partitions as its quota allows, the lowest-numbered ones when it must give
 *   some up. Only the rest move: free partitions, ascending, fill the members still under
 *   quota in memberId order. So, when `previous` gives each partition one owner, the number
 *   that change owner is the minimum any per-topic-balanced assignment needs, and when
 *   nothing changed and `previous` was complete and balanced, the result equals `previous`.
 * - `previous` may name members that left, topics that vanished and partitions beyond the
 *   count; those are ignored. If it names one partition for two members (it should not),
 *   the first of them in memberId order with room under its quota keeps it.
 * - Output: every member, in memberId order, with an empty map when it owns nothing;
 *   topics in name order, omitted for a member that owns none of their partitions;
 *   partition lists ascending.
 *
 * Cost: O(P + T·k·log k) for P partitions and T topics of k subscribers each, plus sorting
 * the previous lists.
 *
 * @throws RangeError when two members share a memberId or a partition count is not a
 *   non-negative safe integer: both are caller bugs, and guessing would assign wrongly.
 */
export function assignPartitions(
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
  previous: Assignment,
): Assignment {
  for (const [topic, count] of partitionCounts) {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(
        `partition count of ${topic} must be a non-negative integer, got ${count}`,
      );
    }
  }

  // Members are worked on by position in memberId order, so comparing positions compares ids.
  const sorted = [...members].sort((a, b) => compareStrings(a.memberId, b.memberId));
  for (let m = 1; m < sorted.length; m++) {
    const memberId = sorted[m]?.memberId;
    if (memberId === sorted[m - 1]?.memberId) {
      throw new RangeError(`memberId ${memberId} appears more than once`);
    }
  }
  const previousTopics = sorted.map((member) => previous.get(member.memberId));

  // topic → positions of its subscribers, ascending; only topics that exist and have partitions.
  const subscribers = new Map<string, number[]>();
  sorted.forEach((member, m) => {
    for (const topic of new Set(member.topics)) {
      if ((partitionCounts.get(topic) ?? 0) === 0) continue;
      const positions = subscribers.get(topic);
      if (positions === undefined) subscribers.set(topic, [m]);
      else positions.push(m);
    }
  });

  const totals = sorted.map(() => 0);
  const owned = sorted.map(() => new Map<string, number[]>());

  for (const topic of [...subscribers.keys()].sort(compareStrings)) {
    const positions = subscribers.get(topic) ?? [];
    const count = partitionCounts.get(topic) ?? 0;
    const base = Math.floor(count / positions.length);
    const extra = count % positions.length;
    const claims = positions.map((m) => validPartitions(previousTopics[m]?.get(topic), count));

    // Who gets the ceil: sticky claim first, then fewest so far, then memberId.
    const quotas = positions.map(() => base);
    const sticky = claims.map((claim) => (claim.length > base ? 0 : 1));
    const load = positions.map((m) => totals[m] ?? 0);
    const ranked = positions
      .map((_, i) => i)
      .sort(
        (a, b) => (sticky[a] ?? 0) - (sticky[b] ?? 0) || (load[a] ?? 0) - (load[b] ?? 0) || a - b,
      );
    for (const i of ranked.slice(0, extra)) quotas[i] = base + 1;

    // Keep previous partitions, lowest first, up to quota; a partition kept once is taken.
    const taken = new Uint8Array(count);
    const lists = claims.map((claim, i) => {
      const quota = quotas[i] ?? 0;
      const list: number[] = [];
      for (const partition of claim) {
        if (list.length === quota) break;
        if (taken[partition] === 1) continue;
        taken[partition] = 1;
        list.push(partition);
      }
      return list;
    });

    // Hand the free partitions, ascending, to members under quota in memberId order.
    let next = 0;
    lists.forEach((list, i) => {
      const quota = quotas[i] ?? 0;
      const keptCount = list.length;
      while (list.length < quota) {
        while (taken[next] === 1) next++;
        taken[next] = 1;
        list.push(next);
      }
      if (list.length > keptCount) list.sort(compareNumbers);
      const m = positions[i] ?? 0;
      if (list.length > 0) owned[m]?.set(topic, list);
      totals[m] = (totals[m] ?? 0) + quota;
    });
  }

  return new Map(sorted.map((member, m) => [member.memberId, owned[m] ?? new Map()]));
}

/** A member's previous partitions of a topic that still exist: ascending, without repeats. */
function validPartitions(partitions: readonly number[] | undefined, count: number): number[] {
  if (partitions === undefined) return [];
  const valid = partitions
    .filter((p) => Number.isInteger(p) && p >= 0 && p < count)
    .sort(compareNumbers);
  return valid.filter((p, i) => i === 0 || p !== valid[i - 1]);
}

/** Code-unit order, the same on every machine (unlike localeCompare). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNumbers(a: number, b: number): number {
  return a - b;
}
