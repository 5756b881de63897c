/**
 * Exactly-once consume-transform-produce: records to any topics and partitions, and a
 * consumer group's offsets, committed in one conditional transaction — all of it visible,
 * or none of it.
 *
 * Kafka needs a transaction coordinator, markers in every partition and read_committed
 * consumers to get there, because its partitions live on different brokers. Here every
 * head, index entry and offset is an item of one table, so one DynamoDB transaction does
 * it: no record of a transaction is ever visible before its offsets moved, and no reader
 * needs an isolation level.
 *
 * Idempotence is per transaction, not per partition: a transactional producer runs one
 * transaction at a time, numbered from 0 in each epoch, and each commit writes the
 * producer's meta item with the number it used. That write is what fences: a zombie (an
 * older epoch) finds the item moved on and is refused, and two transactions of one
 * instance can never both land. A retry of the last transaction — the same number and the
 * same request — is answered from what the item remembers and writes nothing.
 *
 *   meta {epoch 3, last 6} ── transaction 7 ──▶ meta {epoch 3, last 7} + heads + entries + offsets
 *   the answer is lost; the client sends 7 again ──▶ "7 is the last, same digest": the answer, no write
 *   an instance still at epoch 2 sends 5 ──▶ PRODUCER_FENCED
 */

import { createHash } from 'node:crypto';
import { partitionForKey } from '../../../sdk/src/partitioner.ts';
import { TributaryError } from '../errors.ts';
import { assertValidGroupName } from '../groups/group.ts';
import {
  type OffsetCommit,
  offsetCommitOps,
  type PlannedOffsetCommit,
  planOffsetCommit,
} from '../groups/groups.ts';
import { headKey, topicKey } from '../keys.ts';
import { headFromItem, type PartitionHead } from '../log/partition-items.ts';
import {
  appendOps,
  assertLeaderEpoch,
  choosePartition,
  commitBudgetMs,
  maxCommitDelayMs,
  maxRecordsPerRequest,
  type PlannedBatches,
  type ProduceDeps,
  type ProduceRecord,
  pause,
  planBatches,
} from '../log/produce.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  type JsonObject,
  maxTransactionOps,
  type StoredItem,
  TransactionContentionError,
  type WriteOp,
} from '../ports/metadata-store.ts';
import { producerIdleMs, producerMetaKey } from '../producers/producer-keys.ts';
import { producerMetaFromItem } from '../producers/producers.ts';
import { fenced } from '../producers/sequence.ts';
import { loadTopic, type Topic } from '../topics/topic.ts';
import { assertValidTopicName } from '../topics/topic-name.ts';

export interface TransactionRecord extends ProduceRecord {
  readonly topic: string;
}

export interface TransactionRequest {
  /** A producer initialised with a transactionalId; `sequence` numbers its transactions from 0 per epoch. */
  readonly producer: { readonly id: number; readonly epoch: number; readonly sequence: number };
  readonly records: readonly TransactionRecord[];
  /** A consumer group's offsets, committed with the records under the rules of a member's commit. */
  readonly offsets?: {
    readonly group: string;
    readonly memberId?: string;
    readonly generation?: number;
    readonly offsets: readonly OffsetCommit[];
  };
}

export interface TransactionAck {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
}

export interface TransactionResult {
  /** Where each record landed, in request order. */
  readonly offsets: TransactionAck[];
  /** How many group offsets were committed. */
  readonly committed: number;
}

/**
 * Items a transaction writes besides its records' partitions and offsets: the producer's
 * meta item and the group's state check (and the group's registry entry when a commit
 * without a member creates the group).
 */
const fixedItems = (request: TransactionRequest) =>
  1 + (request.offsets ? (request.offsets.memberId === undefined ? 2 : 1) : 0);

/**
 * The items one transaction takes: one per topic written (its check), two per partition
 * written (head and index entry), one per offset, and the fixed ones above; at most
 * {@link maxTransactionOps}.
 */
export const transactionItems = (
  request: TransactionRequest,
  topics: number,
  partitions: number,
): number => fixedItems(request) + topics + 2 * partitions + (request.offsets?.offsets.length ?? 0);

/** What the producer's meta item remembers of its last transaction, to answer a retry. */
interface LastTransaction {
  readonly epoch: number;
  readonly sequence: number;
  readonly digest: string;
  readonly appendTime: number;
  /** Per topic, in order of first appearance: [name, partition count, sticky partition, LogAppendTime?]. */
  readonly topics: readonly (readonly [string, number, number, boolean])[];
  /** Per batch: [topic index, partition, base offset]. */
  readonly bases: readonly (readonly [number, number, number])[];
  readonly committed: number;
}

// Records without a key or partition go to one partition per topic per transaction, moving
// round the partitions from one transaction to the next (as produce's sticky partitioner).
let nextSticky = Math.floor(Math.random() * 1_000_000);

/**
 * Commits a transaction: its records and offsets, or nothing. Every refusal of its form
 * happens before anything is written; a refusal after (fenced, the group moved on, the
 * offsets would go back) leaves only chunks no index entry refers to, which the orphan
 * sweep deletes.
 */
export async function commitTransaction(
  deps: ProduceDeps,
  request: TransactionRequest,
): Promise<TransactionResult> {
  const { ctx } = deps;
  assertForm(request);
  const digest = digestOf(request);

  // The producer first: a replay is answered whatever changed since it landed.
  let meta = await ctx.metadata.get(producerMetaKey(request.producer.id));
  const replay = judgeProducer(meta, request, digest, ctx.now());
  if (replay) return answer(request, replay);

  const topics = new Map<string, Topic>();
  for (const record of request.records) {
    if (!topics.has(record.topic)) topics.set(record.topic, await loadTopic(ctx, record.topic));
  }
  const offsetPlan: PlannedOffsetCommit | undefined = request.offsets
    ? await planOffsetCommit(ctx, request.offsets.group, request.offsets)
    : undefined;

  const appendTime = ctx.now();
  const layout = [...topics.values()].map((topic): [string, number, number, boolean] => [
    topic.name,
    topic.partitions,
    nextSticky++ % topic.partitions,
    topic.config.timestampType === 'LogAppendTime',
  ]);
  const partitions = resolvePartitions(request, layout, topics);
  const plans = new Map<string, PlannedBatches>();
  for (const [i, [name]] of layout.entries()) {
    const topic = topics.get(name) as Topic;
    const indexes = request.records.flatMap((r, j) => (r.topic === name ? [j] : []));
    const records = indexes.map((j) => ({
      ...(request.records[j] as TransactionRecord),
      partition: partitions[j] ?? 0,
    }));
    const sticky = layout[i]?.[2] ?? 0;
    plans.set(name, planBatches(ctx, topic, records, appendTime, sticky, indexes));
  }
  const batchCount = [...plans.values()].reduce((n, p) => n + p.batches.length, 0);
  const items = transactionItems(request, topics.size, batchCount);
  if (items > maxTransactionOps) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `The transaction needs ${items} items (one per topic, two per partition written, one per offset, and ${fixedItems(request)} more); one transaction holds at most ${maxTransactionOps}. Write to fewer partitions or commit fewer offsets.`,
      {
        field: 'records',
        items,
        limit: maxTransactionOps,
        topics: topics.size,
        partitions: batchCount,
        offsets: request.offsets?.offsets.length ?? 0,
      },
    );
  }

  // 1. The chunks: nothing refers to them yet, so nothing is visible.
  await Promise.all(
    [...plans.values()].map((p) => (p.chunk ? ctx.segments.put(p.chunk.key, p.chunk.body) : null)),
  );

  // 2. One transaction: the topics unchanged, the producer's meta moved on from the
  // version judged, each head from the version its offsets are based on, the group as checked.
  const deadline = Date.now() + commitBudgetMs;
  const headKeys = [...plans].flatMap(([name, plan]) =>
    plan.batches.map((b) => headKey(topics.get(name)?.id ?? '', b.partition)),
  );
  let refused: unknown;
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) {
      meta = await ctx.metadata.get(producerMetaKey(request.producer.id));
      const landed = judgeProducer(meta, request, digest, ctx.now());
      if (landed) return answer(request, landed);
    }
    const heads = await ctx.metadata.getMany(headKeys);
    const offsetOps = offsetPlan ? await offsetCommitOps(ctx, offsetPlan) : [];
    const committedAt = ctx.now();
    if (committedAt - appendTime > maxCommitDelayMs) {
      throw new TributaryError(
        'STORAGE_UNAVAILABLE',
        `Storing the records took over ${maxCommitDelayMs / 1000} s; nothing was written. Retry.`,
        { producerId: request.producer.id },
      );
    }

    const ops: WriteOp[] = [];
    const topicOps: number[] = [];
    const bases: [number, number, number][] = [];
    let h = 0;
    for (const [t, [name]] of layout.entries()) {
      const topic = topics.get(name) as Topic;
      const plan = plans.get(name) as PlannedBatches;
      topicOps.push(ops.length);
      ops.push({ type: 'check', key: topicKey(name), expect: expectVersion(topic.version) });
      const items = plan.batches.map(() => heads[h++]);
      const views = items.map((item) => headFromItem(item));
      for (const [i, { batch }] of plan.placed.entries()) {
        assertLeaderEpoch(topic, batch.partition, views[i] as PartitionHead, undefined);
        const item = items[i];
        const appended = appendOps(
          topic,
          plan.placed,
          views,
          i,
          committedAt,
          item ? expectVersion(item.version) : expectAbsent,
        );
        ops.push(appended.head, appended.entry);
        bases.push([t, batch.partition, views[i]?.nextOffset ?? 0]);
      }
    }
    const last: LastTransaction = {
      epoch: request.producer.epoch,
      sequence: request.producer.sequence,
      digest,
      appendTime,
      topics: layout,
      bases,
      committed: request.offsets?.offsets.length ?? 0,
    };
    ops.push(producerOp(request.producer.id, meta as StoredItem, last, ctx.now()));
    ops.push(...offsetOps);

    try {
      await ctx.metadata.transact(ops);
      // Produce's memory of these items is stale now; it reads them again when next needed.
      for (const key of [...headKeys, producerMetaKey(request.producer.id)]) {
        deps.writers.forgetItem(key);
      }
      return answer(request, last);
    } catch (error: unknown) {
      if (!(error instanceof ConditionFailedError || error instanceof TransactionContentionError)) {
        throw error;
      }
      deps.metrics?.count('CommitRetries');
      if (
        error instanceof ConditionFailedError &&
        error.failures.some((f) => topicOps.includes(f.index))
      ) {
        // A topic was deleted, re-created or reconfigured since it was read: plan again.
        return commitTransaction(deps, request);
      }
      if (Date.now() > deadline) {
        deps.metrics?.count('CommitConflicts');
        refused = error;
        break;
      }
      if (attempt > 1 || error instanceof TransactionContentionError) await pause(attempt);
    }
  }
  const conflict = new TributaryError(
    'COMMIT_CONFLICT',
    'Gave up racing other writers on the transaction’s partitions; nothing was written. Retry with the same sequence.',
    { producerId: request.producer.id },
  );
  conflict.cause = refused;
  throw conflict;
}

function assertForm(request: TransactionRequest): void {
  if (request.records.length === 0 && !request.offsets) {
    throw new TributaryError(
      'EMPTY_BATCH',
      'A transaction needs at least one record or an offsets commit.',
    );
  }
  if (request.records.length > maxRecordsPerRequest) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `A transaction carries at most ${maxRecordsPerRequest} records, so that the offsets answered fit a response.`,
      { field: 'records', limit: maxRecordsPerRequest },
    );
  }
  // Malformed names are the request's own mistake, reported before anything is looked up.
  for (const record of request.records) assertValidTopicName(record.topic);
  if (request.offsets) {
    assertValidGroupName(request.offsets.group);
    for (const offset of request.offsets.offsets) assertValidTopicName(offset.topic);
  }
}

/**
 * Judges the producer against its meta item: current (else fenced or unknown),
 * transactional, and this transaction the next of its epoch. Returns what to answer when
 * the request is a retry of the last transaction, which already landed.
 */
function judgeProducer(
  item: StoredItem | undefined,
  request: TransactionRequest,
  digest: string,
  now: number,
): LastTransaction | undefined {
  const { producer } = request;
  const current = producerMetaFromItem(item, producer, now);
  if (producer.epoch < current.epoch) throw fenced(current.epoch, producer.epoch);
  if (typeof item?.data.transactionalId !== 'string') {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Producer ${producer.id} has no transactionalId; initialise one with POST /v1/producers {"transactionalId": "..."} to use transactions.`,
      { field: 'producer.id', producerId: producer.id },
    );
  }
  const last = lastTransactionOf(item.data);
  const ofEpoch = last?.epoch === producer.epoch ? last : undefined;
  if (ofEpoch?.sequence === producer.sequence) {
    if (ofEpoch.digest === digest) return ofEpoch;
    throw new TributaryError(
      'OUT_OF_ORDER_SEQUENCE',
      `Transaction ${producer.sequence} of producer ${producer.id} was already committed with different contents; a retry must repeat the request exactly, and a new transaction takes the next sequence (${producer.sequence + 1}).`,
      { producerId: producer.id, sequence: producer.sequence },
    );
  }
  const expected = ofEpoch ? ofEpoch.sequence + 1 : 0;
  if (producer.sequence !== expected) {
    throw new TributaryError(
      'OUT_OF_ORDER_SEQUENCE',
      `Transaction sequence ${producer.sequence} of producer ${producer.id} is out of order: the next expected is ${expected}.`,
      { producerId: producer.id, sequence: producer.sequence, expectedSequence: expected },
    );
  }
  return undefined;
}

/** The meta item moved on to this transaction; its expiry pushed back a full idle period. */
function producerOp(
  producerId: number,
  meta: StoredItem,
  last: LastTransaction,
  now: number,
): WriteOp {
  return {
    type: 'put',
    key: producerMetaKey(producerId),
    data: {
      epoch: Number(meta.data.epoch),
      transactionalId: String(meta.data.transactionalId),
      lastTransaction: last as unknown as JsonObject,
    },
    expiresAt: now + producerIdleMs,
    expect: expectVersion(meta.version),
  };
}

function lastTransactionOf(data: JsonObject): LastTransaction | undefined {
  const last = data.lastTransaction;
  if (!last || typeof last !== 'object' || Array.isArray(last)) return undefined;
  return last as unknown as LastTransaction;
}

/**
 * Each record's partition: the one it names, else its key's (Kafka's murmur2), else the
 * topic's sticky partition for this transaction. Kept as data, so a retry's answer is
 * computed the same way even if partitions were added since.
 */
function resolvePartitions(
  request: TransactionRequest,
  layout: LastTransaction['topics'],
  topics?: ReadonlyMap<string, Topic>,
): number[] {
  const byName = new Map(layout.map((t) => [t[0], t]));
  return request.records.map((record, index) => {
    const [, count, sticky] = byName.get(record.topic) ?? ['', 1, 0];
    const topic = topics?.get(record.topic);
    if (topic) return choosePartition(topic, record, sticky, index);
    // A replay's answer: as chosen when the transaction was committed.
    if (record.partition !== undefined) return record.partition;
    return record.key === null ? sticky : partitionForKey(record.key, count);
  });
}

/** The answer of a committed transaction, from what was committed. */
function answer(request: TransactionRequest, last: LastTransaction): TransactionResult {
  const partitions = resolvePartitions(request, last.topics);
  const base = new Map<string, number>();
  for (const [t, partition, offset] of last.bases) {
    base.set(`${last.topics[t]?.[0]}\u0000${partition}`, offset);
  }
  const logAppend = new Map(last.topics.map((t) => [t[0], t[3]]));
  const offsets = request.records.map((record, i): TransactionAck => {
    const partition = partitions[i] ?? 0;
    const key = `${record.topic}\u0000${partition}`;
    const offset = base.get(key) ?? 0;
    base.set(key, offset + 1);
    const timestamp = logAppend.get(record.topic)
      ? last.appendTime
      : (record.timestamp ?? last.appendTime);
    return { topic: record.topic, partition, offset, timestamp };
  });
  return { offsets, committed: last.committed };
}

/** What identifies a transaction's contents, so a retry can be told from a different request. */
function digestOf(request: TransactionRequest): string {
  const bytes = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('base64'));
  const canonical = JSON.stringify([
    request.records.map((r) => [
      r.topic,
      r.partition ?? null,
      bytes(r.key),
      bytes(r.value),
      r.headers.map((h) => [h.name, bytes(h.value)]),
      r.timestamp ?? null,
    ]),
    request.offsets
      ? [
          request.offsets.group,
          request.offsets.memberId ?? null,
          request.offsets.generation ?? null,
          request.offsets.offsets.map((o) => [
            o.topic,
            o.partition,
            o.offset,
            o.metadata ?? '',
            o.ownedSince ?? null,
          ]),
        ]
      : null,
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 32);
}
