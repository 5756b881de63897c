import type { JsonObject, JsonValue, StoredItem } from '../ports/metadata-store.ts';
import type { DeliveryOutcome } from './delivery-port.ts';
import type { Subscription } from './subscription.ts';

/**
 * A subscription's progress on one partition: one item, written only by the dispatcher that
 * holds its lease, always conditioned on the version it read, so every write is fenced.
 *
 * The lease: a dispatcher takes it by writing `holder`, `leaseUntil` and `epoch + 1`
 * conditioned on the cursor's version; every later write it makes (an advance, a retry) is
 * conditioned on the version its own previous write produced. A dispatcher that lost the
 * lease — it stalled past `leaseUntil` and another took it, raising the epoch — finds its
 * next write refused and stops, so two dispatchers never deliver one partition at once and
 * a stale one never moves the position.
 *
 *   A takes v4 → v5 (epoch 3) ─ delivers 10..19 ─ stalls ───────────── A writes "v5 → 20" ✗
 *   B waits until A's lease ends ─────────────── B takes v5 → v6 (epoch 4) ─ delivers 10..19 ✓
 *
 * The epoch is what describe shows and what the conditions stand for: "still epoch 3" and
 * "still the version epoch 3's holder wrote" are the same statement, and the store's
 * conditions are on versions.
 */
export interface Cursor {
  /** The next offset to deliver. Never moves backwards. */
  readonly position: number;
  readonly epoch: number;
  readonly holder: string | null;
  readonly leaseUntil: number;
  /** Set while the batch at `position` is failing. */
  readonly retry: RetryState | null;
  /**
   * Bisection: exclusive ends of the halves still to deliver, the innermost last. A batch
   * never reaches past the last one; it is dropped once the position passes it.
   */
  readonly ends: readonly number[];
  /** The idempotent producer that writes this partition's dead letters. */
  readonly deadLetter: DeadLetterProducer | null;
  readonly counts: Counts;
  readonly lastError: {
    readonly message: string;
    readonly at: number;
    readonly offset: number;
  } | null;
  readonly lastDeliveryAt: number | null;
  /**
   * When the batching window for the records at `position` opened: kept here, not in a
   * dispatcher's memory, so a pass that ends (a Lambda invocation, a local pass) or another
   * dispatcher taking over does not open it again. Cleared when the position moves.
   */
  readonly windowOpenedAt: number | null;
  /** The item's version; undefined before the cursor was first written. */
  readonly version: number | undefined;
}

export interface RetryState {
  /** The offset of the first record of the failing batch. */
  readonly offset: number;
  /** Failed invocations of it, counted against maxRetryAttempts. */
  readonly attempts: number;
  /** Failures before invocation (throttled, unreachable), not counted. */
  readonly throttles: number;
  readonly since: number;
  /** Not delivered again before this time. */
  readonly nextAt: number;
  readonly error: string;
  /** Retries are exhausted and there is no onFailure: the partition waits. */
  readonly waiting: boolean;
  /** The subscription revision the wait was decided under: a change retries at once. */
  readonly revision: number;
}

/** Dead letters go out as one idempotent producer per subscription partition. */
export interface DeadLetterProducer {
  readonly topicId: string;
  readonly partition: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  /** The sequence of the next dead-letter batch. */
  readonly sequence: number;
}

export interface Counts {
  /** Records the target took. */
  readonly delivered: number;
  /** Records the filter skipped (they count as delivered). */
  readonly filtered: number;
  /** Invocations that failed. */
  readonly failed: number;
  readonly deadLettered: number;
  /** Records retention removed before they could be delivered. */
  readonly expired: number;
}

const zeroCounts: Counts = { delivered: 0, filtered: 0, failed: 0, deadLettered: 0, expired: 0 };

export const newCursor = (position: number): Cursor => ({
  position,
  epoch: 0,
  holder: null,
  leaseUntil: 0,
  retry: null,
  ends: [],
  deadLetter: null,
  counts: zeroCounts,
  lastError: null,
  lastDeliveryAt: null,
  windowOpenedAt: null,
  version: undefined,
});

export function cursorFromItem(item: StoredItem): Cursor {
  const d = item.data;
  const object = (value: JsonValue | undefined): JsonObject | null =>
    value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  const retry = object(d.retry);
  const deadLetter = object(d.deadLetter);
  const counts = object(d.counts) ?? {};
  const lastError = object(d.lastError);
  return {
    position: Number(d.position),
    epoch: Number(d.epoch),
    holder: typeof d.holder === 'string' ? d.holder : null,
    leaseUntil: Number(d.leaseUntil ?? 0),
    retry: retry && {
      offset: Number(retry.offset),
      attempts: Number(retry.attempts),
      throttles: Number(retry.throttles),
      since: Number(retry.since),
      nextAt: Number(retry.nextAt),
      error: String(retry.error),
      waiting: retry.waiting === true,
      revision: Number(retry.revision),
    },
    ends: Array.isArray(d.ends) ? d.ends.map(Number) : [],
    deadLetter: deadLetter && {
      topicId: String(deadLetter.topicId),
      partition: Number(deadLetter.partition),
      producerId: Number(deadLetter.producerId),
      producerEpoch: Number(deadLetter.producerEpoch),
      sequence: Number(deadLetter.sequence),
    },
    counts: {
      delivered: Number(counts.delivered ?? 0),
      filtered: Number(counts.filtered ?? 0),
      failed: Number(counts.failed ?? 0),
      deadLettered: Number(counts.deadLettered ?? 0),
      expired: Number(counts.expired ?? 0),
    },
    lastError: lastError && {
      message: String(lastError.message),
      at: Number(lastError.at),
      offset: Number(lastError.offset),
    },
    lastDeliveryAt: typeof d.lastDeliveryAt === 'number' ? d.lastDeliveryAt : null,
    windowOpenedAt: typeof d.windowOpenedAt === 'number' ? d.windowOpenedAt : null,
    version: item.version,
  };
}

export const cursorData = (cursor: Cursor): JsonObject => ({
  position: cursor.position,
  epoch: cursor.epoch,
  holder: cursor.holder,
  leaseUntil: cursor.leaseUntil,
  retry: cursor.retry && { ...cursor.retry },
  ends: [...cursor.ends],
  deadLetter: cursor.deadLetter && { ...cursor.deadLetter },
  counts: { ...cursor.counts },
  lastError: cursor.lastError && { ...cursor.lastError },
  lastDeliveryAt: cursor.lastDeliveryAt,
  windowOpenedAt: cursor.windowOpenedAt,
});

/** Whether `holder` may take the lease now: nobody holds it, or the holder's time is up. */
export const leaseFree = (cursor: Cursor, now: number): boolean =>
  cursor.holder === null || cursor.leaseUntil <= now;

export const withLease = (cursor: Cursor, holder: string, until: number): Cursor => ({
  ...cursor,
  epoch: cursor.epoch + 1,
  holder,
  leaseUntil: until,
});

export const released = (cursor: Cursor): Cursor => ({ ...cursor, holder: null, leaseUntil: 0 });

/** Retry timing: exponential backoff with jitter, and how often a waiting partition tries. */
export interface RetryPolicy {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** A waiting partition tries its batch again this often (or at once after a change). */
  readonly waitingProbeMs: number;
  /** In [0, 1), for the jitter. */
  readonly random: () => number;
}

/** Half the delay fixed, half random: retries spread out but never come at once. */
export function backoffMs(policy: RetryPolicy, failures: number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (failures - 1));
  return Math.round(ceiling / 2 + (policy.random() * ceiling) / 2);
}

/** When the cursor's batch may be delivered again: now, or after a retry's backoff. */
export function dueAt(cursor: Cursor, sub: Subscription): number {
  const { retry } = cursor;
  if (!retry || retry.offset !== cursor.position) return 0;
  if (retry.waiting && retry.revision !== sub.revision) return 0;
  return retry.nextAt;
}

/** One delivered batch: the records the target got, and where the position goes on success. */
export interface Attempt {
  readonly records: readonly { readonly offset: number; readonly timestamp: number }[];
  /** The position after the batch when it all succeeds (past filtered records too). */
  readonly end: number;
}

export type Verdict =
  /** Everything before `position` is done; `delivered` records were taken. */
  | { readonly kind: 'advance'; readonly position: number; readonly delivered: number }
  /** Try again from `position` (moved past records a partial response accepted) later. */
  | {
      readonly kind: 'retry';
      readonly position: number;
      readonly delivered: number;
      readonly retry: RetryState;
    }
  /** Split the batch: deliver up to the new end first, at once (a split is not a retry). */
  | { readonly kind: 'bisect'; readonly ends: readonly number[] }
  /** Retries exhausted: these records go to onFailure, and the position moves to `position`. */
  | {
      readonly kind: 'dead-letter';
      readonly offsets: readonly number[];
      readonly position: number;
      readonly delivered: number;
      readonly error: string;
      readonly attempts: number;
    };

/**
 * What one delivery's outcome does to the partition, by the rules of Lambda's stream event
 * source mappings:
 * - success: the position moves past the batch;
 * - a partial batch response `{"batchItemFailures": [{"itemIdentifier": "<offset>"}]}`: the
 *   position moves to the lowest failed offset and the rest is retried (an empty, null or
 *   unknown identifier fails the whole batch);
 * - a failure: bisected when asked and the batch has more than one record (not counted),
 *   else retried with backoff, counted against maxRetryAttempts;
 * - not invoked (throttled, unreachable): retried with backoff, not counted;
 * - retries exhausted (maxRetryAttempts, maxRecordAgeMs, or a refusal that retrying cannot
 *   fix): the failed records go to onFailure — those the target named, or the whole batch —
 *   and the position moves past the batch; without onFailure the partition waits, probing
 *   every waitingProbeMs, and at once after the subscription changes.
 */
export function judge(
  sub: Subscription,
  cursor: Cursor,
  attempt: Attempt,
  outcome: DeliveryOutcome,
  now: number,
  policy: RetryPolicy,
): Verdict {
  const all = attempt.records.map((r) => r.offset);
  let failed = all;
  let error: string;
  let counted = true;
  let final = false;
  switch (outcome.kind) {
    case 'ok': {
      const reported = reportedFailures(outcome.body, all);
      if (reported === 'none') {
        return { kind: 'advance', position: attempt.end, delivered: all.length };
      }
      if (reported === 'invalid') {
        error = 'the response named a batch item failure that is not an offset of the batch';
      } else {
        failed = reported;
        error = 'the target reported the record as failed (batchItemFailures)';
      }
      break;
    }
    case 'failed':
      error = outcome.error;
      break;
    case 'rejected':
      error = outcome.error;
      final = true;
      break;
    case 'unavailable':
      error = outcome.error;
      counted = false;
      break;
  }
  const partial = failed !== all;
  const first = failed[0] ?? cursor.position;

  if (!partial && outcome.kind !== 'unavailable' && sub.bisectBatchOnFunctionError) {
    const half = all[Math.ceil(all.length / 2)];
    if (all.length > 1 && half !== undefined) {
      return { kind: 'bisect', ends: [...cursor.ends, half] };
    }
  }

  const same = cursor.retry?.offset === first ? cursor.retry : null;
  const attempts = (same?.attempts ?? 0) + (counted ? 1 : 0);
  const throttles = (same?.throttles ?? 0) + (counted ? 0 : 1);
  // Failed records past maxRecordAgeMs, from the first: they stop being retried, while
  // younger ones after them keep their retries.
  const failedSet = new Set(failed);
  const failedRecords = attempt.records.filter((r) => failedSet.has(r.offset));
  const young = failedRecords.findIndex(
    (r) => sub.maxRecordAgeMs < 0 || now - r.timestamp <= sub.maxRecordAgeMs,
  );
  const aged = young === -1 ? failed.length : young;
  const tooMany = sub.maxRetryAttempts >= 0 && attempts > sub.maxRetryAttempts;
  const delivered = all.filter((offset) => offset < first).length;

  const exhausted = final || tooMany || aged > 0;
  if (exhausted && sub.onFailure) {
    const whole = final || tooMany || aged === failed.length;
    return {
      kind: 'dead-letter',
      offsets: whole ? failed : failed.slice(0, aged),
      position: whole ? attempt.end : (failed[aged] ?? attempt.end),
      // Records a partial response did not name were processed.
      delivered: whole ? attempt.records.length - failed.length : delivered,
      error,
      attempts,
    };
  }
  // Exhausted without onFailure: the partition waits, probed now and then; else back off.
  const waiting = exhausted;
  return {
    kind: 'retry',
    position: first,
    delivered,
    retry: {
      offset: first,
      attempts,
      throttles,
      since: same?.since ?? now,
      nextAt:
        now + (waiting ? policy.waitingProbeMs : backoffMs(policy, counted ? attempts : throttles)),
      error,
      waiting,
      revision: sub.revision,
    },
  };
}

/**
 * The offsets a partial batch response names, lowest first: 'none' for a full success (no
 * JSON, no list, an empty or null list), 'invalid' when an identifier is empty, null, or
 * not an offset of the batch — Lambda then fails the whole batch.
 */
function reportedFailures(body: string, offsets: readonly number[]): number[] | 'none' | 'invalid' {
  let response: unknown;
  try {
    response = body.trim() === '' ? null : JSON.parse(body);
  } catch {
    return 'none';
  }
  if (!response || typeof response !== 'object' || !('batchItemFailures' in response)) {
    return 'none';
  }
  const list = response.batchItemFailures;
  if (list === null || (Array.isArray(list) && list.length === 0)) return 'none';
  if (!Array.isArray(list)) return 'invalid';
  const inBatch = new Set(offsets);
  const named = new Set<number>();
  for (const item of list) {
    const id: unknown =
      item && typeof item === 'object' && 'itemIdentifier' in item ? item.itemIdentifier : null;
    const offset = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
    if (typeof offset !== 'number' || !inBatch.has(offset)) return 'invalid';
    named.add(offset);
  }
  return [...named].sort((a, b) => a - b);
}
