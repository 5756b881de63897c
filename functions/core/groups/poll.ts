import { TributaryError } from '../errors.ts';
import {
  type FetchDeps,
  type FetchedRecord,
  type FetchLimits,
  fetchFromTopic,
} from '../log/fetch.ts';
import { readPartitionState } from '../log/partition-state.ts';
import { expectAny, type JsonObject, type StoredItem } from '../ports/metadata-store.ts';
import { findTopic, loadTopic, type Topic } from '../topics/topic.ts';
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
  /** Send it with the next poll: it continues after these records. */
  readonly cursor: string;
}

/**
 * Where a member's polls continue. The answer to a poll can be lost — a timeout, a dropped
 * connection, a retried Lambda invocation — so a poll never moves the member on by itself:
 * it starts from the cursor the client sends, the one from the last answer the client
 * *received*, and answers with a new one. A retry sends the same cursor again and gets the
 * same records (and any that arrived since); nothing is skipped.
 *
 *   poll(cursor A) → offsets 0-4, cursor B     the answer is lost
 *   poll(cursor A) → offsets 0-4, cursor C     A is kept until a poll starts from another
 *   poll(cursor C) → offsets 5-9, cursor D     A and B are forgotten
 *
 * Without a cursor (or with one the server no longer keeps) a poll starts at the group's
 * committed offsets, so a client that never sends one reads from its last commit each time.
 * A cursor's position on a partition counts only while the member has owned the partition
 * without a break since the cursor was issued.
 *
 * The cursors live in one item per member, `position#<memberId>`:
 *   cursors  at most two: the one the last poll started from, and the one it answered
 *   origins  where auto.offset.reset put the member on partitions the group never
 *            committed, so that `latest` is decided once per ownership, as in Kafka, and
 *            records produced between two polls without a cursor are not skipped
 * each a map "<topicId>#<partition>" → { offset, since }.
 */
export async function pollGroup(
  deps: FetchDeps,
  name: string,
  memberId: string,
  limits: FetchLimits,
  cursor?: string,
  mayRead: (topics: readonly string[]) => Promise<void> = async () => undefined,
): Promise<PollResult> {
  const { ctx } = deps;
  const group = await settledGroup(ctx, name);
  const member = group.members.find((m) => m.memberId === memberId);
  if (!member) {
    throw new TributaryError(
      'UNKNOWN_MEMBER_ID',
      `Member ${memberId} is not in group '${name}'. Join again.`,
      { group: name, memberId },
    );
  }
  // Whoever polls may read the member's topics: a member id is no credential (describing
  // the group shows it), so checking only the principal that joined would let anyone with
  // READ on the group read what its members subscribe to.
  await mayRead(member.topics);
  const saved = savedCursors(await ctx.metadata.get(positionKey(name, memberId)));
  const from = cursor === undefined ? undefined : saved.cursors.find((c) => c.token === cursor);
  const partitions = await startingPoints(deps, name, member, from?.positions, saved.origins);
  const deadline = ctx.now() + limits.waitMs;
  const records: PolledRecord[] = [];
  let pause = 25;
  let left = false;
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
    // A member that owns nothing waits too, as a Kafka consumer's poll blocks without an
    // assignment: answering at once would have an idle member poll in a tight loop, and
    // the rebalance that gives it partitions ends the wait anyway (below).
    const remaining = deadline - ctx.now();
    if (records.length > 0 || remaining <= 0) break;
    await deps.sleep(Math.min(pause, remaining));
    pause = Math.min(pause * 2, 500);
    // A rebalance, or the member's leaving, ends the wait: the member learns of it from its
    // next poll or heartbeat now, not once the wait has run out, as a Kafka consumer's poll
    // takes part in a rebalance as soon as one starts.
    const current = await settledGroup(ctx, name);
    left = !current.members.some((m) => m.memberId === memberId);
    if (left || current.generation !== group.generation) break;
  }
  // A member that left (or lapsed) during the wait had its cursors deleted with it: saving
  // them again would leave an item nobody reads, and its next poll is UNKNOWN_MEMBER_ID.
  const next = left
    ? (from?.token ?? ctx.newId())
    : await saveCursor(deps, name, member, saved, from, partitions);
  return {
    memberId,
    generation: group.generation,
    assignment: assignmentView(member),
    records,
    cursor: next,
  };
}

let rotation = 0;

interface Position {
  readonly offset: number;
  /** The generation since which the member owned the partition when it got here. */
  readonly since: number;
}

/** "<topicId>#<partition>" → position. */
type Positions = ReadonlyMap<string, Position>;

interface SavedCursor {
  readonly token: string;
  readonly positions: Positions;
}

interface SavedCursors {
  readonly cursors: readonly SavedCursor[];
  readonly origins: Positions;
}

interface Cursor extends OwnedPartition {
  /** The topic as read once for this poll. */
  readonly topicItem: Topic;
  offset: number;
  /** Where auto.offset.reset started the member (now or remembered), when it did. */
  origin: number | undefined;
}

const positionId = (topicId: string, partition: number) => `${topicId}#${partition}`;

async function startingPoints(
  deps: FetchDeps,
  name: string,
  member: Member,
  from: Positions | undefined,
  origins: Positions,
): Promise<Cursor[]> {
  const { ctx } = deps;
  const cursors: Cursor[] = [];
  const topics = new Map<string, Topic | undefined>();
  for (const owned of member.owned) {
    if (!topics.has(owned.topic)) {
      // Deleted since the assignment: the next group operation rebalances.
      topics.set(owned.topic, await findTopic(ctx, owned.topic));
    }
    const topicItem = topics.get(owned.topic);
    if (!topicItem) continue;
    const id = positionId(topicItem.id, owned.partition);
    const cursor: Cursor = { ...owned, topicItem, offset: 0, origin: undefined };
    const position = from?.get(id);
    if (position && position.since === owned.since) {
      cursor.offset = position.offset;
    } else {
      const committed = await ctx.metadata.get(offsetKey(name, topicItem.id, owned.partition));
      const origin = origins.get(id);
      if (committed) cursor.offset = Number(committed.data.offset);
      else if (origin && origin.since === owned.since) cursor.offset = origin.offset;
      else cursor.offset = await resetOffset(deps, member, cursor);
      if (!committed) cursor.origin = cursor.offset;
    }
    cursors.push(cursor);
  }
  return cursors;
}

function savedCursors(item: StoredItem | undefined): SavedCursors {
  const cursors = Array.isArray(item?.data.cursors) ? item.data.cursors : [];
  return {
    cursors: cursors.flatMap((c) =>
      c && typeof c === 'object' && !Array.isArray(c) && typeof c.token === 'string'
        ? [{ token: c.token, positions: positionsFromJson(c.positions) }]
        : [],
    ),
    origins: positionsFromJson(item?.data.origins),
  };
}

function positionsFromJson(value: unknown): Positions {
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

function positionsToJson(positions: Positions): JsonObject {
  const json: JsonObject = {};
  for (const [key, p] of positions) json[key] = { offset: p.offset, since: p.since };
  return json;
}

const samePositions = (a: Positions, b: Positions) =>
  a.size === b.size &&
  [...a].every(([key, p]) => b.get(key)?.offset === p.offset && b.get(key)?.since === p.since);

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
    if (cursor.origin !== undefined) cursor.origin = cursor.offset;
    return fetchFromTopic(deps, cursor.topicItem, cursor.partition, cursor.offset, limits);
  }
}

/**
 * Keeps the cursor the poll started from (a retry of this poll sends it again) and the one
 * it answers with, and answers the new cursor's token. A saved cursor already at exactly
 * these positions is answered instead, with no write: an idle member polling at the end of
 * the log costs reads only.
 *
 * The put is unconditional: two polls of one member at once (a client bug) leave one of
 * the two new cursors; a poll with the other starts at the committed offsets, which
 * re-delivers but never skips.
 */
async function saveCursor(
  deps: FetchDeps,
  name: string,
  member: Member,
  saved: SavedCursors,
  from: SavedCursor | undefined,
  partitions: readonly Cursor[],
): Promise<string> {
  const answered = new Map<string, Position>();
  const origins = new Map<string, Position>();
  for (const p of partitions) {
    const id = positionId(p.topicItem.id, p.partition);
    answered.set(id, { offset: p.offset, since: p.since });
    const origin = saved.origins.get(id);
    // An origin stays with its ownership; a start from a reset becomes one.
    if (p.origin !== undefined) origins.set(id, { offset: p.origin, since: p.since });
    else if (origin && origin.since === p.since) origins.set(id, origin);
  }
  const unchanged = saved.cursors.find((c) => samePositions(c.positions, answered));
  if (unchanged && samePositions(origins, saved.origins)) return unchanged.token;
  const token = deps.ctx.newId();
  const cursors = [...(from ? [from] : []), { token, positions: answered }];
  await deps.ctx.metadata.transact([
    {
      type: 'put',
      key: positionKey(name, member.memberId),
      data: {
        cursors: cursors.map((c) => ({ token: c.token, positions: positionsToJson(c.positions) })),
        origins: positionsToJson(origins),
      },
      expect: expectAny,
    },
  ]);
  return token;
}
