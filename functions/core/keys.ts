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
 *                           sk "maint"           maintenance: where the index is cleaned to,
 *                                                and chunks whose deletion is under way
 *   pk "maintenance"        sk "pass"            the maintenance pass under way, or the last
 *                           sk "sweep#<topicId>" how far the orphan sweep got on a topic
 *
 * Segment objects: "chunks/<topicId>/<13-digit epoch ms>-<id>", so a topic's chunks list in
 * the order they were written and the orphan sweep can go through them a window at a time.
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

export const maintKey = (topicId: string, partition: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: 'maint',
});

export const maintenancePk = 'maintenance';
export const passKey: ItemKey = { pk: maintenancePk, sk: 'pass' };
export const sweepKey = (topicId: string): ItemKey => ({
  pk: maintenancePk,
  sk: `sweep#${topicId}`,
});

export const chunkPrefix = (topicId: string): string => `chunks/${topicId}/`;

const timeDigits = 13;
/** Where a chunk written at `time` (epoch ms) goes; `id` makes it unique. */
export const chunkKey = (topicId: string, time: number, id: string): string =>
  `${chunkPrefix(topicId)}${chunkTimeKey(time)}-${id}`;
/**
 * Where a rewrite (compaction, merge) writes a chunk named at `time`: the same form, its id
 * marked `r`, so the orphan sweep leaves it to the rewrite's own gc item (rewrite.ts).
 */
export const rewriteChunkKey = (topicId: string, time: number, id: string): string =>
  chunkKey(topicId, time, `r${id}`);
/** Whether a chunk key is a rewrite's. */
export const isRewriteChunk = (key: string): boolean =>
  /^\d{13}-r/.test(key.slice(key.lastIndexOf('/') + 1));
/** The key part of a time: every chunk key written at or before it sorts before `…${t}.`. */
export const chunkTimeKey = (time: number): string =>
  Math.max(0, Math.floor(time)).toString().padStart(timeDigits, '0');
/** When a chunk was written, from its key; undefined for keys of another form. */
export function chunkTime(key: string): number | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const match = /^(\d{13})-/.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
