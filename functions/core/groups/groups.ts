import type { PartitionLag } from '../../../sdk/src/groups.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { headKey, topicKey } from '../keys.ts';
import type { BatchReader } from '../log/batch-reader.ts';
import { listOffset } from '../log/list-offsets.ts';
import { headFromItem } from '../log/partition-items.ts';
import { readPartitionStates } from '../log/partition-state.ts';
import {
  type Expectation,
  expectAbsent,
  expectAny,
  expectVersion,
  type ItemKey,
  lostRace,
  maxTransactionOps,
  type StoredItem,
  type WriteOp,
} from '../ports/metadata-store.ts';
import {
  assertPartition,
  findTopic,
  loadTopic,
  type Topic,
  topicFromItem,
} from '../topics/topic.ts';
import { assertValidTopicName } from '../topics/topic-name.ts';
import {
  type AssignedPartitions,
  assertValidGroupName,
  assertWithinLimits,
  assignmentView,
  deletionOf,
  type Group,
  groupData,
  groupFromItem,
  groupPk,
  groupRegistryKey,
  groupStateKey,
  groupsPk,
  isLapsed,
  type Member,
  type OffsetReset,
  offsetKey,
  offsetSkPrefix,
  positionKey,
  rebalance,
  subscribedTopics,
  type TopicSnapshot,
} from './group.ts';

export interface MemberView {
  readonly memberId: string;
  readonly generation: number;
  readonly assignment: AssignedPartitions[];
  /**
   * Subscribed topics that do not exist (yet), when there are any. As in Kafka, a
   * subscription may name a topic before it is created: its partitions are assigned at the
   * first heartbeat after it is. Said in the answer so a misspelt name does not go unseen.
   */
  readonly unknownTopics?: string[];
}

/**
 * Reads the group, settles it as of now — members whose session lapsed are removed, and a
 * change in membership or in the subscribed topics (deleted, re-created, partitions added)
 * starts a new generation with a sticky assignment — applies `change`, and writes the
 * result with a condition on the version read. A concurrent change makes the condition
 * fail and the whole thing runs again on what is there now, so no change is ever lost
 * (two members joining at once both end up in the group).
 */
async function updateGroup(
  ctx: CoreContext,
  name: string,
  change: (group: Group, now: number) => Promise<Group | undefined> | Group | undefined,
): Promise<Group> {
  assertValidGroupName(name);
  for (;;) {
    const item = await ctx.metadata.get(groupStateKey(name));
    if (item && deletionOf(item) === 'started') {
      // A deletion was begun (and died, or is under way): finish it, then go on as for a
      // group that does not exist.
      await finishDeletion(ctx, name, item.version);
      continue;
    }
    if (!item && (await leftBehind(ctx, name))) continue;
    const read = groupFromItem(name, item);
    const now = ctx.now();
    const settled = await settle(ctx, read, now);
    const changed = await change(settled, now);
    const next = changed ?? settled;
    if (next === read) return read;
    assertWithinLimits(next);
    const ops: WriteOp[] = [
      {
        type: 'put',
        key: groupStateKey(name),
        data: groupData(next),
        expect: stateAsRead(read),
      },
    ];
    if (read.version === undefined) {
      ops.push({
        type: 'put',
        key: groupRegistryKey(name),
        data: { createdAt: now },
        expect: expectAny,
      });
    }
    try {
      await ctx.metadata.transact(ops);
    } catch (error: unknown) {
      if (await lostRace(error)) continue;
      throw error;
    }
    const gone = read.members.filter((m) => !next.members.some((n) => n.memberId === m.memberId));
    if (gone.length > 0) {
      // Where departed members' polls had got to: nobody reads it any more.
      await ctx.metadata
        .deleteMany(gone.map((m) => positionKey(name, m.memberId)))
        .catch(() => undefined);
    }
    return { ...next, version: (read.version ?? read.tombstone ?? 0) + 1, tombstone: undefined };
  }
}

/**
 * Items under a group's key without a state item were left by a deletion that died before
 * deletions rolled forward (it removed the state first). They are dead: mark the group
 * deleted, so that whoever reads it next finishes the deletion, and answer whether there
 * were any. Only names whose group never existed, or whose deletion predates the tombstone,
 * pay this one query.
 */
async function leftBehind(ctx: CoreContext, name: string): Promise<boolean> {
  const [left] = await ctx.metadata.query(groupPk(name), { limit: 1 });
  if (!left) return false;
  try {
    await ctx.metadata.transact([
      {
        type: 'put',
        key: groupStateKey(name),
        data: { deletion: 'started', deletedAt: ctx.now() },
        expect: expectAbsent,
      },
    ]);
  } catch (error: unknown) {
    // Someone else marked it, or created the group meanwhile: read it again.
    if (!(await lostRace(error))) throw error;
  }
  return true;
}

/** A condition that the group's state item is as read: absent, a tombstone, or that version. */
function stateAsRead(group: Group): Expectation {
  if (group.version !== undefined) return expectVersion(group.version);
  return group.tombstone === undefined ? expectAbsent : expectVersion(group.tombstone);
}

async function settle(ctx: CoreContext, group: Group, now: number): Promise<Group> {
  const live = group.members.filter((m) => !isLapsed(m, now));
  const topics = await topicSnapshot(ctx, subscribedTopics(live));
  if (live.length === group.members.length && sameSnapshot(group.topics, topics)) return group;
  return rebalance(group, live, topics);
}

async function topicSnapshot(ctx: CoreContext, names: readonly string[]): Promise<TopicSnapshot> {
  const items = await ctx.metadata.getMany(names.map(topicKey));
  const snapshot: Record<string, { id: string; partitions: number }> = {};
  for (const item of items) {
    const topic = item && topicFromItem(item);
    if (topic) snapshot[topic.name] = { id: topic.id, partitions: topic.partitions };
  }
  return snapshot;
}

function sameSnapshot(a: TopicSnapshot, b: TopicSnapshot): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((n) => a[n]?.id === b[n]?.id && a[n]?.partitions === b[n]?.partitions);
}

function view(group: Group, member: Member): MemberView {
  const unknownTopics = member.topics.filter((topic) => group.topics[topic] === undefined);
  return {
    memberId: member.memberId,
    generation: group.generation,
    assignment: assignmentView(member),
    ...(unknownTopics.length > 0 && { unknownTopics }),
  };
}

const unknownMember = (group: string, memberId: string) =>
  new TributaryError(
    'UNKNOWN_MEMBER_ID',
    `Member ${memberId} is not in group '${group}': it left, its session lapsed, or it was replaced. Join again.`,
    { group, memberId },
  );

function findMember(group: Group, memberId: string): Member {
  const member = group.members.find((m) => m.memberId === memberId);
  if (!member) throw unknownMember(group.name, memberId);
  return member;
}

export interface JoinRequest {
  readonly topics: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly instanceId?: string;
  readonly autoOffsetReset: OffsetReset;
}

/**
 * Adds a member and rebalances. A member joining with the `instanceId` of a live member
 * (a restart of a static member) takes its place and its partitions without a rebalance;
 * the replaced member id is fenced.
 */
export async function joinGroup(
  ctx: CoreContext,
  name: string,
  request: JoinRequest,
): Promise<MemberView> {
  for (const topic of request.topics) assertValidTopicName(topic);
  const memberId = ctx.newId();
  const group = await updateGroup(ctx, name, async (current, now) => {
    const joining: Member = {
      memberId,
      instanceId: request.instanceId ?? null,
      topics: [...new Set(request.topics)].sort(),
      sessionTimeoutMs: request.sessionTimeoutMs,
      lastHeartbeat: now,
      autoOffsetReset: request.autoOffsetReset,
      owned: [],
    };
    const previous = request.instanceId
      ? current.members.find((m) => m.instanceId === request.instanceId)
      : undefined;
    const others = current.members.filter((m) => m !== previous);
    if (previous && previous.topics.join('\u0000') === joining.topics.join('\u0000')) {
      return { ...current, members: [...others, { ...joining, owned: previous.owned }] };
    }
    const members = [...others, joining];
    return rebalance(current, members, await topicSnapshot(ctx, subscribedTopics(members)));
  });
  return view(group, findMember(group, memberId));
}

/** Keeps the member's session alive; answers with the generation and what it owns now. */
export async function heartbeat(
  ctx: CoreContext,
  name: string,
  memberId: string,
): Promise<MemberView> {
  const group = await updateGroup(ctx, name, (current, now) => {
    const member = findMember(current, memberId);
    return {
      ...current,
      members: current.members.map((m) => (m === member ? { ...m, lastHeartbeat: now } : m)),
    };
  });
  return view(group, findMember(group, memberId));
}

/** Removes the member at once; its partitions move in a new generation. */
export async function leaveGroup(ctx: CoreContext, name: string, memberId: string): Promise<void> {
  await updateGroup(ctx, name, async (current) => {
    const member = findMember(current, memberId);
    const members = current.members.filter((m) => m !== member);
    return rebalance(current, members, await topicSnapshot(ctx, subscribedTopics(members)));
  });
}

/** The group as of now (lapsed members removed), writing the settlement if it changed. */
export const settledGroup = (ctx: CoreContext, name: string) =>
  updateGroup(ctx, name, () => undefined);

export interface OffsetCommit {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata?: string;
  /**
   * The generation since which the member owned the partition when it read the records it
   * commits (the `ownedSince` of the answer that delivered them). Optional; when given, the
   * commit is refused unless the member has owned the partition since then without a break.
   */
  readonly ownedSince?: number;
}

/** At most this many offsets in one commit: one transaction, with the group check. */
export const maxOffsetsPerCommit = maxTransactionOps - 2;

/**
 * Commits offsets (the next offset to consume, as in Kafka). A member's commit is accepted
 * only for its current generation and for partitions it owns, in one transaction
 * conditioned on the group being unchanged since that was checked: a zombie — a member
 * whose session lapsed, that left, or that was replaced — can never commit. Without a
 * member, a commit is allowed only while the group has no live members (as Kafka's admin
 * tools do).
 *
 * A member's commit also never moves a committed offset back. The owner of a partition
 * reads from at least the committed offset, so a lower offset can only come from records
 * read before the member last lost the partition:
 *
 *   A owns p (since gen 1), reads 100-199        A's offset in hand: 200... then 100
 *   p moves to B (gen 2); B reads, commits 300
 *   p comes back to A (gen 3); A commits 100      refused: STALE_COMMIT, stays at 300
 *
 * Each offset item is written conditioned on the version read, so a concurrent commit
 * cannot slip a higher offset in between the check and the write. Moving offsets back on
 * purpose is a reset, done while the group is empty.
 */
export async function commitOffsets(
  ctx: CoreContext,
  name: string,
  request: OffsetCommitRequest,
): Promise<void> {
  const plan = await planOffsetCommit(ctx, name, request);
  for (;;) {
    try {
      await ctx.metadata.transact(await offsetCommitOps(ctx, plan));
      return;
    } catch (error: unknown) {
      // The group or an offset changed between the check and the commit: check again.
      if (!(await lostRace(error))) throw error;
    }
  }
}

export interface OffsetCommitRequest {
  readonly memberId?: string;
  readonly generation?: number;
  readonly offsets: readonly OffsetCommit[];
}

/** An offset commit whose form and topics were checked: the items it writes. */
export interface PlannedOffsetCommit {
  readonly group: string;
  readonly request: OffsetCommitRequest;
  readonly keys: readonly ItemKey[];
  /** The heads of the partitions committed for, in the order of the offsets. */
  readonly heads: readonly ItemKey[];
}

/** Checks a commit's form against its topics, before anything is read of the group. */
export async function planOffsetCommit(
  ctx: CoreContext,
  name: string,
  request: OffsetCommitRequest,
): Promise<PlannedOffsetCommit> {
  assertValidGroupName(name);
  if (request.offsets.length > maxOffsetsPerCommit) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `A commit holds at most ${maxOffsetsPerCommit} offsets; got ${request.offsets.length}.`,
      { field: 'offsets', limit: maxOffsetsPerCommit },
    );
  }
  const topics = await loadTopics(
    ctx,
    request.offsets.map((o) => o.topic),
  );
  for (const o of request.offsets) {
    const topic = topics.get(o.topic);
    if (topic) assertPartition(topic, o.partition);
  }
  const keys = request.offsets.map((o) =>
    offsetKey(name, topics.get(o.topic)?.id ?? '', o.partition),
  );
  assertDistinct(keys, request.offsets);
  const heads = request.offsets.map((o) => headKey(topics.get(o.topic)?.id ?? '', o.partition));
  return { group: name, request, keys, heads };
}

/**
 * The writes of a commit, judged against the group and the offsets as they are now: a
 * condition that the group is unchanged, and each offset conditioned on the version read.
 * Throws when the commit is refused (a zombie member, a lost partition, a step back).
 */
export async function offsetCommitOps(
  ctx: CoreContext,
  plan: PlannedOffsetCommit,
): Promise<WriteOp[]> {
  const { group: name, request, keys } = plan;
  const [group, current, heads] = await Promise.all([
    settledGroup(ctx, name),
    ctx.metadata.getMany(keys),
    ctx.metadata.getMany(plan.heads),
  ]);
  if (request.memberId !== undefined) {
    checkMemberCommit(group, { ...request, memberId: request.memberId }, current);
  } else if (group.members.length > 0) {
    throw groupNotEmpty(name, group);
  }
  assertWithinHighWatermarks(name, request.offsets, heads);
  const now = ctx.now();
  const ops: WriteOp[] = [groupUnchanged(name, group)];
  if (group.version === undefined) {
    ops.push({
      type: 'put',
      key: groupRegistryKey(name),
      data: { createdAt: now },
      expect: expectAny,
    });
  }
  request.offsets.forEach((o, i) => {
    const read = current[i];
    ops.push({
      type: 'put',
      key: keys[i] ?? offsetKey(name, '', o.partition),
      data: {
        topic: o.topic,
        partition: o.partition,
        offset: o.offset,
        metadata: o.metadata ?? '',
        committedAt: now,
      },
      expect: read ? expectVersion(read.version) : expectAbsent,
    });
  });
  return ops;
}

/** The checks of a member's commit against the group and the offsets as read. */
function checkMemberCommit(
  group: Group,
  request: { memberId: string; generation?: number; offsets: readonly OffsetCommit[] },
  current: readonly (StoredItem | undefined)[],
): void {
  const member = findMember(group, request.memberId);
  if (request.generation !== group.generation) {
    throw new TributaryError(
      'ILLEGAL_GENERATION',
      `Generation ${request.generation} of group '${group.name}' is stale; the group is at generation ${group.generation}.`,
      {
        group: group.name,
        generation: request.generation ?? null,
        currentGeneration: group.generation,
      },
    );
  }
  request.offsets.forEach((o, i) => {
    const owned = member.owned.find((p) => p.topic === o.topic && p.partition === o.partition);
    if (!owned) {
      throw new TributaryError(
        'PARTITION_NOT_ASSIGNED',
        `Member ${member.memberId} does not own ${o.topic}-${o.partition} in generation ${group.generation}.`,
        { group: group.name, topic: o.topic, partition: o.partition },
      );
    }
    if (o.ownedSince !== undefined && o.ownedSince !== owned.since) {
      throw new TributaryError(
        'PARTITION_NOT_ASSIGNED',
        `Member ${member.memberId} has owned ${o.topic}-${o.partition} since generation ${owned.since}, not since ${o.ownedSince}: it lost the partition after reading these records. Drop their offsets.`,
        {
          group: group.name,
          topic: o.topic,
          partition: o.partition,
          ownedSince: owned.since,
        },
      );
    }
    const committed = current[i]?.data.offset;
    if (typeof committed === 'number' && o.offset < committed) {
      throw new TributaryError(
        'STALE_COMMIT',
        `Committing ${o.offset} would move group '${group.name}' back on ${o.topic}-${o.partition}, from ${committed}: these records were read before the member last lost the partition (or commits arrived out of order). A member's commits only move forward; reset offsets while the group is empty to read again.`,
        {
          group: group.name,
          topic: o.topic,
          partition: o.partition,
          offset: o.offset,
          committedOffset: committed,
        },
      );
    }
  });
}

/**
 * An offset past the high watermark names records that do not exist. Kafka's broker takes
 * one, but here a member's commits only move forward, so the group would then refuse every
 * real commit on the partition until the log caught up:
 *
 *   high watermark 5; a member commits 1000      accepted; lag shows 0
 *   its polls start at 1000: out of range         autoOffsetReset puts them at 0 or 5
 *   it reads on and commits 6                     STALE_COMMIT, until the log reaches 1000
 *
 * So an offset is at most the high watermark (the next offset to be written: "read
 * everything"). The high watermark never goes down, so an offset within it when checked is
 * within it when written.
 */
function assertWithinHighWatermarks(
  group: string,
  offsets: readonly OffsetCommit[],
  heads: readonly (StoredItem | undefined)[],
): void {
  offsets.forEach((o, i) => {
    const highWatermark = headFromItem(heads[i]).nextOffset;
    if (o.offset <= highWatermark) return;
    throw new TributaryError(
      'OFFSET_OUT_OF_RANGE',
      `Offset ${o.offset} is past the end of ${o.topic}-${o.partition}, whose high watermark is ${highWatermark}: a committed offset is the next one to read, at most the high watermark.`,
      { group, topic: o.topic, partition: o.partition, offset: o.offset, highWatermark },
    );
  });
}

/** One offset per partition in a commit: which of two would win is not defined. */
function assertDistinct(keys: readonly ItemKey[], offsets: readonly OffsetCommit[]): void {
  const seen = new Set<string>();
  keys.forEach((key, i) => {
    if (seen.has(key.sk)) {
      const o = offsets[i];
      throw new TributaryError(
        'INVALID_REQUEST',
        `offsets: ${o?.topic}-${o?.partition} appears more than once; commit one offset per partition.`,
        { field: 'offsets' },
      );
    }
    seen.add(key.sk);
  });
}

/**
 * A condition that the group state is as read (creating an empty group when it had none).
 * It also fences the commit off from a deletion: once the deletion has replaced the state
 * with its marker, this fails, and the commit, judged again, finishes the deletion and lands
 * in a new group.
 */
function groupUnchanged(name: string, group: Group): WriteOp {
  return group.version === undefined
    ? { type: 'put', key: groupStateKey(name), data: groupData(group), expect: stateAsRead(group) }
    : { type: 'check', key: groupStateKey(name), expect: expectVersion(group.version) };
}

async function loadTopics(ctx: CoreContext, names: readonly string[]): Promise<Map<string, Topic>> {
  const topics = new Map<string, Topic>();
  for (const name of new Set(names)) topics.set(name, await loadTopic(ctx, name));
  return topics;
}

const groupNotEmpty = (name: string, group: Group) =>
  new TributaryError(
    'GROUP_NOT_EMPTY',
    `Group '${name}' has ${group.members.length} live member(s); stop them first.`,
    { group: name, members: group.members.length },
  );

// The wire shape is the SDK's, so server and client cannot drift apart.
export type { PartitionLag } from '../../../sdk/src/groups.ts';

/** Committed offsets and lag for every partition the group subscribes to or committed. */
export async function groupOffsets(ctx: CoreContext, name: string): Promise<PartitionLag[]> {
  const group = await existingGroup(ctx, name);
  const committed = await ctx.metadata.query(groupPk(name), {
    from: offsetSkPrefix,
    to: `${offsetSkPrefix}~`,
  });
  const names = new Set([
    ...subscribedTopics(group.members),
    ...committed.map((c) => String(c.data.topic)),
  ]);
  const result: PartitionLag[] = [];
  for (const topicName of [...names].sort()) {
    const topic = await findTopic(ctx, topicName);
    if (!topic) continue; // deleted: its offsets no longer mean anything
    const states = await readPartitionStates(
      ctx,
      topic,
      Array.from({ length: topic.partitions }, (_, p) => p),
    );
    const byPartition = new Map(
      committed
        .filter((c) => c.sk.startsWith(`${offsetSkPrefix}${topic.id}#`))
        .map((c) => [Number(c.data.partition), c.data]),
    );
    for (const state of states) {
      const commit = byPartition.get(state.partition);
      const offset = commit ? Number(commit.offset) : null;
      result.push({
        topic: topic.name,
        partition: state.partition,
        committedOffset: offset,
        metadata: commit ? String(commit.metadata ?? '') : null,
        highWatermark: state.highWatermark,
        lag: offset === null ? null : Math.max(0, state.highWatermark - offset),
      });
    }
  }
  return result;
}

async function existingGroup(ctx: CoreContext, name: string): Promise<Group> {
  const group = await settledGroup(ctx, name);
  if (group.version === undefined) {
    throw new TributaryError('GROUP_NOT_FOUND', `Group '${name}' does not exist.`, { group: name });
  }
  return group;
}

export interface GroupDescription {
  readonly group: string;
  readonly state: 'Empty' | 'Stable';
  readonly generation: number;
  readonly members: {
    memberId: string;
    instanceId: string | null;
    topics: readonly string[];
    sessionTimeoutMs: number;
    lastHeartbeat: number;
    assignment: AssignedPartitions[];
  }[];
  readonly offsets: PartitionLag[];
}

export async function describeGroup(ctx: CoreContext, name: string): Promise<GroupDescription> {
  const group = await existingGroup(ctx, name);
  return {
    group: name,
    state: group.members.length > 0 ? 'Stable' : 'Empty',
    generation: group.generation,
    members: group.members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId,
      topics: m.topics,
      sessionTimeoutMs: m.sessionTimeoutMs,
      lastHeartbeat: m.lastHeartbeat,
      assignment: assignmentView(m),
    })),
    offsets: await groupOffsets(ctx, name),
  };
}

export async function listGroups(ctx: CoreContext) {
  const names = (await ctx.metadata.query(groupsPk)).map((item) => item.sk);
  const states = await ctx.metadata.getMany(names.map(groupStateKey));
  const now = ctx.now();
  return names.flatMap((name, i) => {
    const state = states[i];
    // Being deleted is deleted already, for whoever reads (the next write finishes it); and
    // a name without state never answers a describe.
    if (!state || deletionOf(state) !== undefined) return [];
    const group = groupFromItem(name, state);
    const live = group.members.filter((m) => !isLapsed(m, now)).length;
    return [
      {
        group: name,
        state: live > 0 ? 'Stable' : 'Empty',
        members: live,
        generation: group.generation,
      },
    ];
  });
}

/**
 * Deletes an empty group with its committed offsets and its members' poll positions. The
 * deletion rolls forward in three steps, each a conditional write:
 *
 *   1. the state item becomes a "started" marker, conditioned on the version read, which had
 *      no live members. From here the group is gone for everyone: whoever reads its state
 *      and finds the marker — a join, a commit, a describe, another delete — finishes the
 *      deletion first (finishDeletion), then goes on as for a group that does not exist.
 *   2. the group's other items are deleted, a transaction at a time.
 *   3. the marker becomes a "done" tombstone and the registry item goes, in one transaction.
 *
 * So a delete that dies after step 1 leaves nothing anyone sees: its offsets are gone before
 * a group of the name exists again. Sent again, the delete finishes and answers as if it
 * had not died.
 */
export async function deleteGroup(ctx: CoreContext, name: string): Promise<void> {
  assertValidGroupName(name);
  for (;;) {
    const item = await ctx.metadata.get(groupStateKey(name));
    if (item && deletionOf(item) === 'started') {
      await finishDeletion(ctx, name, item.version);
      return;
    }
    const group = await existingGroup(ctx, name);
    if (group.members.length > 0) throw groupNotEmpty(name, group);
    const read = group.version ?? 0;
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: groupStateKey(name),
          data: { deletion: 'started', deletedAt: ctx.now() },
          expect: expectVersion(read),
        },
      ]);
    } catch (error: unknown) {
      // A join or a commit got in first: judge the group again.
      if (await lostRace(error)) continue;
      throw error;
    }
    await finishDeletion(ctx, name, read + 1);
    return;
  }
}

/**
 * Steps 2 and 3 of a deletion whose marker is at version `marker`. Any number may run at
 * once, or after one that died. Every write is conditioned on the marker, so none touches
 * what a group created again under the name wrote:
 *
 *   delete A: reads a page [offset#t#0]           the marker at v
 *   delete B: deletes the rest; tombstone (v+1)
 *   a commit creates the group again (v+2), writes offset#t#0
 *   delete A: deletes its page                    refused: the state is not at v any more
 *
 * A tombstone rather than no item keeps the state's version growing over the name's life,
 * so the marker of a later deletion never has the version a stale one expects.
 */
async function finishDeletion(ctx: CoreContext, name: string, marker: number): Promise<void> {
  const state = groupStateKey(name);
  const markerUnchanged: WriteOp = { type: 'check', key: state, expect: expectVersion(marker) };
  for (;;) {
    const page = (await ctx.metadata.query(groupPk(name), { limit: maxTransactionOps }))
      .filter((item) => item.sk !== state.sk)
      .slice(0, maxTransactionOps - 1);
    const last = page.length === 0;
    const ops: WriteOp[] = last
      ? [
          { type: 'put', key: state, data: { deletion: 'done' }, expect: expectVersion(marker) },
          { type: 'delete', key: groupRegistryKey(name), expect: expectAny },
        ]
      : [
          markerUnchanged,
          ...page.map(
            (item): WriteOp => ({
              type: 'delete',
              key: { pk: item.pk, sk: item.sk },
              expect: expectAny,
            }),
          ),
        ];
    try {
      await ctx.metadata.transact(ops);
      if (last) return;
    } catch (error: unknown) {
      if (!(await lostRace(error))) throw error;
      // Another run finished the deletion, or got in the way of this page: look again.
      if ((await ctx.metadata.get(state))?.version !== marker) return;
    }
  }
}

export type ResetTarget =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'timestamp'; readonly timestamp: number }
  | { readonly kind: 'offset'; readonly offset: number };

/**
 * Sets the group's committed offset on every partition of a topic, as Kafka's
 * `kafka-consumer-groups --reset-offsets` does: only while the group has no live members.
 * An explicit offset is clamped into [logStartOffset, highWatermark]; a timestamp with no
 * record at or after it resets to the high watermark.
 */
export async function resetOffsets(
  deps: { readonly ctx: CoreContext; readonly reader: BatchReader },
  name: string,
  topicName: string,
  to: ResetTarget,
): Promise<PartitionLag[]> {
  const { ctx } = deps;
  assertValidGroupName(name);
  const topic = await loadTopic(ctx, topicName);
  const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
  const states = await readPartitionStates(ctx, topic, partitions);
  const offsets: number[] = [];
  for (const state of states) {
    if (to.kind === 'earliest') offsets.push(state.logStartOffset);
    else if (to.kind === 'latest') offsets.push(state.highWatermark);
    else if (to.kind === 'offset') {
      offsets.push(Math.min(Math.max(to.offset, state.logStartOffset), state.highWatermark));
    } else {
      const found = await listOffset(deps, topicName, state.partition, to);
      offsets.push(found.offset ?? state.highWatermark);
    }
  }
  // Empty groups only: commit in transactions of up to maxOffsetsPerCommit offsets.
  for (let i = 0; i < partitions.length; i += maxOffsetsPerCommit) {
    const slice = partitions.slice(i, i + maxOffsetsPerCommit);
    await commitOffsets(ctx, name, {
      offsets: slice.map((partition) => ({
        topic: topicName,
        partition,
        offset: offsets[partition] ?? 0,
      })),
    });
  }
  return (await groupOffsets(ctx, name)).filter((o) => o.topic === topicName);
}
