import type { ItemKey } from './ports/metadata-store.ts';

/**
 * Where every item lives in the metadata store. Partition data is keyed by the topic's
 * immutable id, not its name, so a topic deleted and created again never sees old data.
 *
 *   pk "topics"             sk <name>            the topic: id, partition count, config
 *   pk "deleted-topics"     sk <topicId>         data of a deleted topic still to be removed
 *   pk "log#<id>#<p>"       sk "head"            nextOffset, nextPosition, leaderEpoch
 *                           sk "start"           logStartOffset (kept apart from the head so
 *                                                retention never contends with producers)
 *                           sk "b#<baseOffset>"  one index entry per committed batch
 */

export const topicsPk = 'topics';
export const deletedTopicsPk = 'deleted-topics';

export const topicKey = (name: string): ItemKey => ({ pk: topicsPk, sk: name });
export const deletedTopicKey = (topicId: string): ItemKey => ({ pk: deletedTopicsPk, sk: topicId });

export const partitionPk = (topicId: string, partition: number): string =>
  `log#${topicId}#${partition}`;
export const headKey = (topicId: string, partition: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: 'head',
});
export const startKey = (topicId: string, partition: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: 'start',
});

// Offsets are at most 2^53 - 1: sixteen decimal digits, zero-padded so that the byte
// order of sort keys is the numeric order of offsets.
const offsetDigits = 16;
export const batchSkPrefix = 'b#';
export const batchSk = (baseOffset: number): string =>
  `${batchSkPrefix}${baseOffset.toString().padStart(offsetDigits, '0')}`;
/** Sorts after every batch sort key. */
export const batchSkEnd = `${batchSkPrefix}~`;

export const chunkPrefix = (topicId: string): string => `chunks/${topicId}/`;
