import { partitionPk } from '../keys.ts';
import type { ItemKey } from '../ports/metadata-store.ts';

/**
 * Where producer state lives.
 *
 *   pk "producer-ids"        sk "next"          the next producer id to hand out
 *   pk "transactional-ids"   sk <id>            transactionalId → producerId
 *   pk "producer#<pid>"      sk "meta"          the producer's current epoch
 *   pk "log#<tid>#<p>"       sk "producer#<pid>" the producer's sequence state on a partition,
 *                                               beside the head it is committed with
 */
export const producerIdCounterKey: ItemKey = { pk: 'producer-ids', sk: 'next' };
export const transactionalIdKey = (transactionalId: string): ItemKey => ({
  pk: 'transactional-ids',
  sk: transactionalId,
});
export const producerMetaKey = (producerId: number): ItemKey => ({
  pk: `producer#${producerId}`,
  sk: 'meta',
});
export const producerStateKey = (
  topicId: string,
  partition: number,
  producerId: number,
): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: `producer#${producerId}`,
});

/** Kafka's transactional.id.expiration.ms default: producer state lasts 7 days without use. */
export const producerIdleMs = 7 * 24 * 60 * 60 * 1000;
