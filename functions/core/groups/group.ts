import { TributaryError } from '../errors.ts';
import { isLegalName } from '../names.ts';
import type { ItemKey, JsonObject, StoredItem } from '../ports/metadata-store.ts';
import { type Assignment, assignPartitions } from './assignor.ts';

/**
 * Where a consumer group lives.
 *
 *   pk "groups"        sk <group>                        the group exists (for listing)
 *   pk "group#<group>" sk "state"                        generation, members, assignment
 *                      sk "offset#<topicId>#<p>"         a committed offset
 *                      sk "position#<memberId>"          the member's poll cursors (poll.ts)
 *
 * Committed offsets are keyed by topic id, so a topic deleted and created again under its
 * name does not inherit them.
 *
 * The state item also says how far a deletion of the group has got (`deletion` in its
 * data): "started" while its other items are being deleted, "done" once they are. A group
 * whose state says "done" does not exist; creating it again replaces that item, so the
 * item's version only grows over the name's life (see deleteGroup in groups.ts).
 */
export const groupsPk = 'groups';
export const groupRegistryKey = (group: string): ItemKey => ({ pk: groupsPk, sk: group });
export const groupPk = (group: string) => `group#${group}`;
export const groupStateKey = (group: string): ItemKey => ({ pk: groupPk(group), sk: 'state' });
export const offsetSkPrefix = 'offset#';
export const offsetKey = (group: string, topicId: string, partition: number): ItemKey => ({
  pk: groupPk(group),
  sk: `${offsetSkPrefix}${topicId}#${partition}`,
});
export const positionKey = (group: string, memberId: string): ItemKey => ({
  pk: groupPk(group),
  sk: `position#${memberId}`,
});

export type OffsetReset = 'earliest' | 'latest';

/** A partition a member owns, and the generation since which it has owned it. */
export interface OwnedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly since: number;
}

export interface Member {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly topics: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly lastHeartbeat: number;
  readonly autoOffsetReset: OffsetReset;
  readonly owned: readonly OwnedPartition[];
}

/** The topics the assignment was computed from: a change in them means a rebalance. */
export type TopicSnapshot = Readonly<
  Record<string, { readonly id: string; readonly partitions: number }>
>;

export interface Group {
  readonly name: string;
  readonly generation: number;
  readonly members: readonly Member[];
  readonly topics: TopicSnapshot;
  /** Item version, undefined when the group does not exist. */
  readonly version: number | undefined;
  /**
   * Version of the item a finished deletion left, when the group does not exist and there is
   * one: creating the group replaces it.
   */
  readonly tombstone?: number;
}

/** How far a deletion of the group has got, as its state item says. */
export type Deletion = 'started' | 'done';

export function deletionOf(item: StoredItem | undefined): Deletion | undefined {
  const deletion = item?.data.deletion;
  return deletion === 'started' || deletion === 'done' ? deletion : undefined;
}

/**
 * Kafka's rule for names, and not "." or "..": a URL path cannot carry those as a segment
 * (curl, fetch and the SDK resolve them, so `GET /v1/groups/..` reaches `/v1/`, even spelt
 * `%2e%2e`), so such a group could be created by one client and never reached by another.
 */
export function assertValidGroupName(name: string): void {
  if (!isLegalName(name) || name === '.' || name === '..') {
    throw new TributaryError(
      'INVALID_GROUP',
      `Invalid group name '${name.slice(0, 300)}': use 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'.`,
      { group: name.slice(0, 300) },
    );
  }
}

export const emptyGroup = (name: string): Group => ({
  name,
  generation: 0,
  members: [],
  topics: {},
  version: undefined,
});

/**
 * The group item, stored compactly so that a group at its limits (groupLimits) fits
 * DynamoDB's 400 KB item: every topic name a member subscribes to appears once, in `names`,
 * and members refer to topics by their index there:
 *
 *   names    ["clicks", "orders"]
 *   topics   {"clicks": {id, partitions}, …}              the snapshot the assignment is of
 *   members  [{memberId, instanceId, topics: [0, 1], sessionTimeoutMs, lastHeartbeat,
 *              autoOffsetReset, owned: [[topic index, since, [partition, …]], …]}]
 *
 * Items written before (topics and owned partitions by name) are read as well.
 */
export function groupFromItem(name: string, item: StoredItem | undefined): Group {
  if (!item) return emptyGroup(name);
  const deletion = deletionOf(item);
  if (deletion === 'done') return { ...emptyGroup(name), tombstone: item.version };
  // Whoever reads the state finishes a deletion under way first (groups.ts).
  if (deletion === 'started') throw new Error(`group ${name} is being deleted`);
  const data = item.data;
  const names = Array.isArray(data.names) ? data.names.map(String) : [];
  const topicName = (ref: unknown) => (typeof ref === 'number' ? (names[ref] ?? '') : String(ref));
  const members = Array.isArray(data.members) ? data.members : [];
  return {
    name,
    generation: Number(data.generation ?? 0),
    members: members.map((m) => {
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error(`corrupt group ${name}`);
      return {
        memberId: String(m.memberId),
        instanceId: typeof m.instanceId === 'string' ? m.instanceId : null,
        topics: Array.isArray(m.topics) ? m.topics.map(topicName) : [],
        sessionTimeoutMs: Number(m.sessionTimeoutMs),
        lastHeartbeat: Number(m.lastHeartbeat),
        autoOffsetReset: m.autoOffsetReset === 'earliest' ? 'earliest' : 'latest',
        owned: ownedFromJson(m.owned, topicName),
      };
    }),
    topics: snapshotFromJson(data.topics),
    version: item.version,
  };
}

function ownedFromJson(value: unknown, topicName: (ref: unknown) => string): OwnedPartition[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry): OwnedPartition[] => {
    if (!Array.isArray(entry)) return [];
    const [ref, second, third] = entry;
    // [topic index, since, [partitions]]; before, one [topic name, partition, since] each.
    if (Array.isArray(third)) {
      return third.map((p) => ({
        topic: topicName(ref),
        partition: Number(p),
        since: Number(second),
      }));
    }
    return [{ topic: topicName(ref), partition: Number(second), since: Number(third) }];
  });
}

function snapshotFromJson(value: unknown): TopicSnapshot {
  const result: Record<string, { id: string; partitions: number }> = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [name, t] of Object.entries(value)) {
      if (t && typeof t === 'object' && 'id' in t && 'partitions' in t) {
        result[name] = { id: String(t.id), partitions: Number(t.partitions) };
      }
    }
  }
  return result;
}

export function groupData(group: Group): JsonObject {
  const names = subscribedTopics(group.members);
  const index = new Map(names.map((n, i) => [n, i]));
  return {
    generation: group.generation,
    names,
    members: group.members.map((m) => {
      // Owned partitions grouped by topic and the generation they are owned since.
      const runs = new Map<string, { ref: number; since: number; partitions: number[] }>();
      for (const o of m.owned) {
        const key = `${o.topic}\u0000${o.since}`;
        const run = runs.get(key) ?? {
          ref: index.get(o.topic) ?? -1,
          since: o.since,
          partitions: [],
        };
        run.partitions.push(o.partition);
        runs.set(key, run);
      }
      return {
        memberId: m.memberId,
        instanceId: m.instanceId,
        topics: m.topics.map((t) => index.get(t) ?? -1),
        sessionTimeoutMs: m.sessionTimeoutMs,
        lastHeartbeat: m.lastHeartbeat,
        autoOffsetReset: m.autoOffsetReset,
        owned: [...runs.values()].map((r) => [r.ref, r.since, r.partitions]),
      };
    }),
    topics: Object.fromEntries(
      Object.entries(group.topics).map(([name, t]) => [
        name,
        { id: t.id, partitions: t.partitions },
      ]),
    ),
  };
}

/**
 * How big a group may grow, so that its one item stays within DynamoDB's 400 KB (and every
 * operation on it, which rewrites it, stays cheap): Kafka's own default for a consumer
 * group's members (group.consumer.max.size, KIP-848), topics per group, and a bound on the
 * item itself — about 30,000 owned partitions — for what the other two do not bound.
 */
export const groupLimits = {
  members: 200,
  topics: 100,
  itemBytes: 300 * 1024,
} as const;

/** Refuses a group state that would exceed a limit; nothing is written. */
export function assertWithinLimits(group: Group): void {
  const topics = subscribedTopics(group.members).length;
  const refuse = (what: string, limit: number, details: Record<string, number>) =>
    new TributaryError(
      'GROUP_MAX_SIZE_REACHED',
      `Group '${group.name}' would have ${what}; a group holds at most ${limit}.`,
      { group: group.name, limit, ...details },
    );
  if (group.members.length > groupLimits.members) {
    throw refuse(`${group.members.length} members`, groupLimits.members, {
      members: group.members.length,
    });
  }
  if (topics > groupLimits.topics) {
    throw refuse(`${topics} subscribed topics`, groupLimits.topics, { topics });
  }
  const bytes = Buffer.byteLength(JSON.stringify(groupData(group)));
  if (bytes > groupLimits.itemBytes) {
    throw refuse(`a state of ${bytes} bytes (too many partitions)`, groupLimits.itemBytes, {
      bytes,
    });
  }
}

export const isLapsed = (member: Member, now: number) =>
  now - member.lastHeartbeat > member.sessionTimeoutMs;

export const subscribedTopics = (members: readonly Member[]) =>
  [...new Set(members.flatMap((m) => m.topics))].sort();

/**
 * The group with a new generation and a fresh sticky assignment: members keep what they
 * can (and the generation they have owned it since), the rest moves.
 */
export function rebalance(group: Group, members: readonly Member[], topics: TopicSnapshot): Group {
  const generation = group.generation + 1;
  const sameTopic = (name: string) => group.topics[name]?.id === topics[name]?.id;
  const counts = new Map(Object.entries(topics).map(([name, t]) => [name, t.partitions]));
  // What each member owned, of topics that are still the same topic (not re-created).
  const previous: Assignment = new Map(
    members.map((m) => {
      const byTopic = new Map<string, number[]>();
      for (const o of m.owned) {
        if (!sameTopic(o.topic)) continue;
        byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o.partition]);
      }
      return [m.memberId, byTopic];
    }),
  );
  const assignment = assignPartitions(
    members.map((m) => ({ memberId: m.memberId, topics: m.topics })),
    counts,
    previous,
  );
  return {
    ...group,
    generation,
    topics,
    members: members.map((m) => {
      const since = new Map(m.owned.map((o) => [`${o.topic}#${o.partition}`, o.since]));
      const owned: OwnedPartition[] = [];
      for (const [topic, partitions] of assignment.get(m.memberId) ?? []) {
        for (const partition of partitions) {
          const kept = sameTopic(topic) ? since.get(`${topic}#${partition}`) : undefined;
          owned.push({ topic, partition, since: kept ?? generation });
        }
      }
      return { ...m, owned };
    }),
  };
}

/**
 * The assignment as the API shows it: one entry per topic, partitions ascending, and beside
 * each partition the generation since which the member has owned it without a break
 * (`ownedSince[i]` belongs to `partitions[i]`). A partition lost and regained between two
 * heartbeats looks the same in `partitions` but not in `ownedSince`: offsets read before the
 * break are stale.
 */
export function assignmentView(member: Member): AssignedPartitions[] {
  const byTopic = new Map<string, OwnedPartition[]>();
  for (const o of member.owned) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o]);
  return [...byTopic.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([topic, owned]) => {
      const sorted = owned.sort((a, b) => a.partition - b.partition);
      return {
        topic,
        partitions: sorted.map((o) => o.partition),
        ownedSince: sorted.map((o) => o.since),
      };
    });
}

export interface AssignedPartitions {
  readonly topic: string;
  readonly partitions: number[];
  readonly ownedSince: number[];
}
