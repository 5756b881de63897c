import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionEvent } from '../../sdk/src/subscriptions.ts';
import { createTopic, produce } from '../support/api.ts';
import { backends, type OpenBackend } from '../support/backends.ts';
import { testDispatcher } from '../support/dispatch.ts';
import { type LambdaServer, startLambdaServer } from '../support/lambda-server.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('a batching window longer than a pass on $name', (backend) => {
  let stores: OpenBackend;
  let lambda: LambdaServer;
  let server: RunningServer;
  beforeAll(async () => {
    stores = await backend.open();
    lambda = await startLambdaServer();
    // The API alone: the passes below are the only dispatcher.
    server = await startServer(backend, { stores });
  });
  afterAll(async () => {
    await server?.stop();
    await lambda?.close();
    await stores?.close();
  });

  it('closes when the window is up, though each pass ends before it does', async () => {
    const deliveredAt: number[] = [];
    lambda.functions.set('window-fn', {
      handler: async (raw) => {
        const records = Object.values((raw as SubscriptionEvent).records).flat();
        for (const _ of records) deliveredAt.push(Date.now());
        return null;
      },
    });
    await createTopic(server.url, 'windowed', 1);
    const windowMs = 1_500;
    const created = await call(server.url, 'POST', '/v1/topics/windowed/subscriptions', {
      name: 'w',
      target: { type: 'lambda', function: 'window-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 100,
      maxBatchingWindowMs: windowMs,
    });
    expect(created.status).toBe(201);

    // Passes shorter than the window, back to back: a Lambda dispatcher's invocations (or
    // the local server's passes, against a window of minutes).
    const dispatcher = testDispatcher(stores, lambda, { config: { deliveryTimeoutMs: 100 } });
    let running = true;
    const loop = (async () => {
      while (running) {
        await dispatcher.pass({ kind: 'all' }, Date.now() + 400);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const producedAt = Date.now();
    await produce(server.url, 'windowed', [{ value: 1 }]);
    const deadline = producedAt + 4 * windowMs;
    while (deliveredAt.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    running = false;
    dispatcher.stop();
    await loop;

    expect(deliveredAt, 'delivered within the window and a margin').toHaveLength(1);
    // Not before the window closed (a small allowance for clocks and rounding).
    expect((deliveredAt[0] ?? 0) - producedAt).toBeGreaterThanOrEqual(windowMs - 100);
  });
});
