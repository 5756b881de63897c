import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultRetryPolicy, Tributary } from '../../sdk/src/index.ts';
import { fetchAll } from '../support/api.ts';
import { embedded } from '../support/backends.ts';
import { type FlakyProxy, startFlakyProxy } from '../support/flaky-proxy.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

/** The client's retry policy, faster than the default so the tests are short. */
const retry = { initialDelayMs: 20, maxDelayMs: 200 };
/**
 * The longest the client's own retries last: every wait at its ceiling. A failure that
 * lasts longer outlives them, as a spike of tens of seconds outlives the default ~3 s.
 */
const clientRetriesMs = Array.from({ length: defaultRetryPolicy.maxAttempts - 1 }, (_, i) =>
  Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** i),
).reduce((a, b) => a + b, 0);

/**
 * The producer's retries until `deliveryTimeoutMs`, through a real HTTP endpoint that
 * answers produce requests with retryable failures for a while and then forwards them to
 * the server. The retrying is the SDK's, the same whatever stores the server, so this runs
 * on one backend; that a replayed idempotent produce writes nothing is checked on every
 * backend in producer.test.ts.
 */
describe('the producer’s delivery timeout', () => {
  let server: RunningServer;
  let proxy: FlakyProxy;
  let tributary: Tributary;

  beforeAll(async () => {
    server = await startServer(embedded);
    proxy = await startFlakyProxy(server.url);
    tributary = new Tributary({ url: proxy.url, retry });
  });
  afterEach(() => proxy.failProduces(0, []));
  afterAll(async () => {
    await proxy.close();
    await server.close();
  });

  it('rides out failures longer than the client’s retries, writing each record once', async () => {
    await tributary.topics.create({ name: 'spike', partitions: 2 });
    const producer = tributary.producer({ deliveryTimeoutMs: 10_000 });
    const failingMs = clientRetriesMs + 1_000;
    // Throttled, then a write that lands but whose answer is a gateway timeout, then
    // unavailable, in turn: every retry after the second is a replay of a written request.
    proxy.failProduces(failingMs, ['throttled', 'gateway-timeout', 'unavailable']);
    const attemptsBefore = proxy.produceAttempts();
    const started = Date.now();
    const sends = ['alice', 'bob', 'carol'].map((key) =>
      producer.send({ topic: 'spike', records: [{ key, value: { key } }] }),
    );
    // close() waits for the sends being retried, and they succeed.
    await producer.close();
    const acks = (await Promise.all(sends)).flat();
    expect(Date.now() - started).toBeGreaterThanOrEqual(failingMs);
    expect(proxy.produceAttempts() - attemptsBefore).toBeGreaterThan(
      defaultRetryPolicy.maxAttempts,
    );

    const stored = [
      ...(await fetchAll(server.url, 'spike', 0)).map((r) => ({ partition: 0, ...r })),
      ...(await fetchAll(server.url, 'spike', 1)).map((r) => ({ partition: 1, ...r })),
    ];
    expect(stored.map((r) => r.key).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(acks.map((a) => `${a.partition}@${a.offset}`).sort()).toEqual(
      stored.map((r) => `${r.partition}@${r.offset}`).sort(),
    );
  });

  it('fails a send still failing after deliveryTimeoutMs with DELIVERY_TIMEOUT and the last error', async () => {
    await tributary.topics.create({ name: 'outage', partitions: 1 });
    const producer = tributary.producer({ deliveryTimeoutMs: 600 });
    proxy.failProduces(Number.POSITIVE_INFINITY, ['unavailable']);
    const started = Date.now();
    const send = failure(producer.send({ topic: 'outage', records: [{ value: 'lost' }] }));
    await producer.close();
    const closedAfter = Date.now() - started;
    const error = await send;
    expect(error).toMatchObject({
      code: 'DELIVERY_TIMEOUT',
      retryable: true,
      details: { deliveryTimeoutMs: 600, lastCode: 'STORAGE_UNAVAILABLE', lastStatus: 503 },
    });
    expect(error.message).toContain('deliveryTimeoutMs (600 ms)');
    expect(error.cause).toMatchObject({ code: 'STORAGE_UNAVAILABLE', status: 503 });
    expect(error.details.attempts).toBeGreaterThan(1);
    // Not given up before the delivery timeout, and close() waited little longer: the last
    // attempt, made at the deadline.
    expect(closedAfter).toBeGreaterThanOrEqual(600);
    expect(closedAfter).toBeLessThan(600 + 500);
    expect(await fetchAll(server.url, 'outage', 0)).toEqual([]);
  });

  it('fails a send at once on an error that is not retryable, also after retrying others', async () => {
    await tributary.topics.create({
      name: 'strict',
      partitions: 1,
      config: { 'max.message.bytes': '100' },
    });
    const producer = tributary.producer({ deliveryTimeoutMs: 30_000 });
    const tooLarge = { topic: 'strict', records: [{ value: 'x'.repeat(200) }] };

    let attemptsBefore = proxy.produceAttempts();
    let started = Date.now();
    expect(await failure(producer.send(tooLarge))).toMatchObject({ code: 'RECORD_TOO_LARGE' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(proxy.produceAttempts() - attemptsBefore).toBe(1);

    // Throttled for longer than the client's retries, then refused by the server: the
    // refusal ends the send as soon as it comes, long before the delivery timeout.
    const throttledMs = clientRetriesMs + 500;
    proxy.failProduces(throttledMs, ['throttled']);
    attemptsBefore = proxy.produceAttempts();
    started = Date.now();
    expect(await failure(producer.send(tooLarge))).toMatchObject({
      code: 'RECORD_TOO_LARGE',
      status: 400,
    });
    expect(Date.now() - started).toBeLessThan(throttledMs + retry.maxDelayMs + 1_000);
    const attempts = proxy.produceAttempts() - attemptsBefore;
    await new Promise((resolve) => setTimeout(resolve, 3 * retry.maxDelayMs));
    expect(proxy.produceAttempts() - attemptsBefore).toBe(attempts);
    await producer.close();
    expect(await fetchAll(server.url, 'strict', 0)).toEqual([]);
  });
});
