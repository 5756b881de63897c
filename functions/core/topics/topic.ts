import { partitionsInWords } from '../../../sdk/src/topics.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { topicKey } from '../keys.ts';
import type { StoredItem } from '../ports/metadata-store.ts';
import { overridesFromJson, type TopicConfig, topicConfig } from './topic-config.ts';
import { assertValidTopicName } from './topic-name.ts';

/** The most partitions one topic may have. */
export const maxPartitions = 1000;

export interface Topic {
  /** Immutable; partition data is keyed by it, so a re-created topic starts empty. */
  readonly id: string;
  readonly name: string;
  readonly partitions: number;
  /** Config values set on the topic, canonical strings; the rest are defaults. */
  readonly overrides: Readonly<Record<string, string>>;
  readonly config: TopicConfig;
  readonly createdAt: number;
  /** The stored item's version, for conditional updates. */
  readonly version: number;
}

/**
 * The topic an item holds, or undefined for the tombstone a deleted topic leaves. Deleting
 * replaces the item instead of removing it, so its version keeps rising across delete and
 * re-create: a writer's check "topic still at version N" can never pass against a newer
 * topic of the same name.
 */
export function topicFromItem(item: StoredItem): Topic | undefined {
  if (item.data.deleted === true) return undefined;
  const { id, name, partitions, createdAt } = item.data;
  if (typeof id !== 'string' || typeof name !== 'string' || typeof partitions !== 'number') {
    throw new Error(`corrupt topic item ${item.pk}/${item.sk}`);
  }
  const overrides = overridesFromJson(item.data.config);
  return {
    id,
    name,
    partitions,
    overrides,
    config: topicConfig(overrides),
    createdAt: typeof createdAt === 'number' ? createdAt : 0,
    version: item.version,
  };
}

export function topicData(topic: Omit<Topic, 'version' | 'config'>) {
  return {
    id: topic.id,
    name: topic.name,
    partitions: topic.partitions,
    config: { ...topic.overrides },
    createdAt: topic.createdAt,
  };
}

/** The topic, or undefined when none has the name. A malformed name is INVALID_TOPIC. */
export async function findTopic(ctx: CoreContext, name: string): Promise<Topic | undefined> {
  assertValidTopicName(name);
  const item = await ctx.metadata.get(topicKey(name));
  return item && topicFromItem(item);
}

export async function loadTopic(ctx: CoreContext, name: string): Promise<Topic> {
  const topic = await findTopic(ctx, name);
  if (!topic) throw topicNotFound(name);
  return topic;
}

export const topicNotFound = (name: string): TributaryError =>
  new TributaryError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`, { topic: name });

export function assertPartition(topic: Topic, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new TributaryError(
      'PARTITION_NOT_FOUND',
      `Topic '${topic.name}' has ${partitionsInWords(topic.partitions)}; there is no partition ${partition}.`,
      { topic: topic.name, partition, partitions: topic.partitions },
    );
  }
}
