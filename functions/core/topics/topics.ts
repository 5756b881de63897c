import type { TopicDescription } from '../../../sdk/src/topics.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { deletedTopicKey, topicKey, topicsPk } from '../keys.ts';
import { entriesFrom } from '../log/index-reader.ts';
import { type PartitionState, readPartitionStates } from '../log/partition-state.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  lostRace,
} from '../ports/metadata-store.ts';
import { loadTopic, maxPartitions, type Topic, topicData, topicFromItem } from './topic.ts';
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
  const states = await readPartitionStates(ctx, topic, numbers);
  return {
    name: topic.name,
    topicId: topic.id,
    partitions: await Promise.all(
      states.map(async (s) => ({
        partition: s.partition,
        logStartOffset: s.logStartOffset,
        highWatermark: s.highWatermark,
        leaderEpoch: s.head.leaderEpoch,
        sizeBytes: await retainedBytes(ctx, topic, s),
      })),
    ),
    config: effectiveConfigStrings(topic.overrides),
  };
}

/** Bytes of the batches from the log start to the head: a lookup only for old start items. */
async function retainedBytes(ctx: CoreContext, topic: Topic, state: PartitionState) {
  let start = state.startPosition;
  if (start === undefined) {
    for await (const entry of entriesFrom(
      ctx,
      topic.id,
      state.partition,
      state.logStartOffset,
      1,
    )) {
      start = entry.position;
      break;
    }
  }
  return state.head.nextPosition - (start ?? state.head.nextPosition);
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
 */
export async function deleteTopic(ctx: CoreContext, name: string): Promise<void> {
  const topic = await loadTopic(ctx, name);
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
