/**
 * What a topic holds in the stores themselves, read behind the API: the items under its
 * partitions and its segment objects. Tests of the maintenance workflow count these, since
 * a response can hide what is still stored.
 */

import { batchSkEnd, batchSkPrefix, chunkPrefix, partitionPk } from '../../functions/core/keys.ts';
import type { StoredItem } from '../../functions/core/ports/metadata-store.ts';
import type { SegmentObject } from '../../functions/core/ports/segment-store.ts';
import type { OpenBackend } from './backends.ts';

/** The index entries of a partition, in offset order. */
export const indexItems = (stores: OpenBackend, topicId: string, partition: number) =>
  stores.metadata.query(partitionPk(topicId, partition), { from: batchSkPrefix, to: batchSkEnd });

/** Every item under a partition's key: head, start, index, producer state, cursors. */
export const partitionItems = (
  stores: OpenBackend,
  topicId: string,
  partition: number,
): Promise<StoredItem[]> => stores.metadata.query(partitionPk(topicId, partition));

/** Every segment object under a prefix (all pages). */
export async function objectsUnder(stores: OpenBackend, prefix: string): Promise<SegmentObject[]> {
  const objects: SegmentObject[] = [];
  let cursor: string | undefined;
  do {
    const page = await stores.segments.list(prefix, cursor);
    objects.push(...page.objects);
    cursor = page.cursor;
  } while (cursor);
  return objects;
}

/** A topic's chunks. */
export const chunksOf = (stores: OpenBackend, topicId: string) =>
  objectsUnder(stores, chunkPrefix(topicId));
