import type { JsonObject, StoredItem } from '../ports/metadata-store.ts';

/**
 * The partition head: where the next batch goes. Advanced only by a commit conditioned on
 * its version, which is what keeps offsets dense and never reused.
 */
export interface PartitionHead {
  /** Offset the next record gets; also the high watermark. */
  readonly nextOffset: number;
  /** Bytes of batches ever appended; a batch's `position` is this value before it. */
  readonly nextPosition: number;
  /** Raised by an exclusive writer taking the partition; older epochs are fenced. */
  readonly leaderEpoch: number;
  /** Item version, or undefined when no batch was ever committed (the item is absent). */
  readonly version: number | undefined;
}

export function headFromItem(item: StoredItem | undefined): PartitionHead {
  if (!item) return { nextOffset: 0, nextPosition: 0, leaderEpoch: 0, version: undefined };
  return {
    nextOffset: numberField(item, 'nextOffset'),
    nextPosition: numberField(item, 'nextPosition'),
    leaderEpoch: numberField(item, 'leaderEpoch'),
    version: item.version,
  };
}

export const headData = (head: Omit<PartitionHead, 'version'>) => ({
  nextOffset: head.nextOffset,
  nextPosition: head.nextPosition,
  leaderEpoch: head.leaderEpoch,
});

/**
 * Where the log starts, and the first retained batch's retention facts, so deciding
 * whether retention must advance costs no query on the hot path.
 */
export interface PartitionStart {
  readonly logStartOffset: number;
  /** The first retained batch, or null when unknown (no batch retained, or not yet read). */
  readonly first: BatchRetentionFacts | null;
  readonly version: number | undefined;
}

export interface BatchRetentionFacts {
  readonly maxTimestamp: number;
  /** Partition byte position just after the batch. */
  readonly end: number;
  /** Partition byte position of its first byte; absent in items written before it was kept. */
  readonly start?: number;
}

export function startFromItem(item: StoredItem | undefined): PartitionStart {
  if (!item) return { logStartOffset: 0, first: null, version: undefined };
  const first = item.data.first;
  const facts =
    first && typeof first === 'object' && !Array.isArray(first)
      ? {
          maxTimestamp: Number(first.maxTimestamp),
          end: Number(first.end),
          ...(typeof first.start === 'number' && { start: first.start }),
        }
      : null;
  return {
    logStartOffset: numberField(item, 'logStartOffset'),
    first: facts,
    version: item.version,
  };
}

export const startData = (start: Omit<PartitionStart, 'version'>) => ({
  logStartOffset: start.logStartOffset,
  first: start.first && {
    maxTimestamp: start.first.maxTimestamp,
    end: start.first.end,
    ...(start.first.start !== undefined && { start: start.first.start }),
  },
});

/**
 * Another partition's batch in the same chunk: [partition, baseOffset, byteLength]. A chunk
 * holds one request's batches, up to 32 partitions' worth, and may be deleted only once no
 * index entry refers to it; these say where to look.
 */
export type ChunkSibling = readonly [partition: number, baseOffset: number, byteLength: number];

/** One committed batch: where its bytes are and what it holds. */
export interface IndexEntry {
  readonly baseOffset: number;
  readonly count: number;
  /** Segment object holding the batch. */
  readonly chunk: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  /** Partition byte position of the batch's first byte (for retention.bytes). */
  readonly position: number;
  readonly maxTimestamp: number;
  /** When the entry was written (epoch ms, the writer's clock): the orphan sweep's mark. */
  readonly committedAt?: number;
  /** The other batches of the chunk, when it holds more than this one. */
  readonly siblings?: readonly ChunkSibling[];
}

export function entryFromItem(item: StoredItem): IndexEntry {
  const chunk = item.data.chunk;
  if (typeof chunk !== 'string') throw new Error(`corrupt index entry ${item.pk}/${item.sk}`);
  const { committedAt, siblings } = item.data;
  return {
    baseOffset: numberField(item, 'baseOffset'),
    count: numberField(item, 'count'),
    chunk,
    byteOffset: numberField(item, 'byteOffset'),
    byteLength: numberField(item, 'byteLength'),
    position: numberField(item, 'position'),
    maxTimestamp: numberField(item, 'maxTimestamp'),
    ...(typeof committedAt === 'number' && { committedAt }),
    ...(Array.isArray(siblings) && {
      siblings: siblings.map((s): ChunkSibling => {
        const [partition, baseOffset, byteLength] = Array.isArray(s) ? s : [];
        return [Number(partition), Number(baseOffset), Number(byteLength)];
      }),
    }),
  };
}

export function entryData(entry: IndexEntry): JsonObject {
  const { siblings, ...fields } = entry;
  return { ...fields, ...(siblings && { siblings: siblings.map((s) => [...s]) }) };
}

export const retentionFacts = (entry: IndexEntry): BatchRetentionFacts => ({
  maxTimestamp: entry.maxTimestamp,
  end: entry.position + entry.byteLength,
  start: entry.position,
});

function numberField(item: StoredItem, field: string): number {
  const value = item.data[field];
  if (typeof value !== 'number') throw new Error(`corrupt item ${item.pk}/${item.sk}: ${field}`);
  return value;
}
