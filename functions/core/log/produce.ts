import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { batchSk, chunkPrefix, headKey, partitionPk, topicKey } from '../keys.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  StorageUnavailableError,
  TransactionContentionError,
  type WriteOp,
} from '../ports/metadata-store.ts';
import {
  assertPartition,
  findTopic,
  loadTopic,
  type Topic,
  topicNotFound,
} from '../topics/topic.ts';
import {
  type BatchRecord,
  concatBatches,
  encodeBatch,
  type RecordHeader,
  recordSize,
} from './batch-codec.ts';
import { entryData, headData, headFromItem, type PartitionHead } from './partition-items.ts';
import { partitionForKey } from './partitioner.ts';

export interface ProduceRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
  readonly partition?: number;
  /** Epoch milliseconds; defaults to the time of the request. */
  readonly timestamp?: number;
}

export interface RecordAck {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

/**
 * Partitions one request may touch. Its commit is one DynamoDB transaction (at most 100
 * items): the topic check plus a head and an index entry per partition, with a third item
 * per partition kept free for producer state.
 */
export const maxPartitionsPerRequest = 32;

/** A validated produce request whose chunk is encoded but not yet written or committed. */
export interface PreparedProduce {
  readonly topic: Topic;
  readonly recordCount: number;
  /** Writes the chunk and commits it; resolves with an ack per record, in request order. */
  commit(): Promise<RecordAck[]>;
}

interface PartitionBatch {
  readonly partition: number;
  /** Index of each of the batch's records in the request. */
  readonly requestIndexes: number[];
  readonly records: BatchRecord[];
}

// Records without a key are spread like Kafka's sticky partitioner: all of one request go
// to one partition, and successive requests move round the partitions.
let nextStickyPartition = Math.floor(Math.random() * 1_000_000);

/**
 * Validates a produce request against its topic and encodes it. Every refusal happens
 * here, before anything is written: a refused request changes nothing.
 */
export async function prepareProduce(
  ctx: CoreContext,
  topicName: string,
  records: readonly ProduceRecord[],
): Promise<PreparedProduce> {
  if (records.length === 0) {
    throw new TributaryError('EMPTY_BATCH', 'A produce request needs at least one record.');
  }
  const topic = await loadTopic(ctx, topicName);
  const now = ctx.now();
  const sticky = nextStickyPartition++ % topic.partitions;
  const byPartition = new Map<number, PartitionBatch>();

  for (const [index, record] of records.entries()) {
    const partition = choosePartition(topic, record, sticky, index);
    const timestamp =
      topic.config.timestampType === 'LogAppendTime' ? now : (record.timestamp ?? now);
    const batchRecord: BatchRecord = {
      timestamp,
      key: record.key,
      value: record.value,
      headers: record.headers,
    };
    const size = recordSize(batchRecord);
    if (size > topic.config.maxMessageBytes) {
      throw new TributaryError(
        'RECORD_TOO_LARGE',
        `Record ${index} is ${size} bytes; topic '${topic.name}' accepts at most ${topic.config.maxMessageBytes} (max.message.bytes).`,
        { index, size, maxMessageBytes: topic.config.maxMessageBytes },
      );
    }
    let batch = byPartition.get(partition);
    if (!batch) {
      batch = { partition, requestIndexes: [], records: [] };
      byPartition.set(partition, batch);
    }
    batch.requestIndexes.push(index);
    batch.records.push(batchRecord);
  }

  if (byPartition.size > maxPartitionsPerRequest) {
    throw new TributaryError(
      'TOO_MANY_PARTITIONS',
      `The request touches ${byPartition.size} partitions; one atomic produce may touch at most ${maxPartitionsPerRequest}. Split it.`,
      { partitions: byPartition.size, limit: maxPartitionsPerRequest },
    );
  }

  const batches = [...byPartition.values()];
  const encoded = batches.map((b) => encodeBatch(topic.config.timestampType, b.records));
  const chunk = concatBatches(encoded);
  const chunkKey = `${chunkPrefix(topic.id)}${ctx.newId()}`;

  return {
    topic,
    recordCount: records.length,
    commit: async () => {
      // 1. The chunk first: nothing refers to it yet, so nothing is visible.
      await ctx.segments.put(chunkKey, chunk.body);
      try {
        // 2. Then the index, atomically for every partition touched.
        const bases = await commitIndex(ctx, topic, batches, (i) => ({
          chunk: chunkKey,
          byteOffset: chunk.ranges[i]?.offset ?? 0,
          byteLength: chunk.ranges[i]?.length ?? 0,
          maxTimestamp: Math.max(...(batches[i]?.records.map((r) => r.timestamp) ?? [0])),
        }));
        const acks: RecordAck[] = new Array(records.length);
        for (const [i, batch] of batches.entries()) {
          const base = bases[i] ?? 0;
          for (const [j, requestIndex] of batch.requestIndexes.entries()) {
            const timestamp = batch.records[j]?.timestamp ?? now;
            acks[requestIndex] = { partition: batch.partition, offset: base + j, timestamp };
          }
        }
        return acks;
      } catch (error: unknown) {
        // The commit did not land: the chunk is an orphan. Remove it now if we can; the
        // maintenance sweep removes any that remain.
        if (!(error instanceof StorageUnavailableError)) {
          await ctx.segments.delete([chunkKey]).catch(() => undefined);
        }
        throw error;
      }
    },
  };
}

function choosePartition(
  topic: Topic,
  record: ProduceRecord,
  sticky: number,
  index: number,
): number {
  if (record.partition !== undefined) {
    try {
      assertPartition(topic, record.partition);
    } catch (error: unknown) {
      if (error instanceof TributaryError) error.details.index = index;
      throw error;
    }
    return record.partition;
  }
  if (record.key !== null) return partitionForKey(record.key, topic.partitions);
  return sticky;
}

interface BatchPlacement {
  readonly chunk: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly maxTimestamp: number;
}

/** Attempts before a commit that keeps losing races gives up (each loss means another writer won). */
const maxCommitAttempts = 100;

/**
 * Commits one index entry per batch and advances each partition head, in one transaction
 * conditioned on every head being unchanged since it was read. Returns the base offsets.
 *
 *   writer A reads head 7 ─┐          ┌─ A commits 7..9, head → 10 ✓
 *   writer B reads head 7 ─┴──────────┴─ B's condition "head still 7" fails ✗
 *                                        B takes head 10 from the failure, commits 10..11 ✓
 *
 * The chunk never changes on a retry: offsets inside it are relative to the base.
 */
async function commitIndex(
  ctx: CoreContext,
  topic: Topic,
  batches: readonly PartitionBatch[],
  placement: (batchIndex: number) => BatchPlacement,
): Promise<number[]> {
  let topicVersion = topic.version;
  let heads = await readHeads(ctx, topic, batches);
  for (let attempt = 1; ; attempt++) {
    const ops: WriteOp[] = [
      // The topic is unchanged: not deleted (and re-created) since this request read it.
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topicVersion) },
    ];
    for (const [i, batch] of batches.entries()) {
      const head = heads[i] as PartitionHead;
      const place = placement(i);
      ops.push(
        {
          type: 'put',
          key: headKey(topic.id, batch.partition),
          data: headData({
            nextOffset: head.nextOffset + batch.records.length,
            nextPosition: head.nextPosition + place.byteLength,
            leaderEpoch: head.leaderEpoch,
          }),
          // The head is still what we based our offsets on.
          expect: head.version === undefined ? expectAbsent : expectVersion(head.version),
        },
        {
          type: 'put',
          key: { pk: partitionPk(topic.id, batch.partition), sk: batchSk(head.nextOffset) },
          data: entryData({
            baseOffset: head.nextOffset,
            count: batch.records.length,
            position: head.nextPosition,
            ...place,
          }),
          expect: expectAbsent,
        },
      );
    }
    try {
      await ctx.metadata.transact(ops);
      return heads.map((h) => h.nextOffset);
    } catch (error: unknown) {
      if (attempt >= maxCommitAttempts) throw commitConflict(topic, attempt, error);
      if (error instanceof ConditionFailedError) {
        let stale = false;
        for (const failure of error.failures) {
          if (failure.index === 0) {
            const current = await findTopic(ctx, topic.name);
            if (!current || current.id !== topic.id) throw topicNotFound(topic.name);
            topicVersion = current.version;
          } else if (failure.index % 2 === 1) {
            // A head moved: another writer committed first. Take its new value and retry.
            heads[(failure.index - 1) / 2] = headFromItem(failure.current);
          } else {
            stale = true;
          }
        }
        if (stale) heads = await readHeads(ctx, topic, batches);
      } else if (error instanceof TransactionContentionError) {
        await pause(attempt);
        heads = await readHeads(ctx, topic, batches);
      } else {
        throw error;
      }
    }
  }
}

async function readHeads(
  ctx: CoreContext,
  topic: Topic,
  batches: readonly PartitionBatch[],
): Promise<PartitionHead[]> {
  const items = await ctx.metadata.getMany(batches.map((b) => headKey(topic.id, b.partition)));
  return items.map(headFromItem);
}

/** Full jitter, growing to ~100 ms, so racing writers spread out. */
const pause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));

function commitConflict(topic: Topic, attempts: number, cause: unknown): TributaryError {
  const error = new TributaryError(
    'COMMIT_CONFLICT',
    `Gave up after ${attempts} attempts racing other writers on topic '${topic.name}'; nothing was written. Retry.`,
    { topic: topic.name },
  );
  error.cause = cause;
  return error;
}
