import type { CoreContext } from '../context.ts';
import { assertPartition, loadTopic } from '../topics/topic.ts';
import type { BatchReader } from './batch-reader.ts';
import { entriesFrom } from './index-reader.ts';
import type { IndexEntry } from './partition-items.ts';
import { readPartitionState } from './partition-state.ts';

/** Kafka's ListOffsets specs. */
export type OffsetSpec =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'timestamp'; readonly timestamp: number }
  | { readonly kind: 'max-timestamp' };

export interface OffsetAnswer {
  /** Null when no record has a timestamp at or after the one asked for (Kafka: -1). */
  readonly offset: number | null;
  /** The found record's timestamp for a timestamp or max-timestamp spec; null otherwise. */
  readonly timestamp: number | null;
}

/**
 * earliest: the log start offset; latest: the high watermark; timestamp: the first offset
 * (in offset order) whose record timestamp is >= the one asked for, as Kafka finds it: the
 * first batch whose newest timestamp reaches it, then the first record in it that does;
 * max-timestamp: the first offset holding the partition's greatest timestamp (Kafka's
 * OffsetSpec.maxTimestamp, KIP-734).
 */
export async function listOffset(
  deps: { readonly ctx: CoreContext; readonly reader: BatchReader },
  topicName: string,
  partition: number,
  spec: OffsetSpec,
): Promise<OffsetAnswer> {
  const { ctx } = deps;
  const topic = await loadTopic(ctx, topicName);
  assertPartition(topic, partition);
  const state = await readPartitionState(ctx, topic, partition);
  if (spec.kind === 'earliest') return { offset: state.logStartOffset, timestamp: null };
  if (spec.kind === 'latest') return { offset: state.highWatermark, timestamp: null };
  if (spec.kind === 'max-timestamp') return maxTimestampOffset(deps, topic.id, partition, state);

  for await (const entry of entriesFrom(ctx, topic.id, partition, state.logStartOffset)) {
    if (entry.baseOffset >= state.highWatermark) break;
    if (entry.count === 0 || entry.maxTimestamp < spec.timestamp) continue;
    for (const record of (await deps.reader.read(entry)).records) {
      const offset = entry.baseOffset + record.offsetDelta;
      if (offset >= state.logStartOffset && record.timestamp >= spec.timestamp) {
        return { offset, timestamp: record.timestamp };
      }
    }
  }
  return { offset: null, timestamp: null };
}

/**
 * The first record holding the greatest timestamp, from the index and one batch: the first
 * whose newest timestamp is the greatest of all (the log starts at a batch's start).
 */
async function maxTimestampOffset(
  deps: { readonly ctx: CoreContext; readonly reader: BatchReader },
  topicId: string,
  partition: number,
  state: { readonly logStartOffset: number; readonly highWatermark: number },
): Promise<OffsetAnswer> {
  let newest: IndexEntry | undefined;
  for await (const entry of entriesFrom(deps.ctx, topicId, partition, state.logStartOffset)) {
    if (entry.baseOffset >= state.highWatermark) break;
    if (entry.count > 0 && (!newest || entry.maxTimestamp > newest.maxTimestamp)) newest = entry;
  }
  let found: OffsetAnswer = { offset: null, timestamp: null };
  if (!newest) return found;
  for (const record of (await deps.reader.read(newest)).records) {
    const offset = newest.baseOffset + record.offsetDelta;
    if (offset < state.logStartOffset || offset >= state.highWatermark) continue;
    // Of equal timestamps, the first offset.
    if (found.timestamp === null || record.timestamp > found.timestamp) {
      found = { offset, timestamp: record.timestamp };
    }
  }
  return found;
}
