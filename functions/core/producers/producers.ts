import type { CoreContext } from '../context.ts';
import { TributaryError } from '../errors.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectVersion,
  lostRace,
  type StoredItem,
} from '../ports/metadata-store.ts';
import {
  producerIdCounterKey,
  producerIdleMs,
  producerMetaKey,
  transactionalIdKey,
} from './producer-keys.ts';

export interface ProducerIdentity {
  readonly producerId: number;
  readonly producerEpoch: number;
}

/** A producer's current epoch; a request with an older one is fenced. */
export interface ProducerMeta {
  readonly epoch: number;
  readonly expiresAt: number;
}

const transactionalIdPattern = /^[\x21-\x7e]{1,249}$/;

/** 1-249 printable ASCII characters without spaces. */
export const isTransactionalId = (name: string): boolean => transactionalIdPattern.test(name);

/**
 * Kafka's InitProducerId. Without a transactionalId: a fresh producer id at epoch 0. With
 * one: the same producer id every time, its epoch raised by one, which fences every older
 * instance — their later writes get PRODUCER_FENCED.
 */
export async function initProducer(
  ctx: CoreContext,
  transactionalId: string | undefined,
): Promise<ProducerIdentity> {
  if (transactionalId === undefined) {
    const producerId = await allocateProducerId(ctx);
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: producerMetaKey(producerId),
          data: { epoch: 0 },
          expiresAt: ctx.now() + producerIdleMs,
          expect: expectAbsent,
        },
      ]);
    } catch (error: unknown) {
      // The id was allocated to us alone: an existing item is our own write, landed on an
      // attempt whose answer was lost.
      if (!(error instanceof ConditionFailedError)) throw error;
    }
    return { producerId, producerEpoch: 0 };
  }
  if (!transactionalIdPattern.test(transactionalId)) {
    throw new TributaryError(
      'INVALID_REQUEST',
      'transactionalId must be 1-249 printable ASCII characters without spaces.',
      { field: 'transactionalId' },
    );
  }
  for (;;) {
    const mapping = await ctx.metadata.get(transactionalIdKey(transactionalId));
    const producerId =
      mapping && !expired(mapping, ctx.now())
        ? Number(mapping.data.producerId)
        : await allocateProducerId(ctx);
    const meta = await ctx.metadata.get(producerMetaKey(producerId));
    const epoch = meta ? Number(meta.data.epoch) + 1 : 0;
    const expiresAt = ctx.now() + producerIdleMs;
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: transactionalIdKey(transactionalId),
          data: { producerId },
          expiresAt,
          expect: mapping ? expectVersion(mapping.version) : expectAbsent,
        },
        {
          type: 'put',
          key: producerMetaKey(producerId),
          data: { epoch, transactionalId },
          expiresAt,
          expect: meta ? expectVersion(meta.version) : expectAbsent,
        },
      ]);
      return { producerId, producerEpoch: epoch };
    } catch (error: unknown) {
      // Another instance initialised at the same moment; go again from what it wrote.
      if (!(await lostRace(error))) throw error;
    }
  }
}

/** Producer ids are handed out from a counter, never reused. */
async function allocateProducerId(ctx: CoreContext): Promise<number> {
  let counter = await ctx.metadata.get(producerIdCounterKey);
  for (;;) {
    const next = counter ? Number(counter.data.next) : 1;
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key: producerIdCounterKey,
          data: { next: next + 1 },
          expect: counter ? expectVersion(counter.version) : expectAbsent,
        },
      ]);
      return next;
    } catch (error: unknown) {
      if (!(await lostRace(error))) throw error;
      counter = await ctx.metadata.get(producerIdCounterKey);
    }
  }
}

/** The producer's meta item as a producer's request must find it: present and current. */
export function producerMetaFromItem(
  item: StoredItem | undefined,
  producer: { readonly id: number; readonly epoch: number },
  now: number,
): ProducerMeta {
  if (!item || expired(item, now)) {
    throw new TributaryError(
      'UNKNOWN_PRODUCER_ID',
      `Producer ${producer.id} is unknown or expired (7 days without use); initialise a producer again with POST /v1/producers.`,
      { producerId: producer.id },
    );
  }
  const epoch = Number(item.data.epoch);
  if (producer.epoch > epoch) {
    throw new TributaryError(
      'UNKNOWN_PRODUCER_ID',
      `Producer ${producer.id} has no epoch ${producer.epoch} (its current epoch is ${epoch}).`,
      { producerId: producer.id, producerEpoch: producer.epoch },
    );
  }
  return { epoch, expiresAt: item.expiresAt ?? Number.MAX_SAFE_INTEGER };
}

const expired = (item: StoredItem, now: number) =>
  item.expiresAt !== undefined && item.expiresAt < now;
