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
  /**
   * Set when the topic was deleted: the delete rewrites every head with this mark, so a
   * commit based on a head read before the delete fails its version condition, and one
   * that reads the head after it learns the topic is gone (see fenceHeads in topics.ts).
   */
  readonly deleted?: true;
  /** Item version, or undefined when no batch was ever committed (the item is absent). */
  readonly version: number | undefined;
}

export function headFromItem(item: StoredItem | undefined): PartitionHead {
  if (!item) return { nextOffset: 0, nextPosition: 0, leaderEpoch: 0, version: undefined };
  return {
    nextOffset: numberField(item, 'nextOffset'),
    nextPosition: numberField(item, 'nextPosition'),
    leaderEpoch: numberField(item, 'leaderEpoch'),
    ...(item.data.deleted === true && { deleted: true }),
    version: item.version,
  };
}

export const headData = (head: Omit<PartitionHead, 'version'>) => ({
  nextOffset: head.nextOffset,
  nextPosition: head.nextPosition,
  leaderEpoch: head.leaderEpoch,
  ...(head.deleted && { deleted: true }),
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

/**
 * One batch of the log: the offsets it covers, where its bytes are and what it holds.
 *
 * Entries tile the log: each covers [baseOffset, lastOffset], and the next begins at
 * lastOffset + 1. A batch written by a producer holds a record at every offset it covers;
 * one rewritten by compaction may hold fewer (each keeps its offset), and a range whose
 * records were all removed is an entry with no records and no chunk. A reader can
 * therefore tell a range that holds nothing from one it has not seen.
 */
export interface IndexEntry {
  readonly baseOffset: number;
  /** The last offset the entry covers (its records may stop sooner, or be none). */
  readonly lastOffset: number;
  /** Records in the batch: 0 for a range compaction emptied. */
  readonly count: number;
  /** Segment object holding the batch; '' when it holds no records or is held inline. */
  readonly chunk: string;
  /**
   * A small batch's bytes, kept in the entry itself instead of a segment object (produce's
   * inlineBatchBytes): its commit needs no S3 PUT, and a read no GET.
   */
  readonly inline?: Uint8Array;
  readonly byteOffset: number;
  readonly byteLength: number;
  /** Partition byte position of the batch's first byte (for retention.bytes). */
  readonly position: number;
  readonly maxTimestamp: number;
  /** When the entry was written (epoch ms, the writer's clock): the orphan sweep's mark. */
  readonly committedAt?: number;
  /** The other batches of the chunk, when it holds more than this one. */
  readonly siblings?: readonly ChunkSibling[];
  /**
   * When the batch holds tombstones that compaction has passed: from this time (epoch ms)
   * they may be removed (delete.retention.ms after compaction first passed them).
   */
  readonly deleteHorizon?: number;
}

/** The offset just after the entry's range: where the next entry begins. */
export const entryEnd = (entry: Pick<IndexEntry, 'lastOffset'>): number => entry.lastOffset + 1;

export function entryFromItem(item: StoredItem): IndexEntry {
  const chunk = item.data.chunk;
  if (typeof chunk !== 'string') throw new Error(`corrupt index entry ${item.pk}/${item.sk}`);
  const { committedAt, siblings, lastOffset, deleteHorizon, inline } = item.data;
  const baseOffset = numberField(item, 'baseOffset');
  const count = numberField(item, 'count');
  return {
    baseOffset,
    // Entries written before spans were kept cover exactly their records.
    lastOffset: typeof lastOffset === 'number' ? lastOffset : baseOffset + count - 1,
    count,
    chunk,
    byteOffset: numberField(item, 'byteOffset'),
    byteLength: numberField(item, 'byteLength'),
    position: numberField(item, 'position'),
    maxTimestamp: numberField(item, 'maxTimestamp'),
    ...(typeof committedAt === 'number' && { committedAt }),
    ...(typeof deleteHorizon === 'number' && { deleteHorizon }),
    ...(typeof inline === 'string' && { inline: Buffer.from(inline, 'base64') }),
    ...(Array.isArray(siblings) && {
      siblings: siblings.map((s): ChunkSibling => {
        const [partition, baseOffset, byteLength] = Array.isArray(s) ? s : [];
        return [Number(partition), Number(baseOffset), Number(byteLength)];
      }),
    }),
  };
}

export function entryData(entry: IndexEntry): JsonObject {
  const { siblings, inline, ...fields } = entry;
  return {
    ...fields,
    ...(siblings && { siblings: siblings.map((s) => [...s]) }),
    ...(inline && { inline: Buffer.from(inline).toString('base64') }),
  };
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
