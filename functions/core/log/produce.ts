import { partitionForKey } from '../../../sdk/src/partitioner.ts';
import { BufferPool } from '../buffer-pool.ts';
import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import { batchSk, chunkKey as chunkKeyAt, headKey, partitionPk } from '../keys.ts';
import {
  ConditionFailedError,
  type Expectation,
  expectAbsent,
  expectVersion,
  type ItemKey,
  type StoredItem,
  TransactionContentionError,
  type WriteOp,
} from '../ports/metadata-store.ts';
import { producerIdleMs, producerMetaKey, producerStateKey } from '../producers/producer-keys.ts';
import { producerMetaFromItem } from '../producers/producers.ts';
import {
  appendBatch,
  fenced,
  judgeSequence,
  type ProducerBatch,
  type ProducerPartitionState,
  stateData,
  stateFromItem,
} from '../producers/sequence.ts';
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
import {
  type ChunkSibling,
  entryData,
  headData,
  headFromItem,
  type PartitionHead,
} from './partition-items.ts';
import type { WriterCache } from './writer-cache.ts';

export interface ProduceRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
  readonly partition?: number;
  /** Epoch milliseconds; defaults to the time of the request. */
  readonly timestamp?: number;
}

export interface ProduceConditions {
  /** An idempotent producer: its id, epoch, and the sequence of its first record per partition. */
  readonly producer?: {
    readonly id: number;
    readonly epoch: number;
    /** One number for a request touching one partition, else one per partition touched. */
    readonly sequence: number | ReadonlyMap<number, number>;
  };
  /** Commit only if the partition's next offset is this (one partition only). */
  readonly expectedOffset?: number;
  /** The writer's leader epoch (one partition only); required once a writer took the partition. */
  readonly leaderEpoch?: number;
}

export interface RecordAck {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

export interface ProduceDeps {
  readonly ctx: CoreContext;
  readonly writers: WriterCache;
  /** Told of each lost race and of each commit that gave up, for the deployment's metrics. */
  readonly metrics?: { count(name: 'CommitRetries' | 'CommitConflicts'): void };
}

/**
 * Partitions one request may touch. Its commit is one DynamoDB transaction (at most 100
 * items): the topic and producer checks, plus a head, an index entry and the producer's
 * sequence state per partition.
 */
export const maxPartitionsPerRequest = 32;

/**
 * Records one request may carry. The answer lists an offset per record, up to 71 bytes
 * each: 50,000 of them stay well inside Lambda's 6 MB response, where 6 MB of tiny records
 * (some 500,000) would not.
 */
export const maxRecordsPerRequest = 50_000;

/** A validated produce request whose chunk is encoded but not yet written or committed. */
export interface PreparedProduce {
  readonly recordCount: number;
  /** Writes the chunk and commits it; resolves with an ack per record, in request order. */
  commit(): Promise<RecordAck[]>;
}

export interface PartitionBatch {
  readonly partition: number;
  /** Index of each of the batch's records in the request. */
  readonly requestIndexes: number[];
  readonly records: BatchRecord[];
  maxTimestamp: number;
  /** The producer sequence of the batch's first record. */
  firstSequence?: number;
}

// Records without a key are spread like Kafka's sticky partitioner: all of one request go
// to one partition, and successive requests move round the partitions.
let nextStickyPartition = Math.floor(Math.random() * 1_000_000);

/**
 * Validates a produce request against its topic and encodes it. Every refusal of the
 * request's form happens here, before anything is written: a refused request changes
 * nothing.
 */
export async function prepareProduce(
  deps: ProduceDeps,
  topicName: string,
  records: readonly ProduceRecord[],
  conditions: ProduceConditions = {},
): Promise<PreparedProduce> {
  if (records.length === 0) {
    throw new TributaryError('EMPTY_BATCH', 'A produce request needs at least one record.');
  }
  const cached = deps.writers.topic(topicName, deps.ctx.now());
  try {
    return prepare(deps, cached ?? (await readTopic(deps, topicName)), records, conditions);
  } catch (error: unknown) {
    // Partitions may have been added since the topic was cached: judge again on fresh data.
    if (cached && error instanceof TributaryError && error.code === 'PARTITION_NOT_FOUND') {
      return prepare(deps, await readTopic(deps, topicName), records, conditions);
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
  conditions: ProduceConditions,
): PreparedProduce {
  const now = deps.ctx.now();
  const plan = planBatches(deps.ctx, topic, records, now, nextStickyPartition++ % topic.partitions);
  const { batches, placed, chunk } = plan;
  if (batches.length > maxPartitionsPerRequest) {
    throw new TributaryError(
      'TOO_MANY_PARTITIONS',
      `The request touches ${batches.length} partitions; one atomic produce may touch at most ${maxPartitionsPerRequest}. Split it.`,
      { partitions: batches.length, limit: maxPartitionsPerRequest },
    );
  }
  assertConditionsFit(topic, batches, conditions);
  const write: PlannedWrite = { topic, placed, conditions, appendTime: now };

  const acksFrom = (bases: readonly number[], times: readonly number[]): RecordAck[] => {
    const acks: RecordAck[] = new Array(records.length);
    const logAppendTime = topic.config.timestampType === 'LogAppendTime';
    // Index loops: a request of a thousand records makes a thousand acks and nothing more.
    for (let i = 0; i < batches.length; i++) {
      const { partition, requestIndexes } = batches[i] as PartitionBatch;
      const base = bases[i] ?? 0;
      const appendTime = times[i] ?? now;
      for (let j = 0; j < requestIndexes.length; j++) {
        const requestIndex = requestIndexes[j] as number;
        // What the record was stamped with when its batch was first committed.
        const timestamp = logAppendTime
          ? appendTime
          : (records[requestIndex]?.timestamp ?? appendTime);
        acks[requestIndex] = { partition, offset: base + j, timestamp };
      }
    }
    return acks;
  };

  let written = false;
  const commit = async (): Promise<RecordAck[]> => {
    // A refusal or a replay is decided before any byte is written.
    let view = await readView(deps, write, 'cached');
    let verdict: Verdict;
    try {
      verdict = judge(write, view, deps.ctx.now());
    } catch (error: unknown) {
      if (!(error instanceof TributaryError || error instanceof TopicDeleted)) throw error;
      // Remembered state may be stale: only fresh state refuses.
      view = await readView(deps, write, 'fresh');
      verdict = judge(write, view, deps.ctx.now());
    }
    if (verdict.kind === 'duplicate') return acksFrom(verdict.bases, verdict.appendTimes);

    // 1. The chunk first: nothing refers to it yet, so nothing is visible.
    if (chunk) {
      if (written) throw new Error('a prepared produce commits once');
      written = true;
      await deps.ctx.segments.put(chunk.key, chunk.body);
      // Stored: nothing reads its bytes again. (After a failed put, the store may still.)
      chunkBuffers.give(chunk.body);
    }
    // 2. Then the index, atomically for every partition touched, after this process's
    // commits already under way on the same partitions, on the heads they left. Should
    // the commit not land (or its fate be unknown), the chunk is an orphan, which the
    // maintenance workflow's sweep deletes once no commit can refer to it any more.
    let outcome: CommitOutcome;
    const endTurn = await deps.writers.takeTurn(headKeys(write));
    try {
      outcome = await commitIndex(deps, write, await readView(deps, write, 'cached'));
    } finally {
      endTurn();
    }
    // A duplicate: our own earlier attempt (whose answer was lost) landed meanwhile, and
    // this chunk is an orphan for the sweep.
    if (outcome.kind === 'duplicate') return acksFrom(outcome.bases, outcome.appendTimes);
    return acksFrom(
      outcome.bases,
      batches.map(() => now),
    );
  };

  return {
    recordCount: records.length,
    commit: async () => {
      try {
        return await commit();
      } catch (error: unknown) {
        if (!(error instanceof TopicDeleted)) throw error;
        // A head says the topic was deleted since it was read. Deleted and created again:
        // produce to the new one, as a Kafka producer does once its metadata catches up.
        deps.writers.forgetTopic(topic.name);
        const current = await findTopic(deps.ctx, topic.name);
        if (!current) throw topicNotFound(topic.name);
        if (current.id === topic.id) throw new Error(`topic ${topic.name} has a deleted head`);
        deps.writers.rememberTopic(current, deps.ctx.now());
        return prepare(deps, current, records, conditions).commit();
      }
    },
  };
}

/**
 * Chunks are lent their memory (see BufferPool): a produce of a thousand 1 KiB records
 * writes a megabyte chunk, which is done with once stored. Plain memory, not shared: a
 * thousand values copied into shared memory one by one took about twice as long as into
 * plain memory and one copy of the whole into the embedded store's shared buffer.
 */
const chunkBuffers = new BufferPool({ minBytes: 64 * 1024, keepBytes: 32 * 1024 * 1024 });
const lend = (size: number) => chunkBuffers.take(size);

/** A topic's records as one batch per partition, each placed inline or in the one chunk. */
export interface PlannedBatches {
  readonly batches: PartitionBatch[];
  readonly placed: PlacedBatch[];
  /** The chunk holding the batches too large to keep inline; none when all are inline. */
  readonly chunk?: { readonly key: string; readonly body: Uint8Array };
}

/**
 * Sorts records into one batch per partition (in request order within each) and encodes
 * them. Refuses, before anything is written, a record without a key on a compacted topic
 * and a record over the topic's max.message.bytes.
 */
export function planBatches(
  ctx: Pick<CoreContext, 'newId'>,
  topic: Topic,
  records: readonly ProduceRecord[],
  now: number,
  sticky: number,
  /** Each record's index in the request, for refusals, when not its index in `records`. */
  requestIndexes?: readonly number[],
): PlannedBatches {
  const byPartition = new Map<number, PartitionBatch>();
  const compacted = topic.config.cleanupPolicy !== 'delete';
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as ProduceRecord;
    const index = requestIndexes?.[i] ?? i;
    // Compaction keeps the latest record per key: a record without one has no place there.
    if (compacted && record.key === null) {
      throw new TributaryError(
        'INVALID_RECORD',
        `Record ${index} has no key; topic '${topic.name}' is compacted (cleanup.policy=${topic.config.cleanupPolicy}) and takes keyed records only.`,
        { index, field: `records[${index}].key` },
      );
    }
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
    batch.requestIndexes.push(i);
    batch.records.push(batchRecord);
    batch.maxTimestamp = Math.max(batch.maxTimestamp, timestamp);
  }
  const batches = [...byPartition.values()];

  // Small batches go into their index entries; the others into one chunk, if any remain.
  const encoded = batches.map((b) =>
    encodeBatch(topic.config.timestampType, b.records, undefined, lend),
  );
  const isInline = encoded.map((bytes) => bytes.byteLength <= inlineBatchBytes);
  const inChunks = encoded.filter((_, i) => !isInline[i]);
  const chunk = concatBatches(inChunks, lend);
  // Copied into one chunk, the batches' own buffers are done with.
  if (inChunks.length > 1) for (const bytes of inChunks) chunkBuffers.give(bytes);
  const chunkKey = chunkKeyAt(topic.id, now, ctx.newId());
  let inChunk = 0;
  const placed = batches.map((batch, i): PlacedBatch => {
    const bytes = encoded[i] ?? new Uint8Array();
    if (isInline[i]) {
      return { batch, chunk: '', byteOffset: 0, byteLength: bytes.byteLength, inline: bytes };
    }
    const range = chunk.ranges[inChunk++];
    return {
      batch,
      chunk: chunkKey,
      byteOffset: range?.offset ?? 0,
      byteLength: range?.length ?? 0,
    };
  });
  return {
    batches,
    placed,
    ...(inChunk > 0 && { chunk: { key: chunkKey, body: chunk.body } }),
  };
}

/** A record's partition: the one it names, else its key's (murmur2), else the sticky one. */
export function choosePartition(
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

/** Conditions naming one partition need a request that touches one; sequences must cover each. */
function assertConditionsFit(
  topic: Topic,
  batches: PartitionBatch[],
  conditions: ProduceConditions,
): void {
  const touched = batches.map((b) => b.partition);
  const onePartition = (what: string) => {
    if (batches.length !== 1) {
      throw new TributaryError(
        'INVALID_REQUEST',
        `${what} applies to one partition, but the request touches partitions ${touched.join(', ')}.`,
        { field: what, partitions: touched },
      );
    }
  };
  if (conditions.expectedOffset !== undefined) onePartition('expectedOffset');
  if (conditions.leaderEpoch !== undefined) onePartition('leaderEpoch');
  const sequence = conditions.producer?.sequence;
  if (sequence === undefined) return;
  if (typeof sequence === 'number') {
    onePartition('producer.sequence');
    const [only] = batches;
    if (only) only.firstSequence = sequence;
    return;
  }
  for (const batch of batches) {
    const first = sequence.get(batch.partition);
    if (first === undefined) {
      throw new TributaryError(
        'INVALID_REQUEST',
        `producer.sequence has no sequence for partition ${batch.partition} of ${topic.name}, which the request touches.`,
        { field: 'producer.sequence', partitions: touched },
      );
    }
    batch.firstSequence = first;
  }
  const extra = [...sequence.keys()].filter((p) => !touched.includes(p));
  if (extra.length > 0) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `producer.sequence names partitions ${extra.join(', ')}, which the request does not touch.`,
      { field: 'producer.sequence', partitions: touched },
    );
  }
}

export interface PlacedBatch {
  readonly batch: PartitionBatch;
  /** '' for a batch held inline. */
  readonly chunk: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly inline?: Uint8Array;
}

/**
 * Batches up to this size (encoded) are kept in their index entry rather than in S3. On
 * DynamoDB a transactional write costs 2 write units per KB of item ($1.25 per million at
 * $0.625 per million units) and an S3 PUT $5 per million: the entry of a 2 KiB batch (its
 * bytes in base64, with the entry's fields) is at most 4 KB, 6 write units more than without
 * them, still below the PUT it saves; a 1 KiB record costs 2 more. Segment merge later
 * rolls inline batches into S3 chunks.
 */
export const inlineBatchBytes = 2048;

interface PlannedWrite {
  readonly topic: Topic;
  readonly placed: readonly PlacedBatch[];
  readonly conditions: ProduceConditions;
  readonly appendTime: number;
}

/** The versioned items a commit is conditioned on, as last read or remembered. */
interface View {
  readonly items: Map<string, StoredItem | undefined>;
}

/** A replay of committed batches: their original base offsets and append times. */
type Duplicate = {
  readonly kind: 'duplicate';
  readonly bases: number[];
  readonly appendTimes: number[];
};
type Verdict = { readonly kind: 'append' } | Duplicate;
type CommitOutcome = { readonly kind: 'append'; readonly bases: number[] } | Duplicate;

const keyId = (key: ItemKey) => `${key.pk}\u0000${key.sk}`;

const headKeys = ({ topic, placed }: PlannedWrite): ItemKey[] =>
  placed.map(({ batch }) => headKey(topic.id, batch.partition));

function viewKeys(write: PlannedWrite): ItemKey[] {
  const { topic, placed, conditions } = write;
  const keys = headKeys(write);
  const producer = conditions.producer;
  if (producer) {
    keys.push(producerMetaKey(producer.id));
    for (const { batch } of placed)
      keys.push(producerStateKey(topic.id, batch.partition, producer.id));
  }
  return keys;
}

/** The items from the writer's memory where it has them all ('cached'), else from the store. */
async function readView(
  deps: ProduceDeps,
  write: PlannedWrite,
  mode: 'cached' | 'fresh',
): Promise<View> {
  const keys = viewKeys(write);
  const items = new Map<string, StoredItem | undefined>();
  const remembered = mode === 'cached' ? keys.map((k) => deps.writers.item(k)) : [];
  if (mode === 'cached' && remembered.every((item) => item !== undefined)) {
    for (const [i, key] of keys.entries()) items.set(keyId(key), remembered[i]);
  } else {
    const read = await deps.ctx.metadata.getMany(keys);
    for (const [i, key] of keys.entries()) {
      const item = read[i];
      items.set(keyId(key), item);
      if (item) deps.writers.rememberItem(item);
      else deps.writers.forgetItem(key);
    }
  }
  return { items };
}

/**
 * Decides what the request does against the view: refuse it, answer it as the replay of a
 * committed batch, or append it. Checked in this order: the producer is current; an exact
 * replay is answered with its original offsets whatever else changed since; the leader
 * epoch; the expected offset; the producer sequence.
 */
function judge(write: PlannedWrite, view: View, now: number): Verdict {
  const { topic, placed, conditions } = write;
  const producer = conditions.producer;
  const states: (ProducerPartitionState | undefined)[] = [];
  if (producer) {
    const meta = producerMetaFromItem(
      view.items.get(keyId(producerMetaKey(producer.id))),
      producer,
      now,
    );
    if (producer.epoch < meta.epoch) throw fenced(meta.epoch, producer.epoch);
    const replays: ProducerBatch[] = [];
    const replayed: number[] = [];
    for (const { batch } of placed) {
      const state = stateFromItem(
        view.items.get(keyId(producerStateKey(topic.id, batch.partition, producer.id))),
        now,
      );
      states.push(state);
      const where = { topic: topic.name, partition: batch.partition };
      const verdict = judgeSequence(
        state,
        producer.epoch,
        batch.firstSequence ?? 0,
        batch.records.length,
        where,
      );
      if (verdict.kind === 'duplicate') {
        replays.push(verdict.batch);
        replayed.push(batch.partition);
      }
    }
    if (replays.length === placed.length) {
      return {
        kind: 'duplicate',
        bases: replays.map((b) => b.baseOffset),
        appendTimes: replays.map((b) => b.appendTime),
      };
    }
    if (replays.length > 0) {
      throw new TributaryError(
        'OUT_OF_ORDER_SEQUENCE',
        `The request replays batches already committed on partitions ${replayed.join(', ')} of '${topic.name}' but not on the others it writes; a retry must repeat the original request exactly.`,
        { topic: topic.name, replayedPartitions: replayed },
      );
    }
  }
  for (const { batch } of placed) {
    const head = headFromItem(view.items.get(keyId(headKey(topic.id, batch.partition))));
    if (head.deleted) throw new TopicDeleted();
    assertLeaderEpoch(topic, batch.partition, head, conditions.leaderEpoch);
    if (conditions.expectedOffset !== undefined && head.nextOffset !== conditions.expectedOffset) {
      throw new TributaryError(
        'OFFSET_MISMATCH',
        `Expected ${topic.name}-${batch.partition} to be at offset ${conditions.expectedOffset}, but its next offset is ${head.nextOffset}.`,
        {
          topic: topic.name,
          partition: batch.partition,
          expectedOffset: conditions.expectedOffset,
          nextOffset: head.nextOffset,
        },
      );
    }
  }
  return { kind: 'append' };
}

export function assertLeaderEpoch(
  topic: Topic,
  partition: number,
  head: PartitionHead,
  epoch: number | undefined,
) {
  const where = { topic: topic.name, partition, leaderEpoch: head.leaderEpoch };
  if (epoch === undefined) {
    if (head.leaderEpoch === 0) return;
    throw new TributaryError(
      'FENCED_LEADER_EPOCH',
      `${topic.name}-${partition} has an exclusive writer (leader epoch ${head.leaderEpoch}); writes must carry its leaderEpoch.`,
      where,
    );
  }
  if (epoch < head.leaderEpoch) {
    throw new TributaryError(
      'FENCED_LEADER_EPOCH',
      `Leader epoch ${epoch} is fenced: ${topic.name}-${partition} was taken with epoch ${head.leaderEpoch}.`,
      { ...where, requestedLeaderEpoch: epoch },
    );
  }
  if (epoch > head.leaderEpoch) {
    throw new TributaryError(
      'UNKNOWN_LEADER_EPOCH',
      `Leader epoch ${epoch} is newer than ${topic.name}-${partition}'s (${head.leaderEpoch}).`,
      { ...where, requestedLeaderEpoch: epoch },
    );
  }
}

const oneDayMs = 24 * 60 * 60 * 1000;

/**
 * How long a commit keeps retrying lost races before answering COMMIT_CONFLICT (each loss
 * means another writer won, so the partition is making progress). Well inside API
 * Gateway's 30 s limit.
 */
export const commitBudgetMs = 15_000;

/**
 * No commit attempt starts later than this after its chunk was named (the time in its key,
 * on the writer's clock), however slow the chunk's upload was: the orphan sweep relies on
 * it to know when a chunk nothing refers to can no longer be committed.
 */
export const maxCommitDelayMs = 30_000;

type OpRole = 'producer' | 'head' | 'entry' | 'state';

/**
 * Commits one index entry per batch and advances each partition head, in one transaction
 * conditioned on every head (and, for an idempotent producer, its epoch and sequence
 * state) being as they were judged. Returns the base offsets, or the original ones when
 * the request turns out to be a replay.
 *
 * The topic item is not checked: a delete marks every head (fenceHeads in topics.ts), so
 * a head still as judged means the topic was not deleted, and a config change needs no
 * fence (as in Kafka, it reaches writers soon after: here within the 5 s a writer
 * remembers a topic).
 *
 *   writer A reads head 7 ─┐          ┌─ A commits 7..9, head → 10 ✓
 *   writer B reads head 7 ─┴──────────┴─ B's condition "head still 7" fails ✗
 *                                        B re-reads head 10, judges again, commits 10..11 ✓
 *
 * The chunk never changes on a retry: offsets inside it are relative to the base.
 */
async function commitIndex(
  deps: ProduceDeps,
  write: PlannedWrite,
  initial: View,
): Promise<CommitOutcome> {
  const { ctx, writers } = deps;
  const { topic, placed, conditions } = write;
  const producer = conditions.producer;
  let view = initial;
  const deadline = Date.now() + commitBudgetMs;
  for (let attempt = 1; ; attempt++) {
    const verdict = judge(write, view, ctx.now());
    if (verdict.kind === 'duplicate') return verdict;
    const committedAt = ctx.now();
    if (committedAt - write.appendTime > maxCommitDelayMs) {
      throw new TributaryError(
        'STORAGE_UNAVAILABLE',
        `Storing the records took over ${maxCommitDelayMs / 1000} s; nothing was written. Retry.`,
        { topic: topic.name },
      );
    }

    const ops: WriteOp[] = [];
    const roles: OpRole[] = [];
    // What the store will hold after the commit, to remember for the next request.
    const remember: StoredItem[] = [];
    const add = (role: OpRole, op: WriteOp) => {
      ops.push(op);
      roles.push(role);
      if (op.type === 'put' && role !== 'entry') {
        const version = (view.items.get(keyId(op.key))?.version ?? 0) + 1;
        remember.push({
          ...op.key,
          version,
          data: op.data,
          ...(op.expiresAt !== undefined && { expiresAt: op.expiresAt }),
        });
      }
    };
    const expectAsViewed = (key: ItemKey) => {
      const item = view.items.get(keyId(key));
      return item ? expectVersion(item.version) : expectAbsent;
    };

    if (producer) {
      // The producer's epoch is unchanged: no newer instance fenced it meanwhile. Its
      // expiry is pushed back when it has less than a day left.
      const key = producerMetaKey(producer.id);
      const meta = view.items.get(keyId(key));
      const refresh = meta?.expiresAt !== undefined && meta.expiresAt - ctx.now() < oneDayMs;
      add(
        'producer',
        refresh && meta
          ? {
              type: 'put',
              key,
              data: meta.data,
              expiresAt: ctx.now() + producerIdleMs,
              expect: expectVersion(meta.version),
            }
          : { type: 'check', key, expect: expectAsViewed(key) },
      );
    }
    const heads = placed.map(({ batch }) =>
      headFromItem(view.items.get(keyId(headKey(topic.id, batch.partition)))),
    );
    for (const [i, { batch }] of placed.entries()) {
      const head = heads[i] ?? headFromItem(undefined);
      // The head is still the one our offsets are based on.
      const headExpect = expectAsViewed(headKey(topic.id, batch.partition));
      const appended = appendOps(topic, placed, heads, i, committedAt, headExpect);
      add('head', appended.head);
      add('entry', appended.entry);
      if (producer) {
        const stateKey = producerStateKey(topic.id, batch.partition, producer.id);
        const state = stateFromItem(view.items.get(keyId(stateKey)), ctx.now());
        const next = appendBatch(state, producer.epoch, {
          firstSequence: batch.firstSequence ?? 0,
          count: batch.records.length,
          baseOffset: head.nextOffset,
          appendTime: write.appendTime,
        });
        add('state', {
          type: 'put',
          key: stateKey,
          data: stateData(next),
          expiresAt: ctx.now() + producerIdleMs,
          expect: expectAsViewed(stateKey),
        });
      }
    }

    try {
      await ctx.metadata.transact(ops);
      for (const item of remember) writers.rememberItem(item);
      return { kind: 'append', bases: heads.map((h) => h.nextOffset) };
    } catch (error: unknown) {
      if (Date.now() > deadline) {
        deps.metrics?.count('CommitConflicts');
        throw commitConflict(topic, attempt, error);
      }
      if (error instanceof ConditionFailedError || error instanceof TransactionContentionError) {
        deps.metrics?.count('CommitRetries');
      }
      if (error instanceof ConditionFailedError) {
        let reread = false;
        for (const failure of error.failures) {
          const role = roles[failure.index];
          const key = ops[failure.index]?.key;
          if (role === 'entry' || !key) {
            reread = true;
          } else {
            // Another writer committed first, a newer producer instance fenced this one, a
            // writer took the partition, or the topic was deleted: the failure carries the
            // item as it is now, which the next judgement sees.
            view.items.set(keyId(key), failure.current);
            if (failure.current) writers.rememberItem(failure.current);
            else writers.forgetItem(key);
          }
        }
        if (reread) view = await readView(deps, write, 'fresh');
        // The first loss retries at once; repeated losses mean heavy contention, where
        // spreading out helps every writer through.
        if (attempt > 1) await pause(attempt);
      } else if (error instanceof TransactionContentionError) {
        await pause(attempt);
        view = await readView(deps, write, 'fresh');
      } else {
        throw error;
      }
    }
  }
}

/**
 * The writes that append the `i`th placed batch at its partition's head: the head moved
 * past it, conditioned on `headExpect` (the head as the offsets were based on), and its
 * index entry, which must not exist yet.
 */
export function appendOps(
  topic: Topic,
  placed: readonly PlacedBatch[],
  heads: readonly PartitionHead[],
  i: number,
  committedAt: number,
  headExpect: Expectation,
): { head: WriteOp; entry: WriteOp } {
  const { batch, ...place } = placed[i] as PlacedBatch;
  const head = heads[i] ?? headFromItem(undefined);
  // The chunk's other batches (none for a batch held inline).
  const siblings =
    place.chunk === ''
      ? []
      : placed.flatMap((other, j): ChunkSibling[] =>
          j === i || other.chunk === ''
            ? []
            : [[other.batch.partition, heads[j]?.nextOffset ?? 0, other.byteLength]],
        );
  return {
    head: {
      type: 'put',
      key: headKey(topic.id, batch.partition),
      data: headData({
        nextOffset: head.nextOffset + batch.records.length,
        nextPosition: head.nextPosition + place.byteLength,
        leaderEpoch: head.leaderEpoch,
      }),
      expect: headExpect,
    },
    entry: {
      type: 'put',
      key: { pk: partitionPk(topic.id, batch.partition), sk: batchSk(head.nextOffset) },
      data: entryData({
        baseOffset: head.nextOffset,
        lastOffset: head.nextOffset + batch.records.length - 1,
        count: batch.records.length,
        position: head.nextPosition,
        maxTimestamp: batch.maxTimestamp,
        ...place,
        committedAt,
        ...(siblings.length > 0 && { siblings }),
      }),
      expect: expectAbsent,
    },
  };
}

/**
 * A partition head carries the deleted mark: the topic was deleted since it was read
 * (see fenceHeads in topics.ts). Never written past; the caller looks the topic up again.
 */
class TopicDeleted extends Error {
  constructor() {
    super('a partition head says the topic was deleted');
  }
}

/** Full jitter, growing to 200 ms, so racing writers spread out. */
export const pause = (attempt: number) =>
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
