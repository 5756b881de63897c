import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { SegmentNotFoundError } from '../ports/segment-store.ts';
import { assertPartition, loadTopic, type Topic, topicNotFound } from '../topics/topic.ts';
import type { RecordHeader } from './batch-codec.ts';
import type { BatchReader } from './batch-reader.ts';
import { entriesFrom } from './index-reader.ts';
import { entryEnd, type IndexEntry } from './partition-items.ts';
import { type PartitionState, readPartitionState } from './partition-state.ts';

export interface FetchLimits {
  readonly maxRecords: number;
  /** Soft: at least one record is returned even when it alone is larger. */
  readonly maxBytes: number;
  /** How long to wait for new records when `offset` is the high watermark. */
  readonly waitMs: number;
}

export interface FetchedRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

export interface FetchResult {
  readonly records: FetchedRecord[];
  /** The offset to fetch next. */
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

export interface FetchDeps {
  readonly ctx: CoreContext;
  readonly reader: BatchReader;
  /** Resolves after `ms`; injected so long-poll tests need not sleep. */
  readonly sleep: (ms: number) => Promise<void>;
}

/** Batches read from the segment store at once. */
const readConcurrency = 8;

/**
 * Records with offset >= `offset`, in order, from the index entry covering it. An offset
 * outside [logStartOffset, highWatermark] is OFFSET_OUT_OF_RANGE; at the high watermark the
 * fetch waits up to `waitMs` for new records, then answers empty.
 */
export async function fetchRecords(
  deps: FetchDeps,
  topicName: string,
  partition: number,
  offset: number,
  limits: FetchLimits,
): Promise<FetchResult> {
  return fetchFromTopic(deps, await loadTopic(deps.ctx, topicName), partition, offset, limits);
}

/** {@link fetchRecords} for a topic the caller has already read. */
export async function fetchFromTopic(
  deps: FetchDeps,
  topic: Topic,
  partition: number,
  offset: number,
  limits: FetchLimits,
): Promise<FetchResult> {
  const { ctx } = deps;
  assertPartition(topic, partition);
  let state = await readPartitionState(ctx, topic, partition);
  assertInRange(topic, partition, offset, state);
  if (offset === state.highWatermark && limits.waitMs > 0) {
    state = await waitForRecords(deps, topic, partition, offset, limits.waitMs, state);
  }
  if (offset === state.highWatermark) {
    return { records: [], nextOffset: offset, ...bounds(state) };
  }
  try {
    return await readRecords(deps, topic, partition, offset, state, limits);
  } catch (error: unknown) {
    if (!(error instanceof SegmentNotFoundError)) throw error;
    // The maintenance workflow deleted a chunk between our index read and our chunk read:
    // retention passed the offset (now out of range, as Kafka answers), or a rewrite
    // replaced the batch with a copy (read it there). A second miss is a real fault.
    const fresh = await readPartitionState(ctx, topic, partition);
    assertInRange(topic, partition, offset, fresh);
    return readRecords(deps, topic, partition, offset, fresh, limits);
  }
}

/**
 * Reads records from `offset` by walking index entries in offset order. Entries tile the
 * log (partition-items.ts), so the walk knows at each step the offset it expects next: an
 * entry that starts beyond it is a range not seen — an entry not yet visible to this read
 * (a commit, or a rewrite's swap, landing meanwhile) — and the read stops there, with
 * `nextOffset` at that offset, rather than skip it. A range compaction emptied is an entry
 * like any other, with no records: the walk passes over it, so a read from a removed offset
 * answers the next record above it, and a read of a tail that was all removed answers
 * `nextOffset` past it.
 */
async function readRecords(
  deps: FetchDeps,
  topic: Topic,
  partition: number,
  offset: number,
  state: PartitionState,
  limits: FetchLimits,
): Promise<FetchResult> {
  const entries = await entriesToRead(deps.ctx, topic, partition, offset, state, limits);
  const records: FetchedRecord[] = [];
  let bytes = 0;
  let expected = offset;
  const answer = (next: number): FetchResult => ({
    records,
    nextOffset: Math.min(Math.max(next, offset), state.highWatermark),
    ...bounds(state),
  });
  for (let i = 0; i < entries.length; i += readConcurrency) {
    const group = entries.slice(i, i + readConcurrency);
    const batches = await Promise.all(
      group.map((entry) => (entry.count === 0 ? undefined : deps.reader.read(entry))),
    );
    for (const [j, entry] of group.entries()) {
      // Seen already: two views of one range met during a rewrite's swap.
      if (entryEnd(entry) <= expected) continue;
      if (entry.baseOffset > expected) return answer(expected);
      for (const record of batches[j]?.records ?? []) {
        const recordOffset = entry.baseOffset + record.offsetDelta;
        if (recordOffset < expected || recordOffset < state.logStartOffset) continue;
        const size = recordBytes(record);
        if (
          records.length >= limits.maxRecords ||
          (records.length > 0 && bytes + size > limits.maxBytes)
        ) {
          return answer(recordOffset);
        }
        records.push({
          offset: recordOffset,
          timestamp: record.timestamp,
          key: record.key,
          value: record.value,
          headers: record.headers,
        });
        bytes += size;
      }
      expected = entryEnd(entry);
    }
  }
  return answer(expected);
}

const bounds = (state: PartitionState) => ({
  highWatermark: state.highWatermark,
  logStartOffset: state.logStartOffset,
});

/** Which offsets a partition holds, in words: `it holds offsets 0 to 1`. */
function heldOffsets({ logStartOffset, highWatermark }: PartitionState): string {
  if (highWatermark === logStartOffset) {
    return `it holds no records; the next one written gets offset ${highWatermark}`;
  }
  const last = highWatermark - 1;
  return logStartOffset === last
    ? `it holds offset ${last} only; the next one written gets ${highWatermark}`
    : `it holds offsets ${logStartOffset} to ${last}; the next one written gets ${highWatermark}`;
}

export function assertInRange(
  topic: Topic,
  partition: number,
  offset: number,
  state: PartitionState,
): void {
  if (offset < state.logStartOffset || offset > state.highWatermark) {
    throw new TributaryError(
      'OFFSET_OUT_OF_RANGE',
      `Offset ${offset} is out of range for ${topic.name}-${partition}: ${heldOffsets(state)}.`,
      {
        topic: topic.name,
        partition,
        offset,
        logStartOffset: state.logStartOffset,
        highWatermark: state.highWatermark,
      },
    );
  }
}

/** Index entries enough to fill the limits, stopping at the head that was read. */
async function entriesToRead(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  offset: number,
  state: PartitionState,
  limits: FetchLimits,
): Promise<IndexEntry[]> {
  const entries: IndexEntry[] = [];
  let records = 0;
  let bytes = 0;
  // Eight entries first: a consumer reading large batches needs one or two of them.
  for await (const entry of entriesFrom(ctx, topic.id, partition, offset, 8)) {
    if (entry.baseOffset >= state.highWatermark) break;
    if (entryEnd(entry) <= offset) continue;
    entries.push(entry);
    records += Math.min(entry.count, entryEnd(entry) - Math.max(offset, entry.baseOffset));
    bytes += entry.byteLength;
    if (records >= limits.maxRecords || bytes >= limits.maxBytes) break;
  }
  return entries;
}

function recordBytes(record: Omit<FetchedRecord, 'offset' | 'timestamp'>): number {
  let size = (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
  for (const header of record.headers) size += header.name.length + (header.value?.byteLength ?? 0);
  return size;
}

/** Polls the head with growing pauses until a record lands or `waitMs` passes. */
async function waitForRecords(
  deps: FetchDeps,
  topic: Topic,
  partition: number,
  offset: number,
  waitMs: number,
  initial: PartitionState,
): Promise<PartitionState> {
  const deadline = deps.ctx.now() + waitMs;
  let pause = 25;
  let state = initial;
  while (state.highWatermark === offset) {
    const remaining = deadline - deps.ctx.now();
    if (remaining <= 0) break;
    await deps.sleep(Math.min(pause, remaining));
    pause = Math.min(pause * 2, 500);
    state = await readPartitionState(deps.ctx, topic, partition);
    // Deleting a topic marks its heads: a wait on one that went ends, as a fetch would.
    if (state.head.deleted) throw topicNotFound(topic.name);
  }
  return state;
}
