import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionEvent } from '../../sdk/src/subscriptions.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends, type OpenBackend } from '../support/backends.ts';
import { type DispatchServer, eventually, startDispatchServer } from '../support/dispatch.ts';
import { type LambdaServer, startLambdaServer, Throttled } from '../support/lambda-server.ts';
import { call } from '../support/server.ts';

/** What a handler saw: every record of every event, in the order delivered. */
interface Seen {
  readonly partition: number;
  readonly offset: number;
  readonly value: unknown;
}

const decode = (event: SubscriptionEvent): Seen[] =>
  Object.values(event.records).flatMap((records) =>
    records.map((r) => ({
      partition: r.partition,
      offset: r.offset,
      value: r.value === null ? null : JSON.parse(Buffer.from(r.value, 'base64').toString()),
    })),
  );

const asEvent = (event: unknown): SubscriptionEvent => event as SubscriptionEvent;

describe.each(backends)('push delivery on $name', (backend) => {
  let stores: OpenBackend;
  let lambda: LambdaServer;
  let server: DispatchServer;
  beforeAll(async () => {
    stores = await backend.open();
    lambda = await startLambdaServer();
    server = await startDispatchServer(stores, lambda);
  });
  afterAll(async () => {
    await server?.close();
    await lambda?.close();
    await stores?.close();
  });

  const subscribe = async (topic: string, body: Record<string, unknown>) => {
    const response = await call(server.url, 'POST', `/v1/topics/${topic}/subscriptions`, body);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  };
  const describeSub = async (topic: string, name: string) =>
    (await call(server.url, 'GET', `/v1/topics/${topic}/subscriptions/${name}`)).body;

  it('delivers every record to a Lambda function in the Kafka event shape, in order per partition', async () => {
    const seen: Seen[] = [];
    const events: SubscriptionEvent[] = [];
    lambda.functions.set('orders-fn', {
      handler: async (event) => {
        events.push(asEvent(event));
        seen.push(...decode(asEvent(event)));
        return { batchItemFailures: [] };
      },
    });
    await createTopic(server.url, 'orders', 3);
    await subscribe('orders', {
      name: 'projector',
      target: { type: 'lambda', function: 'orders-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 7,
    });
    const records = Array.from({ length: 60 }, (_, i) => ({
      key: `k${i % 5}`,
      value: { i },
      headers: [{ name: 'trace', value: `t${i}` }],
    }));
    await produce(server.url, 'orders', records.slice(0, 30));
    await produce(server.url, 'orders', records.slice(30));
    await eventually(() => seen.length >= 60, 'all 60 records');

    for (const partition of [0, 1, 2]) {
      const delivered = seen.filter((s) => s.partition === partition).map((s) => s.offset);
      const stored = await fetchAll(server.url, 'orders', partition);
      expect(delivered).toEqual(stored.map((r) => r.offset));
    }
    const [event] = events;
    expect(event?.eventSource).toBe('SelfManagedKafka');
    const [key, batch] = Object.entries(event?.records ?? {})[0] ?? [];
    expect(key).toMatch(/^orders-\d$/);
    expect(batch?.length).toBeLessThanOrEqual(7);
    expect(batch?.[0]).toMatchObject({
      topic: 'orders',
      timestampType: 'CREATE_TIME',
      key: expect.any(String),
      headers: [{ trace: expect.any(Array) }],
    });
    const description = await describeSub('orders', 'projector');
    expect(description.lag).toBe(0);
    expect(
      description.partitions.reduce((n: number, p: { delivered: number }) => n + p.delivered, 0),
    ).toBe(60);
  });

  it('resumes from the lowest failed offset of a partial batch response', async () => {
    const seen: number[] = [];
    let failedOnce = false;
    lambda.functions.set('partial-fn', {
      handler: async (event) => {
        const records = decode(asEvent(event));
        seen.push(...records.map((r) => r.offset));
        const bad = records.find((r) => r.offset === 4);
        if (bad && !failedOnce) {
          failedOnce = true;
          return { batchItemFailures: [{ itemIdentifier: '4' }, { itemIdentifier: '6' }] };
        }
        return {};
      },
    });
    await createTopic(server.url, 'partial', 1);
    await subscribe('partial', {
      name: 'p',
      target: { type: 'lambda', function: 'partial-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 10,
    });
    await produce(
      server.url,
      'partial',
      Array.from({ length: 10 }, (_, i) => ({ value: i })),
    );
    await eventually(() => seen.filter((o) => o === 9).length >= 2, 'the retry');
    // First 0..9, then from 4 again: records before the lowest failure are not redelivered.
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]);
  });

  it('retries throttled invocations without counting them, and function errors with backoff', async () => {
    let calls = 0;
    lambda.functions.set('flaky-fn', {
      handler: async () => {
        calls++;
        if (calls <= 3) throw new Throttled('slow down');
        if (calls <= 5) throw new Error('boom');
        return null;
      },
    });
    await createTopic(server.url, 'flaky', 1);
    await subscribe('flaky', {
      name: 'f',
      target: { type: 'lambda', function: 'flaky-fn' },
      startingPosition: 'TRIM_HORIZON',
      maxRetryAttempts: 2,
      onFailure: null,
    });
    await produce(server.url, 'flaky', [{ value: 'x' }]);
    await eventually(async () => (await describeSub('flaky', 'f')).lag === 0, 'delivery');
    const [partition] = (await describeSub('flaky', 'f')).partitions;
    // Three throttles were not attempts; two function errors were, within maxRetryAttempts 2.
    expect(partition).toMatchObject({ delivered: 1, failed: 5, state: 'idle' });
    expect(partition.lastError.message).toContain('boom');
  });
});
