import { TributaryError } from '../errors.ts';
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
  /** Item version, undefined when the group has no state item yet. */
  readonly version: number | undefined;
}

const legalName = /^[a-zA-Z0-9._-]{1,249}$/;

export function assertValidGroupName(name: string): void {
  if (!legalName.test(name)) {
    throw new TributaryError(
      'INVALID_GROUP',
      `Invalid group name '${name.slice(0, 300)}': use 1-249 characters of [a-zA-Z0-9._-].`,
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

export function groupFromItem(name: string, item: StoredItem | undefined): Group {
  if (!item) return emptyGroup(name);
  const data = item.data;
  const members = Array.isArray(data.members) ? data.members : [];
  return {
    name,
    generation: Number(data.generation ?? 0),
    members: members.map((m) => {
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error(`corrupt group ${name}`);
      const owned = Array.isArray(m.owned) ? m.owned : [];
      return {
        memberId: String(m.memberId),
        instanceId: typeof m.instanceId === 'string' ? m.instanceId : null,
        topics: Array.isArray(m.topics) ? m.topics.map(String) : [],
        sessionTimeoutMs: Number(m.sessionTimeoutMs),
        lastHeartbeat: Number(m.lastHeartbeat),
        autoOffsetReset: m.autoOffsetReset === 'earliest' ? 'earliest' : 'latest',
        owned: owned.map((o) => {
          const [topic, partition, since] = Array.isArray(o) ? o : [];
          return { topic: String(topic), partition: Number(partition), since: Number(since) };
        }),
      };
    }),
    topics: snapshotFromJson(data.topics),
    version: item.version,
  };
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
  return {
    generation: group.generation,
    members: group.members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId,
      topics: [...m.topics],
      sessionTimeoutMs: m.sessionTimeoutMs,
      lastHeartbeat: m.lastHeartbeat,
      autoOffsetReset: m.autoOffsetReset,
      owned: m.owned.map((o) => [o.topic, o.partition, o.since]),
    })),
    topics: Object.fromEntries(
      Object.entries(group.topics).map(([name, t]) => [
        name,
        { id: t.id, partitions: t.partitions },
      ]),
    ),
  };
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
