import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../../functions/core/auth/api-keys.ts';
import type { CoreContext } from '../../../functions/core/context.ts';
import { commitOffsets, heartbeat, joinGroup } from '../../../functions/core/groups/groups.ts';
import { takeLeadership } from '../../../functions/core/log/leadership.ts';
import {
  type MetadataStore,
  TransactionContentionError,
} from '../../../functions/core/ports/metadata-store.ts';
import { initProducer } from '../../../functions/core/producers/producers.ts';
import {
  alterTopicConfig,
  createTopic,
  deleteTopic,
} from '../../../functions/core/topics/topics.ts';
import { embedded, type OpenBackend } from '../../support/backends.ts';
import { withTransact } from '../../support/stores.ts';

/**
 * DynamoDB cancels a transaction when another one is in flight on the same item
 * (TransactionConflict), even when its conditions hold. Every conditional write in the
 * core reads again and retries then, instead of failing the request.
 */
describe('writes retry a transaction cancelled by a concurrent one', () => {
  let stores: OpenBackend;
  let ctx: CoreContext;
  let cancelNext = 0;
  beforeAll(async () => {
    stores = await embedded.open();
    const metadata: MetadataStore = withTransact(stores.metadata, async (ops) => {
      if (cancelNext > 0) {
        cancelNext--;
        throw new TransactionContentionError('cancelled: a transaction is in progress');
      }
      return stores.metadata.transact(ops);
    });
    ctx = { metadata, segments: stores.segments, now: Date.now, newId: randomUUID };
  });
  afterAll(() => stores.close());

  const contended = async <T>(operation: () => Promise<T>): Promise<T> => {
    cancelNext = 2;
    const result = await operation();
    expect(cancelNext).toBe(0);
    return result;
  };

  it('for topics, leadership, producers, keys and groups', async () => {
    await contended(() => createTopic(ctx, { name: 'busy', partitions: 2, config: {} }));
    await contended(() => alterTopicConfig(ctx, 'busy', { 'retention.ms': '1000' }));
    expect((await contended(() => takeLeadership(ctx, 'busy', 0))).leaderEpoch).toBe(1);
    expect((await contended(() => initProducer(ctx, 'tx-1'))).producerEpoch).toBe(0);
    expect((await contended(() => createApiKey(ctx, 'svc'))).key).toMatch(/^trb_/);
    const member = await contended(() =>
      joinGroup(ctx, 'g', {
        topics: ['busy'],
        sessionTimeoutMs: 10_000,
        autoOffsetReset: 'latest',
      }),
    );
    expect((await contended(() => heartbeat(ctx, 'g', member.memberId))).generation).toBe(
      member.generation,
    );
    await contended(() =>
      commitOffsets(ctx, 'g', {
        memberId: member.memberId,
        generation: member.generation,
        offsets: [{ topic: 'busy', partition: 0, offset: 0 }],
      }),
    );
    await contended(() => deleteTopic(ctx, 'busy'));
  });
});

/**
 * A single conditional write has no retry token: when its answer is lost and the request
 * is sent again, the retry's condition fails against the write itself. Writers that can
 * recognise their own write (a topic id or producer id only they hold) answer as if the
 * first attempt had been heard.
 */
describe('a write whose answer was lost, retried', () => {
  let stores: OpenBackend;
  let ctx: CoreContext;
  /** The next single write to an item under this partition key loses its answer once. */
  let loseAnswerFor = '';
  beforeAll(async () => {
    stores = await embedded.open();
    // The write lands, then is sent again as if its answer never came back.
    const metadata: MetadataStore = withTransact(stores.metadata, async (ops) => {
      await stores.metadata.transact(ops);
      const [only] = ops;
      if (ops.length === 1 && only && loseAnswerFor && only.key.pk.startsWith(loseAnswerFor)) {
        loseAnswerFor = '';
        await stores.metadata.transact(ops);
      }
    });
    ctx = { metadata, segments: stores.segments, now: Date.now, newId: randomUUID };
  });
  afterAll(() => stores.close());

  it('still creates the topic, rather than calling it a duplicate', async () => {
    loseAnswerFor = 'topics';
    const created = await createTopic(ctx, { name: 'heard', partitions: 3, config: {} });
    expect(created.partitions).toHaveLength(3);
    expect(loseAnswerFor).toBe('');
  });

  it('still initialises the producer', async () => {
    loseAnswerFor = 'producer#';
    const producer = await initProducer(ctx, undefined);
    expect(producer.producerEpoch).toBe(0);
    expect(loseAnswerFor).toBe('');
  });
});
