import type { CoreContext } from '../core/context.ts';
import { TributaryError } from '../core/errors.ts';
import { topicKey } from '../core/keys.ts';
import type { BatchReader } from '../core/log/batch-reader.ts';
import { type FetchedRecord, fetchFromTopic } from '../core/log/fetch.ts';
import { readPartitionState } from '../core/log/partition-state.ts';
import { type ProduceRecord, prepareProduce } from '../core/log/produce.ts';
import type { WriterCache } from '../core/log/writer-cache.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  StorageUnavailableError,
  TransactionContentionError,
  type WriteOp,
} from '../core/ports/metadata-store.ts';
import { initProducer } from '../core/producers/producers.ts';
import {
  type Attempt,
  type Cursor,
  cursorData,
  cursorFromItem,
  dueAt,
  judge,
  leaseFree,
  newCursor,
  type RetryPolicy,
  released,
  type Verdict,
  withLease,
} from '../core/subscriptions/cursor.ts';
import type { DeliveryPort } from '../core/subscriptions/delivery-port.ts';
import { eventBody } from '../core/subscriptions/event.ts';
import { matchesFilter } from '../core/subscriptions/filter.ts';
import {
  cursorKey,
  registryKey,
  type Subscription,
  startFromItem,
  startKey,
  startOffset,
  subscriptionFromItem,
} from '../core/subscriptions/subscription.ts';
import { findTopic, type Topic, topicFromItem } from '../core/topics/topic.ts';
import type { Logger } from '../http/logger.ts';
import type { DispatchMetrics } from './metrics.ts';

export interface DispatchDeps {
  readonly ctx: CoreContext;
  readonly reader: BatchReader;
  /** The produce path's memory, for dead letters. */
  readonly writers: WriterCache;
  readonly delivery: DeliveryPort;
  readonly retry: RetryPolicy;
  /** How long a lease lasts unless renewed: longer than a delivery may take (twice, by default). */
  readonly leaseMs: number;
  /** A delivery gives up after this long; a lease always has this much left when one starts. */
  readonly deliveryTimeoutMs: number;
  /** What events name as bootstrapServers: the API's URL. */
  readonly bootstrapServers: string;
  readonly metrics: DispatchMetrics;
  readonly log: Logger;
  readonly sleep: (ms: number) => Promise<void>;
}

/** What one dispatcher remembers of one partition between steps. */
export interface Worker {
  readonly sub: Subscription;
  readonly partition: number;
  /** Names this dispatcher in the lease. */
  readonly holder: string;
  /** The cursor version our last write produced, while we hold the lease. */
  held: number | undefined;
  /** Age of the oldest undelivered record when last looked at, for the iterator-age metric. */
  iteratorAgeMs: number;
}

export type StepResult =
  /** Did one unit of work: step again. */
  | { readonly kind: 'progress' }
  /** Caught up; the lease is released. */
  | { readonly kind: 'idle' }
  /**
   * Nothing to do before `at`: a retry's backoff, a batching window, another holder's
   * lease, or (`waiting`) the next probe of a partition whose retries are exhausted.
   */
  | { readonly kind: 'later'; readonly at: number; readonly waiting?: boolean }
  /** The subscription is disabled or deleted, or its topic is gone: stop. */
  | { readonly kind: 'stopped'; readonly topicGone: boolean }
  /** Another dispatcher took the lease from under us: stop, it carries on. */
  | { readonly kind: 'fenced' };

/** Raw record bytes per fetch: base64 then fits Lambda's 6 MB payload with the envelope. */
const maxFetchBytes = 4_000_000;

/**
 * One bounded unit of work on one subscription partition: read the cursor, deliver at most
 * one batch (or skip filtered records, or jump past records retention removed), then write
 * the cursor conditioned on the version read.
 *
 * Correct when run twice, by two dispatchers at once, or after a crash at any line: every
 * write below is conditioned on the cursor version this worker read or last wrote (`fenced`
 * writes), so a second runner either finds the lease taken (and stops) or takes it with a
 * write the first runner's next write then fails. A crash before the final write leaves the
 * position where it was: the batch is delivered again (at least once), never skipped. The
 * position only ever moves forward from the value the condition pins.
 */
export async function step(deps: DispatchDeps, worker: Worker): Promise<StepResult> {
  const { ctx } = deps;
  const { sub, partition } = worker;
  const [registry, topicItem, cursorItem] = await ctx.metadata.getMany([
    registryKey(sub.topicId, sub.name),
    topicKey(sub.topic),
    cursorKey(sub.id, partition),
  ]);
  const current = registry && subscriptionFromItem(registry);
  const topic = topicItem && topicFromItem(topicItem);
  const topicGone = !topic || topic.id !== sub.topicId;
  if (!current || current.id !== sub.id || !current.enabled || topicGone) {
    await release(deps, worker, cursorItem && cursorFromItem(cursorItem));
    return { kind: 'stopped', topicGone };
  }
  if (partition >= topic.partitions) return { kind: 'stopped', topicGone: false };

  const now = ctx.now();
  const state = await readPartitionState(ctx, topic, partition);
  let cursor: Cursor;
  if (cursorItem) {
    cursor = cursorFromItem(cursorItem);
  } else {
    const start = startFromItem(await ctx.metadata.get(startKey(sub.id)));
    cursor = newCursor(startOffset(start, partition, state.logStartOffset));
  }
  if (cursor.version !== worker.held) {
    worker.held = undefined;
    // A lease this dispatcher holds was left by its worker of an earlier pass, which ended
    // between steps (a dispatcher runs one worker per partition at a time): carry it on
    // rather than wait it out, or a batching window longer than a pass closes a lease late.
    if (cursor.holder === worker.holder && cursor.leaseUntil > now) worker.held = cursor.version;
    else if (!leaseFree(cursor, now)) return { kind: 'later', at: cursor.leaseUntil };
  }

  // Records retention removed before they were delivered: move past them.
  const expired = Math.max(0, state.logStartOffset - cursor.position);
  if (expired > 0) {
    cursor = {
      ...cursor,
      position: state.logStartOffset,
      counts: { ...cursor.counts, expired: cursor.counts.expired + expired },
    };
  }
  if (cursor.position >= state.highWatermark) {
    worker.iteratorAgeMs = 0;
    if (expired > 0) await write(deps, worker, current, released(cursor), now);
    else await release(deps, worker, cursor);
    return { kind: 'idle' };
  }
  const due = dueAt(cursor, current);
  if (due > now) {
    if (expired > 0) await write(deps, worker, current, released(cursor), now);
    else await release(deps, worker, cursor);
    return { kind: 'later', at: due, waiting: cursor.retry?.waiting === true };
  }

  // Take the lease (or renew it) before reading what to deliver, so a delivery never
  // outlives it: a lease always has the delivery timeout and a margin left when one starts.
  const margin = (deps.leaseMs - deps.deliveryTimeoutMs) / 2;
  if (worker.held === undefined || cursor.leaseUntil - now < deps.deliveryTimeoutMs + margin) {
    const taken = worker.held === undefined ? withLease(cursor, worker.holder, 0) : cursor;
    if (!(await write(deps, worker, current, taken, now))) return { kind: 'fenced' };
    cursor = {
      ...taken,
      holder: worker.holder,
      leaseUntil: now + deps.leaseMs,
      version: worker.held,
    };
  }

  const bound = cursor.ends.at(-1);
  let fetched: FetchedRecord[];
  let end: number;
  try {
    const limit = Math.min(current.batchSize, (bound ?? Number.MAX_SAFE_INTEGER) - cursor.position);
    const result = await fetchFromTopic(deps, topic, partition, cursor.position, {
      maxRecords: limit,
      maxBytes: maxFetchBytes,
      waitMs: 0,
    });
    fetched = result.records;
    end = result.nextOffset;
  } catch (error: unknown) {
    // Retention moved past the position since the state was read: the next step jumps.
    if (error instanceof TributaryError && error.code === 'OFFSET_OUT_OF_RANGE') {
      return { kind: 'progress' };
    }
    throw error;
  }
  // Below the head, yet nothing to read (a commit landing, a gap): look again shortly.
  if (fetched.length === 0) return { kind: 'later', at: now + 50 };
  worker.iteratorAgeMs = Math.max(0, now - (fetched[0]?.timestamp ?? now));

  const matching = current.filter
    ? fetched.filter((r) => current.filter && matchesFilter(current.filter, r.value))
    : fetched;
  if (matching.length === 0) {
    const filtered = { ...cursor.counts, filtered: cursor.counts.filtered + fetched.length };
    const next = advanced(cursor, end, { counts: filtered });
    if (!(await write(deps, worker, current, next, now, end >= state.highWatermark))) {
      return { kind: 'fenced' };
    }
    return { kind: 'progress' };
  }

  // The batching window: wait for a full batch, or until the window closes.
  const full = fetched.length >= current.batchSize || bound !== undefined || cursor.retry !== null;
  // The window opens once per position, in the cursor: a worker that ends before it closes
  // (its pass's deadline) leaves it to the next, which does not start it again.
  if (current.maxBatchingWindowMs > 0 && !full) {
    const opened = cursor.windowOpenedAt ?? now;
    if (cursor.windowOpenedAt === null) {
      if (!(await write(deps, worker, current, { ...cursor, windowOpenedAt: now }, now))) {
        return { kind: 'fenced' };
      }
    }
    const closes = opened + current.maxBatchingWindowMs;
    if (now < closes) return { kind: 'later', at: Math.min(closes, now + 250) };
  }

  const event = eventBody(
    deps.bootstrapServers,
    topic.name,
    partition,
    topic.config.timestampType,
    matching,
  );
  const batch = matching.slice(0, event.count);
  const next = matching[event.count];
  const attempt: Attempt = {
    records: batch.map((r) => ({ offset: r.offset, timestamp: r.timestamp })),
    end: next === undefined ? end : next.offset,
  };
  const filteredCount = fetched.filter((r) => r.offset < attempt.end).length - batch.length;
  const outcome = await deps.delivery.deliver({
    target: current.target,
    body: event.body,
    subscription: { topic: topic.name, name: current.name },
    ...(current.secret !== null && { secret: current.secret }),
    timeoutMs: deps.deliveryTimeoutMs,
  });
  const after = ctx.now();
  const verdict = judge(current, cursor, attempt, outcome, after, deps.retry);
  deps.metrics.delivery(current, verdict, outcome);

  let nextCursor = await apply(deps, worker, current, topic, cursor, verdict, fetched, after);
  if (nextCursor === undefined) return { kind: 'fenced' };
  if (verdict.kind === 'advance' || verdict.kind === 'dead-letter') {
    const counts = { ...nextCursor.counts, filtered: nextCursor.counts.filtered + filteredCount };
    nextCursor = { ...nextCursor, counts };
  }
  const caughtUp = nextCursor.position >= state.highWatermark;
  const retrying = verdict.kind === 'retry';
  if (!(await write(deps, worker, current, nextCursor, after, caughtUp || retrying))) {
    return { kind: 'fenced' };
  }
  return { kind: 'progress' };
}

/** The cursor after the verdict, dead letters written; undefined if we lost the lease. */
async function apply(
  deps: DispatchDeps,
  worker: Worker,
  sub: Subscription,
  topic: Topic,
  cursor: Cursor,
  verdict: Verdict,
  fetched: readonly FetchedRecord[],
  now: number,
): Promise<Cursor | undefined> {
  const counts = cursor.counts;
  switch (verdict.kind) {
    case 'advance':
      return advanced(cursor, verdict.position, {
        counts: { ...counts, delivered: counts.delivered + verdict.delivered },
        lastDeliveryAt: now,
      });
    case 'bisect':
      return {
        ...cursor,
        ends: verdict.ends,
        counts: { ...counts, failed: counts.failed + 1 },
        lastError: {
          message: 'the batch failed: delivering it in halves',
          at: now,
          offset: cursor.position,
        },
      };
    case 'retry': {
      const { retry } = verdict;
      const moved = advanced(cursor, verdict.position, {
        counts: {
          ...counts,
          delivered: counts.delivered + verdict.delivered,
          failed: counts.failed + 1,
        },
      });
      return {
        ...moved,
        retry,
        lastError: { message: retry.error, at: now, offset: retry.offset },
      };
    }
    case 'dead-letter': {
      const failed = new Set(verdict.offsets);
      const records = fetched.filter((r) => failed.has(r.offset));
      let withProducer: Cursor | undefined;
      try {
        withProducer = await deadLetter(deps, worker, sub, topic, cursor, records, verdict);
      } catch (error: unknown) {
        if (!(error instanceof DeadLetterFailed)) throw error;
        // Nowhere to put them: the partition waits, as it would without onFailure.
        const message = `could not write to the onFailure topic: ${error.message}`;
        return {
          ...cursor,
          retry: {
            offset: cursor.position,
            attempts: verdict.attempts,
            throttles: 0,
            since: cursor.retry?.since ?? now,
            nextAt: now + deps.retry.waitingProbeMs,
            error: message,
            waiting: true,
            revision: sub.revision,
          },
          counts: { ...counts, failed: counts.failed + 1 },
          lastError: { message, at: now, offset: cursor.position },
        };
      }
      if (withProducer === undefined) return undefined;
      return advanced(withProducer, verdict.position, {
        counts: {
          ...counts,
          delivered: counts.delivered + verdict.delivered,
          failed: counts.failed + 1,
          deadLettered: counts.deadLettered + records.length,
        },
        lastError: {
          message: verdict.error,
          at: now,
          offset: verdict.offsets[0] ?? cursor.position,
        },
      });
    }
  }
}

/** The cursor moved to `position`: bisection ends passed and a retry of earlier records are done. */
function advanced(cursor: Cursor, position: number, changes: Partial<Cursor>): Cursor {
  const target = Math.max(cursor.position, position);
  return {
    ...cursor,
    ...changes,
    position: target,
    windowOpenedAt: target > cursor.position ? null : cursor.windowOpenedAt,
    ends: cursor.ends.filter((end) => end > target),
    retry: cursor.retry && cursor.retry.offset >= target ? cursor.retry : null,
  };
}

class DeadLetterFailed extends Error {
  override readonly name = 'DeadLetterFailed';
}

/** Header names dead letters carry, beside the record's own headers. */
export const deadLetterHeaders = {
  subscription: 'tributary.subscription',
  error: 'tributary.error',
  attempts: 'tributary.attempts',
  topic: 'tributary.topic',
  partition: 'tributary.partition',
  offset: 'tributary.offset',
  timestamp: 'tributary.timestamp',
} as const;

/**
 * Writes the failed records to the onFailure topic through the produce path, as this
 * partition's own idempotent producer: partition p's dead letters go to partition
 * p mod N of the dead-letter topic, in order, and a retry after a crash between this write
 * and the cursor's is recognised as a replay (same sequence) and not written twice. The
 * producer's identity is saved in the cursor before its first use, for that reason.
 * Returns the cursor with the sequence advanced, or undefined if the lease was lost.
 */
async function deadLetter(
  deps: DispatchDeps,
  worker: Worker,
  sub: Subscription,
  topic: Topic,
  cursor: Cursor,
  records: readonly FetchedRecord[],
  verdict: Extract<Verdict, { kind: 'dead-letter' }>,
): Promise<Cursor | undefined> {
  const { ctx } = deps;
  const onFailure = sub.onFailure?.topic ?? '';
  const dlq = await findTopic(ctx, onFailure);
  if (!dlq) throw new DeadLetterFailed(`topic '${onFailure}' does not exist`);
  const partition = worker.partition % dlq.partitions;
  let producer = cursor.deadLetter;
  let current = cursor;
  if (!producer || producer.topicId !== dlq.id || producer.partition !== partition) {
    const identity = await initProducer(ctx, undefined);
    producer = { topicId: dlq.id, partition, ...identity, sequence: 0 };
    current = { ...cursor, deadLetter: producer };
    if (!(await write(deps, worker, sub, current, ctx.now()))) return undefined;
    current = { ...current, version: worker.held };
  }
  const text = new TextEncoder();
  const error = verdict.error.slice(0, 1000);
  const letters: ProduceRecord[] = records.map((r) => ({
    key: r.key,
    value: r.value,
    partition,
    headers: [
      ...r.headers,
      { name: deadLetterHeaders.subscription, value: text.encode(sub.name) },
      { name: deadLetterHeaders.error, value: text.encode(error) },
      { name: deadLetterHeaders.attempts, value: text.encode(String(verdict.attempts)) },
      { name: deadLetterHeaders.topic, value: text.encode(topic.name) },
      { name: deadLetterHeaders.partition, value: text.encode(String(worker.partition)) },
      { name: deadLetterHeaders.offset, value: text.encode(String(r.offset)) },
      { name: deadLetterHeaders.timestamp, value: text.encode(String(r.timestamp)) },
    ],
  }));
  let sequence = producer.sequence + letters.length;
  try {
    const produceDeps = { ctx, writers: deps.writers };
    const prepared = await prepareProduce(produceDeps, dlq.name, letters, {
      producer: {
        id: producer.producerId,
        epoch: producer.producerEpoch,
        sequence: producer.sequence,
      },
    });
    await prepared.commit();
  } catch (failure: unknown) {
    if (!(failure instanceof TributaryError)) throw failure;
    const expected = failure.details.expectedSequence;
    if (
      failure.code === 'OUT_OF_ORDER_SEQUENCE' &&
      typeof expected === 'number' &&
      expected > producer.sequence
    ) {
      // Only this cursor's holder writes with this producer, and the cursor has not moved:
      // an earlier attempt at these very records landed before its cursor write was lost.
      sequence = expected;
    } else if (failure.code === 'UNKNOWN_PRODUCER_ID' || failure.code === 'PRODUCER_FENCED') {
      // The producer expired (7 days unused): the next attempt starts a new one.
      await write(deps, worker, sub, { ...current, deadLetter: null }, ctx.now());
      throw new DeadLetterFailed(failure.message);
    } else {
      throw new DeadLetterFailed(failure.message);
    }
  }
  return { ...current, deadLetter: { ...producer, sequence } };
}

/**
 * Writes the cursor, conditioned on the version this worker last wrote (or read, before it
 * held the lease): the fence. A new cursor is created only while the subscription is as
 * read, so a cursor is never written back after its subscription was deleted. Returns
 * false if the condition failed: another dispatcher holds the partition now.
 */
async function write(
  deps: DispatchDeps,
  worker: Worker,
  sub: Subscription,
  cursor: Cursor,
  now: number,
  release = false,
): Promise<boolean> {
  // Every write by the holder extends its lease; a releasing write gives it back.
  const data = cursorData(
    release
      ? released(cursor)
      : { ...cursor, holder: worker.holder, leaseUntil: now + deps.leaseMs },
  );
  const key = cursorKey(sub.id, worker.partition);
  const ops: WriteOp[] =
    cursor.version === undefined
      ? [
          { type: 'put', key, data, expect: expectAbsent },
          {
            type: 'check',
            key: registryKey(sub.topicId, sub.name),
            expect: expectVersion(sub.version),
          },
        ]
      : [{ type: 'put', key, data, expect: expectVersion(cursor.version) }];
  try {
    await deps.ctx.metadata.transact(ops);
  } catch (error: unknown) {
    if (error instanceof ConditionFailedError || error instanceof TransactionContentionError) {
      worker.held = undefined;
      return false;
    }
    if (error instanceof StorageUnavailableError) worker.held = undefined;
    throw error;
  }
  worker.held = release ? undefined : (cursor.version ?? 0) + 1;
  return true;
}

/**
 * Gives back the lease a worker still holds when it ends between steps — its pass's deadline
 * came, or the dispatcher is stopping (`npm start` stopped with Ctrl-C) — so the next
 * dispatcher carries on at once rather than waiting the lease out. Nothing is in flight
 * between steps; the release is conditioned on the version this worker last wrote.
 */
export async function leave(deps: DispatchDeps, worker: Worker): Promise<void> {
  if (worker.held === undefined) return;
  const item = await deps.ctx.metadata.get(cursorKey(worker.sub.id, worker.partition));
  await release(deps, worker, item && cursorFromItem(item));
}

/** Gives the lease back if this worker holds it, so the next dispatcher need not wait. */
async function release(deps: DispatchDeps, worker: Worker, cursor: Cursor | null | undefined) {
  if (worker.held === undefined || !cursor || cursor.version !== worker.held) return;
  const { sub } = worker;
  await write(deps, worker, sub, cursor, deps.ctx.now(), true).catch((error: unknown) => {
    deps.log.error('could not release a subscription lease', { subscription: sub.name, error });
  });
}
