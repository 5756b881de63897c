import { describe, expect, it } from 'vitest';
import {
  type SubscriptionEvent,
  type SubscriptionEventResponse,
  Tributary,
} from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { eventually } from '../support/dispatch.ts';
import { dispatchSuite } from '../support/dispatch-suite.ts';
import { failure } from './failure.ts';

/** The SDK's `topics.subscriptions`, and a handler typed with its event types. */
describe.each(backends)('SDK subscriptions ($name)', (backend) => {
  const suite = dispatchSuite(backend);
  const tributary = () => new Tributary({ url: suite.server.url });

  it('creates, lists, describes, updates and deletes, and a typed handler receives the records', async () => {
    const values: string[] = [];
    const handler = async (event: SubscriptionEvent): Promise<SubscriptionEventResponse> => {
      for (const records of Object.values(event.records)) {
        for (const record of records) values.push(atob(record.value ?? ''));
      }
      return { batchItemFailures: [] };
    };
    suite.lambda.functions.set('typed-fn', {
      handler: (event) => handler(event as SubscriptionEvent),
    });
    await tributary().topics.create({ name: 'sdk-orders', partitions: 2 });
    const created = await tributary().topics.subscriptions.create('sdk-orders', {
      name: 'typed',
      target: { type: 'lambda', function: 'typed-fn' },
      batchSize: 10,
    });
    expect(created).toMatchObject({ name: 'typed', state: 'active', batchSize: 10, lag: 0 });
    expect((await tributary().topics.subscriptions.list('sdk-orders')).map((s) => s.name)).toEqual([
      'typed',
    ]);
    const producer = tributary().producer();
    await producer.send({ topic: 'sdk-orders', records: [{ key: 'a', value: 'hello' }] });
    await producer.close();
    await eventually(() => values.length === 1, 'the record');
    expect(values).toEqual(['"hello"']);

    const paused = await tributary().topics.subscriptions.update('sdk-orders', 'typed', {
      enabled: false,
    });
    expect(paused.state).toBe('disabled');
    await tributary().topics.subscriptions.delete('sdk-orders', 'typed');
    expect(
      await failure(tributary().topics.subscriptions.describe('sdk-orders', 'typed')),
    ).toMatchObject({
      code: 'SUBSCRIPTION_NOT_FOUND',
      status: 404,
    });
  });

  it("rotates a webhook's signing secret, shown once", async () => {
    await tributary().topics.create({ name: 'sdk-hooks' });
    const created = await tributary().topics.subscriptions.create('sdk-hooks', {
      name: 'hook',
      target: { type: 'http', url: 'http://127.0.0.1:9/never' },
      enabled: false,
    });
    const rotated = await tributary().topics.subscriptions.update('sdk-hooks', 'hook', {
      rotateSecret: true,
    });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(
      (await tributary().topics.subscriptions.describe('sdk-hooks', 'hook')).secret,
    ).toBeUndefined();
    expect(
      await failure(tributary().topics.subscriptions.update('sdk-hooks', 'hook', { batchSize: 0 })),
    ).toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
  });
});
