import { TributaryError } from '../errors.ts';
import {
  type FetchDeps,
  type FetchedRecord,
  type FetchLimits,
  fetchFromTopic,
} from '../log/fetch.ts';
import { readPartitionState } from '../log/partition-state.ts';
import { expectAny, type JsonObject } from '../ports/metadata-store.ts';
import { loadTopic, type Topic } from '../topics/topic.ts';
import {
  assignmentView,
  type Member,
  type OwnedPartition,
  offsetKey,
  positionKey,
} from './group.ts';
import { type MemberView, settledGroup } from './groups.ts';

export interface PolledRecord extends FetchedRecord {
  readonly topic: string;
  readonly partition: number;
}

export interface PollResult extends MemberView {
  readonly records: PolledRecord[];
}

interface Position {
  readonly offset: number;
  /** The generation since which the member owned the partition when it read there. */
  readonly since: number;
}

/**
 * Records from the member's partitions. Each partition continues where the member's last
 * poll ended — a position kept on the server, valid only while the member has owned the
 * partition without interruption — else at the group's committed offset, else at the
 * member's auto.offset.reset (earliest or latest). The client commits explicitly; a
 * partition that moves to another member is read there from the committed offset, so
 * records polled but not committed before a rebalance are delivered again (at least once).
 */
export async function pollGroup(
  deps: FetchDeps,
  name: string,
  memberId: string,
  limits: FetchLimits,
): Promise<PollResult> {
  const { ctx } = deps;
  const group = await settledGroup(ctx, name);
  const member = group.members.find((m) => m.memberId === memberId);
  if (!member) {
    throw new TributaryError(
      'UNKNOWN_MEMBER_ID',
      `Member ${memberId} is not in group '${name}'. Join again.`,
      {
        group: name,
        memberId,
      },
    );
  }
  const partitions = await startingPoints(deps, name, member);
  const deadline = ctx.now() + limits.waitMs;
  const records: PolledRecord[] = [];
  let pause = 25;
  for (;;) {
    let bytes = 0;
    // Start each poll at a different partition so a busy one cannot starve the rest.
    const first = rotation++ % Math.max(1, partitions.length);
    for (let i = 0; i < partitions.length && records.length < limits.maxRecords; i++) {
      const p = partitions[(first + i) % partitions.length];
      if (!p || (records.length > 0 && bytes >= limits.maxBytes)) continue;
      const result = await fetchFrom(deps, member, p, {
        maxRecords: limits.maxRecords - records.length,
        maxBytes: Math.max(1, limits.maxBytes - bytes),
        waitMs: 0,
      });
      for (const r of result.records) {
        records.push({ ...r, topic: p.topic, partition: p.partition });
        bytes += (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0);
      }
      p.offset = result.nextOffset;
    }
    const remaining = deadline - ctx.now();
    if (records.length > 0 || remaining <= 0 || partitions.length === 0) break;
    await deps.sleep(Math.min(pause, remaining));
    pause = Math.min(pause * 2, 500);
  }
  await savePositions(deps, name, member, partitions);
  return { memberId, generation: group.generation, assignment: assignmentView(member), records };
}

let rotation = 0;

interface Cursor extends OwnedPartition {
  /** The topic as read once for this poll. */
  readonly topicItem: Topic;
  offset: number;
}

async function startingPoints(deps: FetchDeps, name: string, member: Member): Promise<Cursor[]> {
  const { ctx } = deps;
  const saved = await ctx.metadata.get(positionKey(name, member.memberId));
  const positions = positionsFromJson(saved?.data.positions);
  const cursors: Cursor[] = [];
  const topics = new Map<string, Topic | undefined>();
  for (const owned of member.owned) {
    if (!topics.has(owned.topic)) {
      // Deleted since the assignment: the next group operation rebalances.
      topics.set(owned.topic, await loadTopic(ctx, owned.topic).catch(() => undefined));
    }
    const topicItem = topics.get(owned.topic);
    if (!topicItem) continue;
    const position = positions.get(`${topicItem.id}#${owned.partition}`);
    if (position && position.since === owned.since) {
      cursors.push({ ...owned, topicItem, offset: position.offset });
      continue;
    }
    const committed = await ctx.metadata.get(offsetKey(name, topicItem.id, owned.partition));
    const cursor = { ...owned, topicItem, offset: 0 };
    cursor.offset = committed
      ? Number(committed.data.offset)
      : await resetOffset(deps, member, cursor);
    cursors.push(cursor);
  }
  return cursors;
}

function positionsFromJson(value: unknown): Map<string, Position> {
  const positions = new Map<string, Position>();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, p] of Object.entries(value)) {
      if (p && typeof p === 'object' && 'offset' in p && 'since' in p) {
        positions.set(key, { offset: Number(p.offset), since: Number(p.since) });
      }
    }
  }
  return positions;
}

async function resetOffset(
  deps: FetchDeps,
  member: Member,
  owned: OwnedPartition,
): Promise<number> {
  const topic = await loadTopic(deps.ctx, owned.topic);
  const state = await readPartitionState(deps.ctx, topic, owned.partition);
  return member.autoOffsetReset === 'earliest' ? state.logStartOffset : state.highWatermark;
}

/** A fetch that applies auto.offset.reset when the position fell out of the log (retention). */
async function fetchFrom(deps: FetchDeps, member: Member, cursor: Cursor, limits: FetchLimits) {
  try {
    return await fetchFromTopic(deps, cursor.topicItem, cursor.partition, cursor.offset, limits);
  } catch (error: unknown) {
    if (!(error instanceof TributaryError) || error.code !== 'OFFSET_OUT_OF_RANGE') throw error;
    cursor.offset = await resetOffset(deps, member, cursor);
    return fetchFromTopic(deps, cursor.topicItem, cursor.partition, cursor.offset, limits);
  }
}

async function savePositions(deps: FetchDeps, name: string, member: Member, cursors: Cursor[]) {
  const positions: JsonObject = {};
  for (const c of cursors)
    positions[`${c.topicItem.id}#${c.partition}`] = { offset: c.offset, since: c.since };
  await deps.ctx.metadata.transact([
    {
      type: 'put',
      key: positionKey(name, member.memberId),
      data: { positions },
      expect: expectAny,
    },
  ]);
}
