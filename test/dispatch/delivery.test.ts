import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type SubscriptionEvent, verifySignature } from '../../sdk/src/subscriptions.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { eventually } from '../support/dispatch.ts';
import { dispatchSuite } from '../support/dispatch-suite.ts';
import { type LambdaFunction, Throttled } from '../support/lambda-server.ts';
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
  const suite = dispatchSuite(backend);

  const subscribe = async (topic: string, body: Record<string, unknown>) => {
    const response = await call(
      suite.server.url,
      'POST',
      `/v1/topics/${topic}/subscriptions`,
      body,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  };
  /** A topic, a Lambda function, and a subscription of it delivering from the start. */
  const subscribeFunction = async (
    topic: string,
    partitions: number,
    name: string,
    fn: LambdaFunction,
    settings: Record<string, unknown>,
  ) => {
    suite.lambda.functions.set(`${topic}-fn`, fn);
    await createTopic(suite.server.url, topic, partitions);
    return subscribe(topic, {
      name,
      target: { type: 'lambda', function: `${topic}-fn` },
      startingPosition: 'TRIM_HORIZON',
      ...settings,
    });
  };
  const describeSub = async (topic: string, name: string) =>
    (await call(suite.server.url, 'GET', `/v1/topics/${topic}/subscriptions/${name}`)).body;

  it('delivers every record to a Lambda function in the Kafka event shape, in order per partition', async () => {
    const seen: Seen[] = [];
    const events: SubscriptionEvent[] = [];
    await subscribeFunction(
      'orders',
      3,
      'projector',
      {
        handler: async (event) => {
          events.push(asEvent(event));
          seen.push(...decode(asEvent(event)));
          return { batchItemFailures: [] };
        },
      },
      {
        batchSize: 7,
      },
    );
    const records = Array.from({ length: 60 }, (_, i) => ({
      key: `k${i % 5}`,
      value: { i },
      headers: [{ name: 'trace', value: `t${i}` }],
    }));
    await produce(suite.server.url, 'orders', records.slice(0, 30));
    await produce(suite.server.url, 'orders', records.slice(30));
    await eventually(() => seen.length >= 60, 'all 60 records');

    for (const partition of [0, 1, 2]) {
      const delivered = seen.filter((s) => s.partition === partition).map((s) => s.offset);
      const stored = await fetchAll(suite.server.url, 'orders', partition);
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
    await subscribeFunction(
      'partial',
      1,
      'p',
      {
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
      },
      {
        batchSize: 10,
      },
    );
    await produce(
      suite.server.url,
      'partial',
      Array.from({ length: 10 }, (_, i) => ({ value: i })),
    );
    await eventually(() => seen.filter((o) => o === 9).length >= 2, 'the retry');
    // First 0..9, then from 4 again: records before the lowest failure are not redelivered.
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]);
  });

  it('retries throttled invocations without counting them, and function errors with backoff', async () => {
    let calls = 0;
    await subscribeFunction(
      'flaky',
      1,
      'f',
      {
        handler: async () => {
          calls++;
          if (calls <= 3) throw new Throttled('slow down');
          if (calls <= 5) throw new Error('boom');
          return null;
        },
      },
      {
        maxRetryAttempts: 2,
        onFailure: null,
      },
    );
    await produce(suite.server.url, 'flaky', [{ value: 'x' }]);
    await eventually(async () => (await describeSub('flaky', 'f')).lag === 0, 'delivery');
    const [partition] = (await describeSub('flaky', 'f')).partitions;
    // Three throttles were not attempts; two function errors were, within maxRetryAttempts 2.
    expect(partition).toMatchObject({ delivered: 1, failed: 5, state: 'idle' });
    expect(partition.lastError.message).toContain('boom');
  });

  it('bisects a failing batch down to the poisoned record and dead-letters it alone, with headers saying why', async () => {
    const seen: number[] = [];
    await createTopic(suite.server.url, 'bisect.dlq', 1);
    await subscribeFunction(
      'bisect',
      1,
      'b',
      {
        handler: async (event) => {
          const records = decode(asEvent(event));
          if (records.some((r) => r.value === 'poison')) throw new Error('cannot parse poison');
          seen.push(...records.map((r) => r.offset));
          return null;
        },
      },
      {
        batchSize: 16,
        bisectBatchOnFunctionError: true,
        maxRetryAttempts: 1,
        onFailure: { topic: 'bisect.dlq' },
      },
    );
    const values = Array.from({ length: 16 }, (_, i) => (i === 11 ? 'poison' : `ok-${i}`));
    await produce(
      suite.server.url,
      'bisect',
      values.map((value) => ({ key: 'same', value })),
    );
    await eventually(async () => (await describeSub('bisect', 'b')).lag === 0, 'the batch');
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(16).keys()].filter((o) => o !== 11));
    const dead = await fetchAll(suite.server.url, 'bisect.dlq', 0, 0, 'text');
    expect(dead.map((r) => r.value)).toEqual(['"poison"']);
    const headers = Object.fromEntries(dead[0]?.headers.map((h) => [h.name, h.value]) ?? []);
    expect(headers).toMatchObject({
      'tributary.subscription': 'b',
      'tributary.topic': 'bisect',
      'tributary.partition': '0',
      'tributary.offset': '11',
      'tributary.attempts': '2',
    });
    expect(headers['tributary.error']).toContain('cannot parse poison');
    expect(dead[0]?.key).toBe('same');
    const [partition] = (await describeSub('bisect', 'b')).partitions;
    expect(partition).toMatchObject({ deadLettered: 1, delivered: 15, state: 'idle' });
  });

  it('waits at a record whose retries are exhausted when there is no onFailure, and goes on once changed', async () => {
    let healthy = false;
    const seen: number[] = [];
    await subscribeFunction(
      'waits',
      1,
      'w',
      {
        handler: async (event) => {
          if (!healthy) throw new Error('bug in handler');
          seen.push(...decode(asEvent(event)).map((r) => r.offset));
          return null;
        },
      },
      {
        maxRetryAttempts: 1,
      },
    );
    await produce(suite.server.url, 'waits', [{ value: 1 }, { value: 2 }]);
    await eventually(async () => (await describeSub('waits', 'w')).state === 'waiting', 'waiting');
    const waiting = await describeSub('waits', 'w');
    expect(waiting.partitions[0]).toMatchObject({
      state: 'waiting',
      position: 0,
      lag: 2,
      attempts: 2,
    });
    expect(seen).toEqual([]);
    // The fix is deployed; an update (any) makes the waiting partition try again at once.
    healthy = true;
    const patched = await call(suite.server.url, 'PATCH', '/v1/topics/waits/subscriptions/w', {
      batchSize: 50,
    });
    expect(patched.status).toBe(200);
    await eventually(() => seen.length === 2, 'delivery after the fix');
    expect(seen).toEqual([0, 1]);
  });

  it('dead-letters failed records older than maxRecordAgeMs without waiting for more retries', async () => {
    await createTopic(suite.server.url, 'aged.dlq', 1);
    await subscribeFunction(
      'aged',
      1,
      'a',
      {
        handler: async () => {
          throw new Error('down');
        },
      },
      {
        maxRecordAgeMs: 60_000,
        onFailure: { topic: 'aged.dlq' },
      },
    );
    const old = Date.now() - 2 * 3_600_000;
    await produce(suite.server.url, 'aged', [{ value: 'stale', timestamp: old }]);
    await produce(suite.server.url, 'aged', [{ value: 'fresh' }]);
    await eventually(
      async () => (await fetchAll(suite.server.url, 'aged.dlq', 0, 0, 'text')).length === 1,
      'the stale record dead-lettered',
    );
    // The fresh record keeps retrying (no retry limit, and it is not too old). The dead
    // letter is readable a moment before the cursor moves past it, and the fresh record is
    // `delivering` until its first failure is saved: wait for that.
    await eventually(
      async () => (await describeSub('aged', 'a')).partitions[0]?.state === 'retrying',
      'the fresh record retrying',
    );
    const sub = await describeSub('aged', 'a');
    expect(sub.partitions[0]).toMatchObject({ position: 1, deadLettered: 1, state: 'retrying' });
    const [dead] = await fetchAll(suite.server.url, 'aged.dlq', 0, 0, 'text');
    expect(dead?.headers.find((h) => h.name === 'tributary.attempts')?.value).toBe('1');
    // The added headers are text: read as JSON, the refusal names the header, not the
    // value (which is JSON here).
    const asJson = await call(
      suite.server.url,
      'GET',
      '/v1/topics/aged.dlq/partitions/0/records?offset=0',
    );
    expect(asJson.status).toBe(422);
    expect(asJson.body.error).toMatchObject({ header: 'tributary.subscription' });
    expect(asJson.body.error.message).toMatch(
      /^The value of header "tributary\.subscription" of the record/,
    );
  });

  it('delivers only records whose JSON value matches the filter; the rest count as delivered', async () => {
    const seen: unknown[] = [];
    await subscribeFunction(
      'filtered',
      1,
      'big-orders',
      {
        handler: async (event) => {
          seen.push(...decode(asEvent(event)).map((r) => r.value));
          return null;
        },
      },
      {
        filter: { value: { type: ['order'], amount: [{ numeric: ['>=', 100] }] } },
      },
    );
    await produce(suite.server.url, 'filtered', [
      { value: { type: 'order', amount: 150 } },
      { value: { type: 'order', amount: 5 } },
      { value: { type: 'refund', amount: 500 } },
      { value: 'not an object' },
      { value: { type: 'order', amount: 100, note: 'edge' } },
    ]);
    await eventually(async () => (await describeSub('filtered', 'big-orders')).lag === 0, 'all');
    expect(seen).toEqual([
      { type: 'order', amount: 150 },
      { type: 'order', amount: 100, note: 'edge' },
    ]);
    const [partition] = (await describeSub('filtered', 'big-orders')).partitions;
    expect(partition).toMatchObject({ delivered: 2, filtered: 3, position: 5 });
  });

  it('stops delivering when the topic is deleted, and removes the subscription', async () => {
    let calls = 0;
    await subscribeFunction(
      'ephemeral',
      1,
      'e',
      {
        handler: async () => {
          calls++;
          return null;
        },
      },
      {},
    );
    await produce(suite.server.url, 'ephemeral', [{ value: 1 }]);
    await eventually(() => calls === 1, 'the first delivery');
    expect((await call(suite.server.url, 'DELETE', '/v1/topics/ephemeral')).status).toBe(204);
    await createTopic(suite.server.url, 'ephemeral', 1);
    await produce(suite.server.url, 'ephemeral', [{ value: 2 }]);
    const list = await call(suite.server.url, 'GET', '/v1/topics/ephemeral/subscriptions');
    expect(list.body.subscriptions).toEqual([]);
    await eventually(
      async () =>
        (await suite.stores.metadata.query('subscriptions')).every((i) => !i.sk.endsWith('#e')),
      'the old subscription purged',
    );
    expect(calls).toBe(1);
  });

  it('POSTs signed webhooks a receiver can verify with the SDK, with its own headers', async () => {
    const received: { body: string; signature: string; headers: IncomingHttpHeaders }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({
          body,
          signature: String(req.headers['tributary-signature']),
          headers: req.headers,
        });
        res.writeHead(received.length === 1 ? 503 : 200).end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const { port } = receiver.address() as AddressInfo;
    try {
      await createTopic(suite.server.url, 'hooked', 1);
      const created = await subscribe('hooked', {
        name: 'h',
        target: {
          type: 'http',
          url: `http://127.0.0.1:${port}/orders`,
          headers: { authorization: 'Bearer receiver-token' },
        },
        startingPosition: 'TRIM_HORIZON',
      });
      expect(created.secret).toMatch(/^whsec_/);
      expect(created.target.headers).toEqual({ authorization: '****' });
      const described = await describeSub('hooked', 'h');
      expect(described.secret).toBeUndefined();

      await produce(suite.server.url, 'hooked', [{ value: { n: 1 } }]);
      await eventually(() => received.length === 2, 'a retry after the 503');
      for (const { body, signature, headers } of received) {
        expect(await verifySignature({ secret: created.secret, header: signature, body })).toBe(
          true,
        );
        expect(headers.authorization).toBe('Bearer receiver-token');
        expect(headers['tributary-subscription']).toBe('hooked/h');
        const event = JSON.parse(body) as SubscriptionEvent;
        expect(decode(event)).toEqual([{ partition: 0, offset: 0, value: { n: 1 } }]);
      }
      const { body, signature } = received[0] ?? { body: '', signature: '' };
      expect(await verifySignature({ secret: 'whsec_wrong', header: signature, body })).toBe(false);
      expect(
        await verifySignature({ secret: created.secret, header: signature, body: `${body} ` }),
      ).toBe(false);
      const stale = Date.now() + 10 * 60_000;
      expect(
        await verifySignature({ secret: created.secret, header: signature, body, now: stale }),
      ).toBe(false);
    } finally {
      receiver.close();
    }
  });
});
