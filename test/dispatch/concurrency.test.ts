import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionEvent } from '../../sdk/src/subscriptions.ts';
import { createTopic, produce } from '../support/api.ts';
import { backends, type OpenBackend } from '../support/backends.ts';
import { testDispatcher } from '../support/dispatch.ts';
import { type LambdaServer, startLambdaServer } from '../support/lambda-server.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('two dispatchers at once on $name', (backend) => {
  let stores: OpenBackend;
  let lambda: LambdaServer;
  let server: RunningServer;
  beforeAll(async () => {
    stores = await backend.open();
    lambda = await startLambdaServer();
    // The API alone: the two dispatchers below are the only ones.
    server = await startServer(backend, { stores });
  });
  afterAll(async () => {
    await server?.stop();
    await lambda?.close();
    await stores?.close();
  });

  it('never deliver one partition at the same time, and between them deliver everything in order', async () => {
    const partitions = 3;
    const inFlight = new Map<number, number>();
    const delivered = new Map<number, number[]>();
    let overlapped = 0;
    lambda.functions.set('shared-fn', {
      handler: async (raw) => {
        const records = Object.values((raw as SubscriptionEvent).records).flat();
        const partition = records[0]?.partition ?? -1;
        if ((inFlight.get(partition) ?? 0) > 0) overlapped++;
        inFlight.set(partition, (inFlight.get(partition) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
        delivered.set(partition, [
          ...(delivered.get(partition) ?? []),
          ...records.map((r) => r.offset),
        ]);
        inFlight.set(partition, (inFlight.get(partition) ?? 1) - 1);
        return null;
      },
    });
    await createTopic(server.url, 'shared', partitions);
    const created = await call(server.url, 'POST', '/v1/topics/shared/subscriptions', {
      name: 's',
      target: { type: 'lambda', function: 'shared-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 4,
    });
    expect(created.status).toBe(201);

    // Two dispatchers (two processes, two Lambda instances) running passes back to back
    // over the same partitions while records arrive.
    const deliveries = [0, 0];
    const dispatchers = deliveries.map((_, i) =>
      testDispatcher(stores, lambda, {
        metrics: {
          delivery: () => {
            deliveries[i] = (deliveries[i] ?? 0) + 1;
          },
          pass: () => {},
        },
      }),
    );
    let running = true;
    const loops = dispatchers.map(async (dispatcher) => {
      while (running) {
        await dispatcher.pass({ kind: 'all' }, Date.now() + 5_000);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    });
    // Records arrive until both dispatchers have delivered some (on a busy machine one can
    // win every race for a while), 120 at least.
    let total = 0;
    const deadline = Date.now() + 30_000;
    while ((total < 120 || deliveries.some((n) => n === 0)) && Date.now() < deadline) {
      await produce(
        server.url,
        'shared',
        Array.from({ length: 6 }, (_, j) => ({ value: total + j, partition: j % partitions })),
      );
      total += 6;
      if (total >= 120) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    while ([...delivered.values()].flat().length < total && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    running = false;
    for (const dispatcher of dispatchers) dispatcher.stop();
    await Promise.all(loops);

    expect(overlapped).toBe(0);
    for (let partition = 0; partition < partitions; partition++) {
      // Each once, in order: no failure and no crash, so no redelivery either.
      expect(delivered.get(partition)).toEqual([...Array(total / partitions).keys()]);
    }
    // Both delivered: the partitions changed hands between them.
    expect(
      deliveries.every((n) => n > 0),
      String(deliveries),
    ).toBe(true);
  });
  it('hand a partition over at once when a dispatcher stops mid-stream, not after its lease', async () => {
    const delivered: number[] = [];
    lambda.functions.set('handover-fn', {
      handler: async (raw) => {
        const records = Object.values((raw as SubscriptionEvent).records).flat();
        await new Promise((resolve) => setTimeout(resolve, 30));
        delivered.push(...records.map((r) => r.offset));
        return null;
      },
    });
    await createTopic(server.url, 'handover', 1);
    const created = await call(server.url, 'POST', '/v1/topics/handover/subscriptions', {
      name: 'h',
      target: { type: 'lambda', function: 'handover-fn' },
      startingPosition: 'TRIM_HORIZON',
      batchSize: 1,
    });
    expect(created.status).toBe(201);
    await produce(
      server.url,
      'handover',
      Array.from({ length: 20 }, (_, i) => ({ value: i })),
    );
    // A lease of 20 s: the second dispatcher must not have to wait it out.
    const config = { deliveryTimeoutMs: 10_000 };
    const first = testDispatcher(stores, lambda, { config });
    const pass = first.pass({ kind: 'all' }, Date.now() + 60_000);
    while (delivered.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    // npm start stopped with Ctrl-C (or a Lambda invocation ending) in the middle.
    first.stop();
    await pass;
    const stoppedAt = delivered.length;
    expect(stoppedAt).toBeLessThan(20);

    const second = testDispatcher(stores, lambda, { config });
    const startedAt = Date.now();
    while (delivered.length < 20 && Date.now() - startedAt < 5_000) {
      await second.pass({ kind: 'all' }, Date.now() + 30_000);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(delivered).toEqual([...Array(20).keys()]);
  });
});
