import type { TopicDescription } from '../../../sdk/src/topics.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { deletedTopicKey, headKey, maintKey, topicKey, topicsPk } from '../keys.ts';
import { headData, headFromItem } from '../log/partition-items.ts';
import { maintFromItem, storedBytes } from '../log/partition-maint.ts';
import { readPartitionStates } from '../log/partition-state.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  lostRace,
  maxTransactionOps,
  type WriteOp,
} from '../ports/metadata-store.ts';
import {
  loadTopic,
  maxPartitions,
  type Topic,
  topicData,
  topicFromItem,
  topicNotFound,
} from './topic.ts';
import {
  effectiveConfigStrings,
  parseConfigOverrides,
  patchConfigOverrides,
} from './topic-config.ts';
import { assertValidTopicName } from './topic-name.ts';

// The wire shapes are the SDK's, so server and client cannot drift apart.
export type { PartitionDescription, TopicDescription } from '../../../sdk/src/topics.ts';

export interface TopicSummary {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: number;
}

export async function createTopic(
  ctx: CoreContext,
  request: { name: string; partitions: number; config: Record<string, unknown> },
): Promise<TopicDescription> {
  assertValidTopicName(request.name);
  assertPartitionCount(request.partitions);
  const overrides = parseConfigOverrides(request.config);
  const topic = {
    id: ctx.newId(),
    name: request.name,
    partitions: request.partitions,
    overrides,
    createdAt: ctx.now(),
  };
  const exists = () =>
    new TributaryError('TOPIC_ALREADY_EXISTS', `Topic '${topic.name}' already exists.`, {
      topic: topic.name,
    });
  const current = await ctx.metadata.get(topicKey(topic.name));
  if (current && topicFromItem(current)) throw exists();
  try {
    await ctx.metadata.transact([
      {
        type: 'put',
        key: topicKey(topic.name),
        data: topicData(topic),
        // Absent, or the tombstone of a deleted topic of this name.
        expect: current ? expectVersion(current.version) : expectAbsent,
      },
    ]);
  } catch (error: unknown) {
    if (error instanceof ConditionFailedError) {
      // Our own write, landed on an attempt whose answer was lost: the topic id is ours alone.
      const landed = error.failures[0]?.current;
      if (landed?.data.id === topic.id) return describeTopic(ctx, topic.name);
      throw exists();
    }
    if (await lostRace(error)) return createTopic(ctx, request);
    throw error;
  }
  return describeTopic(ctx, topic.name);
}

export async function listTopics(ctx: CoreContext): Promise<TopicSummary[]> {
  const items = await ctx.metadata.query(topicsPk);
  return items.flatMap((item) => {
    const t = topicFromItem(item);
    return t ? [{ name: t.name, topicId: t.id, partitions: t.partitions }] : [];
  });
}

export async function describeTopic(ctx: CoreContext, name: string): Promise<TopicDescription> {
  const topic = await loadTopic(ctx, name);
  const numbers = Array.from({ length: topic.partitions }, (_, p) => p);
  const [states, maints] = await Promise.all([
    readPartitionStates(ctx, topic, numbers),
    ctx.metadata.getMany(numbers.map((p) => maintKey(topic.id, p))),
  ]);
  const compacted = topic.config.cleanupPolicy !== 'delete';
  return {
    name: topic.name,
    topicId: topic.id,
    partitions: states.map((s, p) => {
      const maint = maintFromItem(maints[p]);
      const size = storedBytes(s.head.nextPosition, maint);
      // A round under way may already have removed records up to its end.
      const cleanedUpTo = Math.min(
        Math.max(maint.compactedTo, maint.round?.end ?? 0, s.logStartOffset),
        s.highWatermark,
      );
      const dirtyBytes =
        cleanedUpTo >= s.highWatermark ? 0 : s.head.nextPosition - maint.dirtyPosition;
      return {
        partition: s.partition,
        logStartOffset: s.logStartOffset,
        highWatermark: s.highWatermark,
        leaderEpoch: s.head.leaderEpoch,
        sizeBytes: size,
        ...(compacted && {
          cleanedUpTo,
          dirtyRatio: size === 0 ? 0 : Math.min(1, Math.max(0, dirtyBytes / size)),
        }),
      };
    }),
    config: effectiveConfigStrings(topic.overrides),
  };
}

/**
 * Changes config with a JSON merge patch: `{"retention.ms": "3600000"}` sets a value,
 * `{"retention.ms": null}` returns it to the default. All of it applies, or none.
 */
export async function alterTopicConfig(
  ctx: CoreContext,
  name: string,
  patch: Record<string, unknown>,
): Promise<TopicDescription> {
  await updateTopic(ctx, name, (topic) => ({
    ...topic,
    overrides: patchConfigOverrides(topic.overrides, patch),
  }));
  return describeTopic(ctx, name);
}

/** Raises the partition count to `count` (the new total, as in Kafka); never lowers it. */
export async function addPartitions(
  ctx: CoreContext,
  name: string,
  count: number,
): Promise<TopicDescription> {
  await updateTopic(ctx, name, (topic) => {
    assertPartitionCount(count);
    if (count <= topic.partitions) {
      throw new TributaryError(
        'INVALID_PARTITIONS',
        `Topic '${name}' has ${topic.partitions} partitions; the new count must be larger (partitions can only be added).`,
        { topic: name, partitions: topic.partitions, requested: count },
      );
    }
    return { ...topic, partitions: count };
  });
  return describeTopic(ctx, name);
}

/** Applies `change` to the topic, re-reading and re-applying if a concurrent change won. */
async function updateTopic(ctx: CoreContext, name: string, change: (topic: Topic) => Topic) {
  for (;;) {
    const topic = await loadTopic(ctx, name);
    const next = change(topic);
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: topicKey(name),
          data: topicData(next),
          expect: expectVersion(topic.version),
        },
      ]);
      return;
    } catch (error: unknown) {
      if (!(await lostRace(error))) throw error;
    }
  }
}

/**
 * Deletes the topic at once: it is gone for every reader and writer the moment this
 * commits. Its data is listed under `deleted-topics` for the maintenance workflow, which
 * removes it (functions/maintenance/purge.ts).
 *
 * Before answering, every partition head is marked deleted ({@link fenceHeads}): a produce
 * commits without checking the topic item, conditioned only on the heads it writes, so a
 * writer that still remembers the topic (or a request in flight) is stopped by the head,
 * never writes into the deleted topic once this answers, and learns the topic is gone.
 */
export async function deleteTopic(ctx: CoreContext, name: string): Promise<void> {
  assertValidTopicName(name);
  const item = await ctx.metadata.get(topicKey(name));
  const topic = item && topicFromItem(item);
  if (!topic) {
    // A delete that failed after its tombstone may not have fenced every head: finish that
    // before saying the topic is gone.
    const id = item?.data.id;
    if (typeof id === 'string') await fenceDeletedTopic(ctx, id);
    throw topicNotFound(name);
  }
  try {
    await ctx.metadata.transact([
      {
        type: 'put',
        key: topicKey(name),
        data: { deleted: true, id: topic.id, deletedAt: ctx.now() },
        expect: expectVersion(topic.version),
      },
      {
        type: 'put',
        key: deletedTopicKey(topic.id),
        data: { name: topic.name, partitions: topic.partitions, deletedAt: ctx.now() },
        expect: expectAbsent,
      },
    ]);
  } catch (error: unknown) {
    // Changed or deleted meanwhile: start again from what is there now.
    if (await lostRace(error)) return deleteTopic(ctx, name);
    throw error;
  }
  await fenceDeletedTopic(ctx, topic.id);
}

/**
 * Marks every head of a deleted topic deleted, unless its `deleted-topics` item says that
 * was done (or the purge already removed it), then says so in the item. Idempotent: the
 * delete, a delete repeated after a crash, and the purge all call it.
 */
export async function fenceDeletedTopic(ctx: CoreContext, topicId: string): Promise<void> {
  for (;;) {
    const item = await ctx.metadata.get(deletedTopicKey(topicId));
    if (!item || item.data.headsFenced === true) return;
    await fenceHeads(ctx, topicId, Number(item.data.partitions ?? 0));
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: deletedTopicKey(topicId),
          data: { ...item.data, headsFenced: true },
          expect: expectVersion(item.version),
        },
      ]);
      return;
    } catch (error: unknown) {
      // The purge saved its progress meanwhile: read the item again.
      if (!(await lostRace(error))) throw error;
    }
  }
}

/**
 * Rewrites the heads of partitions 0..partitions-1 with the `deleted` mark, each
 * conditioned on the version read (absent heads are created marked), so that every
 * commit based on a head read before this fails, and every later read of a head says the
 * topic is gone. A head already marked is left alone.
 */
export async function fenceHeads(
  ctx: CoreContext,
  topicId: string,
  partitions: number,
): Promise<void> {
  for (let from = 0; from < partitions; from += maxTransactionOps) {
    const keys = Array.from({ length: Math.min(maxTransactionOps, partitions - from) }, (_, i) =>
      headKey(topicId, from + i),
    );
    for (;;) {
      const items = await ctx.metadata.getMany(keys);
      const ops = keys.flatMap((key, i): WriteOp[] => {
        const item = items[i];
        const head = headFromItem(item);
        if (head.deleted) return [];
        return [
          {
            type: 'put',
            key,
            data: headData({ ...head, deleted: true }),
            expect: item ? expectVersion(item.version) : expectAbsent,
          },
        ];
      });
      if (ops.length === 0) break;
      try {
        await ctx.metadata.transact(ops);
        break;
      } catch (error: unknown) {
        // A commit landed on one of them since the read: read them again.
        if (!(await lostRace(error))) throw error;
      }
    }
  }
}

function assertPartitionCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > maxPartitions) {
    throw new TributaryError(
      'INVALID_PARTITIONS',
      `Partition count must be an integer from 1 to ${maxPartitions}; got ${count}.`,
      { requested: count, max: maxPartitions },
    );
  }
}
