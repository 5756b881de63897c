import { type Tributary, TributaryError } from '../src/index.ts';
import { partitionsInWords } from '../src/topics.ts';

/**
 * The topic's partitions, or only `partition` when one is given, checked before any record
 * moves: a missing topic is TOPIC_NOT_FOUND and a partition it lacks PARTITION_NOT_FOUND
 * (both exit 3), even when there is nothing to send, or a group would simply get no
 * partitions of it.
 */
export async function partitionsOf(
  tributary: Tributary,
  topic: string,
  partition: number | undefined,
): Promise<number[]> {
  const { partitions } = await tributary.topics.describe(topic);
  if (partition === undefined) return partitions.map((p) => p.partition);
  if (partition >= partitions.length) {
    throw new TributaryError({
      code: 'PARTITION_NOT_FOUND',
      message: `Topic '${topic}' has ${partitionsInWords(partitions.length)}; there is no partition ${partition}.`,
    });
  }
  return [partition];
}
