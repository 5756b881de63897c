import { TributaryError } from '../errors.ts';
import type { StoredItem } from '../ports/metadata-store.ts';

/** One batch a producer committed to a partition: enough to answer its replay. */
export interface ProducerBatch {
  readonly firstSequence: number;
  readonly count: number;
  readonly baseOffset: number;
  /** The request time the batch was committed with (its default timestamps). */
  readonly appendTime: number;
}

/** A producer's sequence state on one partition, committed with the partition head. */
export interface ProducerPartitionState {
  readonly epoch: number;
  /** The last batches, oldest first: as many as Kafka keeps for in-flight retries. */
  readonly batches: readonly ProducerBatch[];
}

/** Kafka keeps the last five batches per producer and partition (max.in.flight = 5). */
export const retainedBatches = 5;

export type SequenceVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly batch: ProducerBatch };

/**
 * Kafka's idempotence rules for one partition. Within an epoch, sequences continue without
 * gaps: the next batch starts at last + 1. An exact replay of a retained batch (same first
 * sequence and count) is a duplicate, answered with its original offsets. A new epoch
 * starts again at 0; an older epoch is fenced.
 */
export function judgeSequence(
  state: ProducerPartitionState | undefined,
  epoch: number,
  firstSequence: number,
  count: number,
  where: { topic: string; partition: number },
): SequenceVerdict {
  if (state && state.epoch > epoch) throw fenced(state.epoch, epoch);
  if (!state || state.epoch < epoch) {
    if (firstSequence === 0) return { kind: 'append' };
    throw outOfOrder(0, firstSequence, where);
  }
  const duplicate = state.batches.find(
    (b) => b.firstSequence === firstSequence && b.count === count,
  );
  if (duplicate) return { kind: 'duplicate', batch: duplicate };
  const last = state.batches.at(-1);
  const expected = last ? last.firstSequence + last.count : 0;
  if (firstSequence === expected) return { kind: 'append' };
  throw outOfOrder(expected, firstSequence, where);
}

/** The state after appending a batch. */
export function appendBatch(
  state: ProducerPartitionState | undefined,
  epoch: number,
  batch: ProducerBatch,
): ProducerPartitionState {
  const kept = state && state.epoch === epoch ? state.batches : [];
  return { epoch, batches: [...kept, batch].slice(-retainedBatches) };
}

export function stateFromItem(
  item: StoredItem | undefined,
  now: number,
): ProducerPartitionState | undefined {
  // DynamoDB's TTL deletes lazily: an item past its expiry is already gone.
  if (!item || (item.expiresAt !== undefined && item.expiresAt < now)) return undefined;
  const { epoch, batches } = item.data;
  if (typeof epoch !== 'number' || !Array.isArray(batches)) {
    throw new Error(`corrupt producer state ${item.pk}/${item.sk}`);
  }
  return {
    epoch,
    batches: batches.map((b) => {
      if (!b || typeof b !== 'object' || Array.isArray(b))
        throw new Error(`corrupt producer state ${item.sk}`);
      return {
        firstSequence: Number(b.firstSequence),
        count: Number(b.count),
        baseOffset: Number(b.baseOffset),
        appendTime: Number(b.appendTime),
      };
    }),
  };
}

export const stateData = (state: ProducerPartitionState) => ({
  epoch: state.epoch,
  batches: state.batches.map((b) => ({ ...b })),
});

export const fenced = (currentEpoch: number, epoch: number) =>
  new TributaryError(
    'PRODUCER_FENCED',
    `Producer epoch ${epoch} is fenced: another instance initialised the producer with epoch ${currentEpoch}.`,
    { producerEpoch: epoch, currentEpoch },
  );

const outOfOrder = (
  expected: number,
  sequence: number,
  where: { topic: string; partition: number },
) =>
  new TributaryError(
    'OUT_OF_ORDER_SEQUENCE',
    `Sequence ${sequence} on ${where.topic}-${where.partition} is out of order: the next expected is ${expected}.`,
    { ...where, sequence, expectedSequence: expected },
  );
