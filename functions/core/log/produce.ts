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
import type { WriterCache } from './writer-cache.ts';

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

export interface ProduceDeps {
  readonly ctx: CoreContext;
  readonly writers: WriterCache;
}

/**
 * Partitions one request may touch. Its commit is one DynamoDB transaction (at most 100
 * items): the topic check plus a head and an index entry per partition, with a third item
 * per partition kept free for producer state.
 */
export const maxPartitionsPerRequest = 32;

/** A validated produce request whose chunk is encoded but not yet written or committed. */
export interface PreparedProduce {
  readonly recordCount: number;
  /** Writes the chunk and commits it; resolves with an ack per record, in request order. */
  commit(): Promise<RecordAck[]>;
}

interface PartitionBatch {
  readonly partition: number;
  /** Index of each of the batch's records in the request. */
  readonly requestIndexes: number[];
  readonly records: BatchRecord[];
  maxTimestamp: number;
}

// Records without a key are spread like Kafka's sticky partitioner: all of one request go
// to one partition, and successive requests move round the partitions.
let nextStickyPartition = Math.floor(Math.random() * 1_000_000);

/**
 * Validates a produce request against its topic and encodes it. Every refusal happens
 * here, before anything is written: a refused request changes nothing.
 */
export async function prepareProduce(
  deps: ProduceDeps,
  topicName: string,
  records: readonly ProduceRecord[],
): Promise<PreparedProduce> {
  if (records.length === 0) {
    throw new TributaryError('EMPTY_BATCH', 'A produce request needs at least one record.');
  }
  const cached = deps.writers.topic(topicName, deps.ctx.now());
  try {
    return prepare(deps, cached ?? (await readTopic(deps, topicName)), records);
  } catch (error: unknown) {
    // Partitions may have been added since the topic was cached: judge again on fresh data.
    if (cached && error instanceof TributaryError && error.code === 'PARTITION_NOT_FOUND') {
      return prepare(deps, await readTopic(deps, topicName), records);
    }
    throw error;
  }
}

async function readTopic(deps: ProduceDeps, name: string): Promise<Topic> {
  const topic = await loadTopic(deps.ctx, name);
  deps.writers.rememberTopic(topic, deps.ctx.now());
  return topic;
}

function prepare(
  deps: ProduceDeps,
  topic: Topic,
  records: readonly ProduceRecord[],
): PreparedProduce {
  const now = deps.ctx.now();
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
      batch = { partition, requestIndexes: [], records: [], maxTimestamp: timestamp };
      byPartition.set(partition, batch);
    }
    batch.requestIndexes.push(index);
    batch.records.push(batchRecord);
    batch.maxTimestamp = Math.max(batch.maxTimestamp, timestamp);
  }

  if (byPartition.size > maxPartitionsPerRequest) {
    throw new TributaryError(
      'TOO_MANY_PARTITIONS',
      `The request touches ${byPartition.size} partitions; one atomic produce may touch at most ${maxPartitionsPerRequest}. Split it.`,
      { partitions: byPartition.size, limit: maxPartitionsPerRequest },
    );
  }

  const batches = [...byPartition.values()];
  const chunk = concatBatches(
    batches.map((b) => encodeBatch(topic.config.timestampType, b.records)),
  );
  const chunkKey = `${chunkPrefix(topic.id)}${deps.ctx.newId()}`;
  const placed = batches.map((batch, i) => ({
    batch,
    chunk: chunkKey,
    byteOffset: chunk.ranges[i]?.offset ?? 0,
    byteLength: chunk.ranges[i]?.length ?? 0,
  }));

  return {
    recordCount: records.length,
    commit: async () => {
      // 1. The chunk first: nothing refers to it yet, so nothing is visible.
      await deps.ctx.segments.put(chunkKey, chunk.body);
      let bases: number[];
      try {
        // 2. Then the index, atomically for every partition touched.
        bases = await commitIndex(deps, topic, placed);
      } catch (error: unknown) {
        // The commit did not land: the chunk is an orphan. Remove it now if we can; the
        // maintenance sweep removes any that remain. After a storage outage the commit's
        // fate is unknown, so the chunk stays.
        if (!(error instanceof StorageUnavailableError)) {
          await deps.ctx.segments.delete([chunkKey]).catch(() => undefined);
        }
        // The topic was deleted and created again since it was read: produce to the new one,
        // as a Kafka producer does once its metadata catches up.
        if (error instanceof TopicReplaced) return prepare(deps, error.topic, records).commit();
        throw error;
      }
      const acks: RecordAck[] = new Array(records.length);
      for (const [i, batch] of batches.entries()) {
        const base = bases[i] ?? 0;
        for (const [j, requestIndex] of batch.requestIndexes.entries()) {
          const timestamp = batch.records[j]?.timestamp ?? now;
          acks[requestIndex] = { partition: batch.partition, offset: base + j, timestamp };
        }
      }
      return acks;
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

interface PlacedBatch {
  readonly batch: PartitionBatch;
  readonly chunk: string;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/**
 * How long a commit keeps retrying lost races before answering COMMIT_CONFLICT (each loss
 * means another writer won, so the partition is making progress). Well inside API
 * Gateway's 30 s limit.
 */
const commitBudgetMs = 15_000;

/**
 * Commits one index entry per batch and advances each partition head, in one transaction
 * conditioned on the topic and every head being unchanged since they were read. Returns
 * the base offsets.
 *
 *   writer A reads head 7 ─┐          ┌─ A commits 7..9, head → 10 ✓
 *   writer B reads head 7 ─┴──────────┴─ B's condition "head still 7" fails ✗
 *                                        B takes head 10 from the failure, commits 10..11 ✓
 *
 * The chunk never changes on a retry: offsets inside it are relative to the base.
 */
async function commitIndex(
  deps: ProduceDeps,
  topic: Topic,
  placed: readonly PlacedBatch[],
): Promise<number[]> {
  const { ctx, writers } = deps;
  let topicVersion = topic.version;
  let heads = await knownHeads(deps, topic, placed);
  const deadline = Date.now() + commitBudgetMs;
  for (let attempt = 1; ; attempt++) {
    const ops: WriteOp[] = [
      // The topic is unchanged: not deleted (nor re-created) since this request read it.
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topicVersion) },
    ];
    const next: PartitionHead[] = [];
    for (const [i, { batch, ...place }] of placed.entries()) {
      const head = heads[i] ?? headFromItem(undefined);
      const advanced = {
        nextOffset: head.nextOffset + batch.records.length,
        nextPosition: head.nextPosition + place.byteLength,
        leaderEpoch: head.leaderEpoch,
        version: (head.version ?? 0) + 1,
      };
      next.push(advanced);
      ops.push(
        {
          type: 'put',
          key: headKey(topic.id, batch.partition),
          data: headData(advanced),
          // The head is still the one our offsets are based on.
          expect: head.version === undefined ? expectAbsent : expectVersion(head.version),
        },
        {
          type: 'put',
          key: { pk: partitionPk(topic.id, batch.partition), sk: batchSk(head.nextOffset) },
          data: entryData({
            baseOffset: head.nextOffset,
            count: batch.records.length,
            position: head.nextPosition,
            maxTimestamp: batch.maxTimestamp,
            ...place,
          }),
          expect: expectAbsent,
        },
      );
    }
    try {
      await ctx.metadata.transact(ops);
      for (const [i, { batch }] of placed.entries()) {
        const head = next[i];
        if (head) writers.rememberHead(topic.id, batch.partition, head);
      }
      return heads.map((h) => h.nextOffset);
    } catch (error: unknown) {
      if (Date.now() > deadline) throw commitConflict(topic, attempt, error);
      if (error instanceof ConditionFailedError) {
        let stale = false;
        for (const failure of error.failures) {
          if (failure.index === 0) {
            writers.forgetTopic(topic.name);
            const current = await findTopic(ctx, topic.name);
            if (!current) throw topicNotFound(topic.name);
            if (current.id !== topic.id) throw new TopicReplaced(current);
            writers.rememberTopic(current, ctx.now());
            topicVersion = current.version;
          } else if (failure.index % 2 === 1) {
            // A head moved: another writer committed first. Take its value and go again.
            const i = (failure.index - 1) / 2;
            const head = headFromItem(failure.current);
            heads[i] = head;
            const batch = placed[i]?.batch;
            if (batch) writers.rememberHead(topic.id, batch.partition, head);
          } else {
            stale = true;
          }
        }
        if (stale) heads = await readHeads(deps, topic, placed);
        // The first loss retries at once with the head the failure returned; repeated
        // losses mean heavy contention, where spreading out helps every writer through.
        if (attempt > 1) await pause(attempt);
      } else if (error instanceof TransactionContentionError) {
        await pause(attempt);
        heads = await readHeads(deps, topic, placed);
      } else {
        throw error;
      }
    }
  }
}

/** The topic was deleted and re-created under the same name while a request was in flight. */
class TopicReplaced extends Error {
  readonly topic: Topic;
  constructor(topic: Topic) {
    super(`topic ${topic.name} was re-created`);
    this.topic = topic;
  }
}

/** Remembered heads when every one is known, else a fresh read. */
async function knownHeads(
  deps: ProduceDeps,
  topic: Topic,
  placed: readonly PlacedBatch[],
): Promise<PartitionHead[]> {
  const remembered = placed.map(({ batch }) => deps.writers.head(topic.id, batch.partition));
  if (remembered.every((h) => h !== undefined)) return remembered;
  return readHeads(deps, topic, placed);
}

async function readHeads(
  deps: ProduceDeps,
  topic: Topic,
  placed: readonly PlacedBatch[],
): Promise<PartitionHead[]> {
  const keys = placed.map(({ batch }) => headKey(topic.id, batch.partition));
  return (await deps.ctx.metadata.getMany(keys)).map(headFromItem);
}

/** Full jitter, growing to 200 ms, so racing writers spread out. */
const pause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 4 * 2 ** attempt)));

function commitConflict(topic: Topic, attempts: number, cause: unknown): TributaryError {
  const error = new TributaryError(
    'COMMIT_CONFLICT',
    `Gave up after ${attempts} attempts racing other writers on topic '${topic.name}'; nothing was written. Retry.`,
    { topic: topic.name },
  );
  error.cause = cause;
  return error;
}
