import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FetchLike, type Producer, partitionForKey, Tributary } from '../../sdk/src/index.ts';
import { fetchAll } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

const utf8 = new TextEncoder();

/**
 * A real fetch that records produce requests and can lose answers: the request reaches the
 * server and is processed, then the caller sees a network error instead of the answer —
 * what a dropped connection after the commit looks like to a client.
 */
function lossyFetch() {
  const produced: string[] = [];
  let toLose = 0;
  const fetchLike: FetchLike = async (url, init) => {
    const response = await fetch(url, init);
    if (init.method === 'POST' && /\/records(\?|$)/.test(url)) {
      produced.push(String(init.body));
      if (toLose > 0) {
        toLose--;
        await response.arrayBuffer();
        throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
      }
    }
    return response;
  };
  return { fetch: fetchLike, produced, loseNextAnswers: (n: number) => (toLose = n) };
}

describe.each(backends)('the SDK producer ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;
  const lossy = lossyFetch();
  /** How far the server's clock runs ahead of real time. */
  let skew = 0;

  beforeAll(async () => {
    server = await startServer(backend, { now: () => Date.now() + skew });
    tributary = new Tributary({
      url: server.url,
      fetch: lossy.fetch,
      retry: { initialDelayMs: 5, maxDelayMs: 20 },
    });
  });
  afterAll(() => server.close());

  it('puts keyed records where Kafka and the server would, and unkeyed ones on one partition per request', async () => {
    await tributary.topics.create({ name: 'placed', partitions: 5 });
    await tributary.topics.create({ name: 'placed-by-server', partitions: 5 });
    const keys = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const producer = tributary.producer();
    const acks = await producer.send({
      topic: 'placed',
      records: keys.map((key) => ({ key, value: key })),
    });
    expect(acks.map((a) => a.partition)).toEqual(
      keys.map((key) => partitionForKey(utf8.encode(key), 5)),
    );
    // The server, partitioning the same keys itself, agrees.
    const byServer = await tributary.produce({
      topic: 'placed-by-server',
      records: keys.map((key) => ({ key, value: key })),
    });
    expect(byServer.map((a) => a.partition)).toEqual(acks.map((a) => a.partition));

    const unkeyed = await producer.send({
      topic: 'placed',
      records: [{ value: 'a' }, { value: 'b' }, { value: 'c', partition: 4 }, { value: 'd' }],
    });
    const sticky = unkeyed[0]?.partition;
    expect(unkeyed.map((a) => a.partition)).toEqual([sticky, sticky, 4, sticky]);
    const next = await producer.send({ topic: 'placed', records: [{ value: 'e' }] });
    expect(next[0]?.partition).toBe(((sticky ?? 0) + 1) % 5);
    await producer.close();
  });

  it('retries a request whose answer was lost without writing it twice', async () => {
    await tributary.topics.create({ name: 'lossy', partitions: 3 });
    const producer = tributary.producer();
    const records = [
      { key: 'a', value: 1, partition: 0 },
      { key: 'b', value: 2, partition: 2 },
      { key: 'c', value: 3, partition: 0 },
    ];
    const before = lossy.produced.length;
    lossy.loseNextAnswers(1);
    const first = await producer.send({ topic: 'lossy', records });
    // Two attempts, byte for byte the same request: the second is answered as a replay.
    const attempts = lossy.produced.slice(before);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toBe(attempts[0]);
    expect(JSON.parse(attempts[0] ?? '').producer.sequence).toEqual({ 0: 0, 2: 0 });
    expect(first.map((a) => [a.partition, a.offset])).toEqual([
      [0, 0],
      [2, 0],
      [0, 1],
    ]);

    lossy.loseNextAnswers(2);
    const second = await producer.send({
      topic: 'lossy',
      records: [{ value: 4, partition: 0 }],
    });
    expect(second.map((a) => [a.partition, a.offset])).toEqual([[0, 2]]);
    expect(JSON.parse(lossy.produced.at(-1) ?? '').producer.sequence).toBe(2);

    // Each record is in the log once, at the offset its acknowledgment gave.
    const partition0 = await fetchAll(server.url, 'lossy', 0);
    expect(partition0.map((r) => [r.offset, r.value])).toEqual([
      [0, 1],
      [1, 3],
      [2, 4],
    ]);
    expect((await fetchAll(server.url, 'lossy', 2)).map((r) => r.value)).toEqual([2]);
    expect(await fetchAll(server.url, 'lossy', 1)).toEqual([]);
    await producer.close();
  });

  it('round-trips binary keys, values and headers exactly; JSON and text values keep their bytes beside them', async () => {
    await tributary.topics.create({ name: 'bytes', partitions: 1 });
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const producer = tributary.producer();
    await producer.send({
      topic: 'bytes',
      records: [
        {
          key: everyByte.subarray(250),
          value: everyByte,
          headers: [{ name: 'h', value: everyByte.subarray(0, 3) }],
        },
        // In the same (base64) request: a JSON value is still stored as its JSON text.
        { key: 'k', value: { n: 1, s: 'é' }, headers: { trace: 'abc' } },
        { value: null },
      ],
    });
    const text = tributary.producer({ format: 'text' });
    await text.send({ topic: 'bytes', records: [{ value: 'plain text' }] });

    const binary = tributary.reader({ topic: 'bytes', partition: 0, format: 'binary' });
    const read = [];
    for await (const record of binary.records()) read.push(record);
    expect(read.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    expect(read[0]?.value).toEqual(everyByte);
    expect(read[0]?.key).toEqual(everyByte.subarray(250));
    expect(read[0]?.headers).toEqual([{ name: 'h', value: everyByte.subarray(0, 3) }]);
    expect(read[1]?.value).toEqual(utf8.encode('{"n":1,"s":"é"}'));
    expect(read[1]?.headers).toEqual([{ name: 'trace', value: utf8.encode('"abc"') }]);
    expect(read[2]?.value).toBeNull();
    expect(read[3]?.value).toEqual(utf8.encode('plain text'));

    const asJson = await tributary.fetch({
      topic: 'bytes',
      partition: 0,
      offset: 1,
      maxRecords: 2,
    });
    expect(asJson.records.map((r) => [r.key, r.value, r.headers])).toEqual([
      ['k', { n: 1, s: 'é' }, [{ name: 'trace', value: 'abc' }]],
      [null, null, []],
    ]);
    const asText = await tributary.fetch({
      topic: 'bytes',
      partition: 0,
      offset: 3,
      format: 'text',
    });
    expect(asText.records[0]?.value).toBe('plain text');
    await Promise.all([producer.close(), text.close()]);
  });

  it('batches sends to a topic by lingerMs and batchSize, answering each send with its own offsets', async () => {
    await tributary.topics.create({ name: 'batched', partitions: 2 });
    const producer = tributary.producer({ lingerMs: 50, batchSize: 10 });
    const before = lossy.produced.length;
    const sends = Array.from({ length: 25 }, (_, i) =>
      producer.send({ topic: 'batched', records: [{ value: i, partition: i % 2 }] }),
    );
    const acks = (await Promise.all(sends)).map((a) => a[0]);
    const requests = lossy.produced.length - before;
    expect(requests).toBeGreaterThanOrEqual(3);
    expect(requests).toBeLessThanOrEqual(5);
    expect(acks.map((a) => a?.partition)).toEqual(sends.map((_, i) => i % 2));
    // Sends are written in the order they were made.
    expect(acks.filter((a) => a?.partition === 0).map((a) => a?.offset)).toEqual(
      Array.from({ length: 13 }, (_, i) => i),
    );

    // flush sends what waits without waiting for lingerMs; close refuses later sends.
    const slow = tributary.producer({ lingerMs: 60_000 });
    const pending = slow.send({ topic: 'batched', records: [{ value: 'late', partition: 1 }] });
    await slow.flush();
    expect((await pending)[0]).toMatchObject({ partition: 1, offset: 12 });
    const lastOne = slow.send({ topic: 'batched', records: [{ value: 'last', partition: 1 }] });
    await slow.close();
    expect((await lastOne)[0]?.offset).toBe(13);
    expect(await failure(slow.send({ topic: 'batched', records: [{ value: 1 }] }))).toMatchObject({
      code: 'CLOSED',
    });
    await producer.close();
  });

  it('by default makes sends that are not awaited one by one, or made concurrently, one request per topic', async () => {
    await tributary.topics.create({ name: 'coalesced', partitions: 3 });
    await tributary.topics.create({ name: 'coalesced-other', partitions: 1 });
    const producer = tributary.producer();
    const keys = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const before = lossy.produced.length;
    // A loop of sends, none awaited; then sends from concurrent tasks, and to another topic.
    const looped = keys
      .slice(0, 20)
      .map((key, i) => producer.send({ topic: 'coalesced', records: [{ key, value: i }] }));
    const concurrent = keys.slice(20).map(async (key, i) => {
      await Promise.resolve();
      return producer.send({ topic: 'coalesced', records: [{ key, value: 20 + i }] });
    });
    const other = producer.send({ topic: 'coalesced-other', records: [{ value: 'x' }] });
    const acks = (await Promise.all([...looped, ...concurrent])).map((a) => a[0]);
    expect((await other)[0]?.offset).toBe(0);
    expect(lossy.produced.length - before).toBe(2);

    // Each send answered with its own record's place: where its key goes, in send order.
    expect(acks.map((a) => a?.partition)).toEqual(
      keys.map((key) => partitionForKey(utf8.encode(key), 3)),
    );
    for (const partition of [0, 1, 2]) {
      const sent = acks.flatMap((a, i) => (a?.partition === partition ? [[a.offset, i]] : []));
      expect(sent.map(([offset]) => offset)).toEqual(sent.map((_, n) => n));
      const stored = await fetchAll(server.url, 'coalesced', partition);
      expect(stored.map((r) => [r.offset, r.value])).toEqual(sent);
    }
    await producer.close();
  });

  it('with lingerMs 0 sends at once, and what is sent meanwhile goes together next', async () => {
    await tributary.topics.create({ name: 'eager', partitions: 1 });
    const requestsFor = async (producer: Producer) => {
      const before = lossy.produced.length;
      await Promise.all(
        [1, 2, 3, 4, 5].map((value) => producer.send({ topic: 'eager', records: [{ value }] })),
      );
      await producer.close();
      return lossy.produced.length - before;
    };
    // The first send goes without waiting for the others; they follow in one request.
    expect(await requestsFor(tributary.producer({ lingerMs: 0 }))).toBe(2);
    // By default all five wait for each other.
    expect(await requestsFor(tributary.producer())).toBe(1);
    expect((await fetchAll(server.url, 'eager', 0)).map((r) => r.value)).toEqual([
      1, 2, 3, 4, 5, 1, 2, 3, 4, 5,
    ]);
  });

  it('fails only the send holding a refused record; the sends it was batched with are written, in order', async () => {
    await tributary.topics.create({ name: 'one-refused', partitions: 1 });
    await tributary.topics.alterConfig('one-refused', { 'max.message.bytes': '100' });
    const producer = tributary.producer();
    const before = lossy.produced.length;
    const sends = [
      [{ value: 'a' }],
      [{ value: 'b' }],
      [{ value: 'c' }, { value: 'x'.repeat(200) }],
      [{ value: 'd' }],
      [{ value: 'e' }],
    ].map((records) => producer.send({ topic: 'one-refused', records }));
    const missing = producer.send({ topic: 'no-such-topic', records: [{ value: 1 }] });
    const settled = await Promise.allSettled(sends);

    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value[0]?.offset : -1))).toEqual([
      0, 1, -1, 2, 3,
    ]);
    const refused = settled[2]?.status === 'rejected' ? settled[2].reason : undefined;
    // Its index counts within the send, as if it had gone alone.
    expect(refused).toMatchObject({ code: 'RECORD_TOO_LARGE', details: { index: 1 } });
    expect(await failure(missing)).toMatchObject({ code: 'TOPIC_NOT_FOUND' });
    // The request refused, then the two sends before, the refused one alone, the two after.
    expect(lossy.produced.length - before).toBe(4);
    // Nothing of the refused send, the rest once each, in the order sent. The sequences
    // stayed right through the resends, or the server would have refused them as out of order.
    expect((await fetchAll(server.url, 'one-refused', 0)).map((r) => r.value)).toEqual([
      'a',
      'b',
      'd',
      'e',
    ]);
    const [ack] = await producer.send({ topic: 'one-refused', records: [{ value: 'f' }] });
    expect(ack?.offset).toBe(4);
    await producer.close();
  });

  it('retries a batched request whose answer was lost without writing any of its sends twice', async () => {
    await tributary.topics.create({ name: 'coalesced-lossy', partitions: 2 });
    const producer = tributary.producer();
    const before = lossy.produced.length;
    lossy.loseNextAnswers(1);
    const sends = Array.from({ length: 10 }, (_, i) =>
      producer.send({ topic: 'coalesced-lossy', records: [{ value: i, partition: i % 2 }] }),
    );
    const acks = (await Promise.all(sends)).map((a) => a[0]);
    const attempts = lossy.produced.slice(before);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toBe(attempts[0]);
    expect(JSON.parse(attempts[0] ?? '').producer.sequence).toEqual({ 0: 0, 1: 0 });
    expect(acks.map((a) => [a?.partition, a?.offset])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i % 2, Math.floor(i / 2)]),
    );
    for (const partition of [0, 1]) {
      expect(
        (await fetchAll(server.url, 'coalesced-lossy', partition)).map((r) => r.value),
      ).toEqual([0, 2, 4, 6, 8].map((v) => v + partition));
    }
    await producer.close();
  });

  it('is stopped for good by PRODUCER_FENCED and OUT_OF_ORDER_SEQUENCE', async () => {
    await tributary.topics.create({ name: 'fenced', partitions: 2 });
    const first = tributary.producer({ transactionalId: 'billing-1' });
    await first.send({ topic: 'fenced', records: [{ value: 1, partition: 0 }] });
    const second = tributary.producer({ transactionalId: 'billing-1' });
    await second.send({ topic: 'fenced', records: [{ value: 2, partition: 0 }] });
    expect(second.identity?.producerId).toBe(first.identity?.producerId);

    const fenced = await failure(
      first.send({ topic: 'fenced', records: [{ value: 3, partition: 0 }] }),
    );
    expect(fenced).toMatchObject({ code: 'PRODUCER_FENCED', status: 409, retryable: false });
    const before = lossy.produced.length;
    expect(await failure(first.send({ topic: 'fenced', records: [{ value: 4 }] }))).toBe(fenced);
    expect(lossy.produced.length).toBe(before);

    // Someone else writes with this producer's identity (two records, so the producer's next
    // request is no replay of it): the producer's next sequence is not the server's.
    const identity = second.identity;
    if (!identity) throw new Error('no identity');
    await tributary.produce({
      topic: 'fenced',
      records: [
        { value: 'impostor', partition: 1 },
        { value: 'impostor', partition: 1 },
      ],
      producer: { id: identity.producerId, epoch: identity.producerEpoch, sequence: 0 },
    });
    const outOfOrder = await failure(
      second.send({ topic: 'fenced', records: [{ value: 5, partition: 1 }] }),
    );
    expect(outOfOrder).toMatchObject({
      code: 'OUT_OF_ORDER_SEQUENCE',
      details: { sequence: 0, expectedSequence: 2 },
    });
    expect(await failure(second.send({ topic: 'fenced', records: [{ value: 6 }] }))).toBe(
      outOfOrder,
    );
    expect((await fetchAll(server.url, 'fenced', 0)).map((r) => r.value)).toEqual([1, 2]);
  });

  it('refuses bad records before sending, and a partition the topic does not have', async () => {
    await tributary.topics.create({ name: 'checked', partitions: 2 });
    const producer = tributary.producer();
    const before = lossy.produced.length;
    expect(
      await failure(producer.send({ topic: 'checked', records: [{ key: 'k' } as never] })),
    ).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'records[0].value' } });
    expect(await failure(producer.send({ topic: 'checked', records: [] }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const beyond = await failure(
      producer.send({ topic: 'checked', records: [{ value: 1, partition: 2 }] }),
    );
    expect(beyond.message).toBe(
      "A record names a partition the topic 'checked' does not have: it has 2 partitions (0 and 1).",
    );
    expect(lossy.produced.length).toBe(before);
    // A refusal by the server leaves the producer usable, its sequences where they were.
    await tributary.topics.alterConfig('checked', { 'max.message.bytes': '100' });
    const tooLarge = await failure(
      producer.send({ topic: 'checked', records: [{ value: 'x'.repeat(200), partition: 0 }] }),
    );
    expect(tooLarge).toMatchObject({ code: 'RECORD_TOO_LARGE', details: { index: 0 } });
    const ok = await producer.send({
      topic: 'checked',
      records: [{ value: 'small', partition: 0 }],
    });
    expect(ok[0]?.offset).toBe(0);
    expect(await failure(producer.send({ topic: 'nope', records: [{ value: 1 }] }))).toMatchObject({
      code: 'TOPIC_NOT_FOUND',
      status: 404,
    });
    await producer.close();
  });

  it('refuses a value JSON cannot write (a BigInt, a cycle) as INVALID_ARGUMENT, failing only its send', async () => {
    await tributary.topics.create({ name: 'unwritable', partitions: 1 });
    const producer = tributary.producer();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const [before, big, looped, after] = await Promise.allSettled([
      producer.send({ topic: 'unwritable', records: [{ value: 'before' }] }),
      producer.send({ topic: 'unwritable', records: [{ value: { n: 1n } }] }),
      producer.send({ topic: 'unwritable', records: [{ value: 'x', headers: { h: cycle } }] }),
      producer.send({ topic: 'unwritable', records: [{ value: 'after' }] }),
    ]);
    expect(before.status).toBe('fulfilled');
    expect(after.status).toBe('fulfilled');
    expect(big.status === 'rejected' && big.reason).toMatchObject({
      name: 'TributaryError',
      code: 'INVALID_ARGUMENT',
      message: 'records[0].value has no JSON form: Do not know how to serialize a BigInt.',
      details: { field: 'records[0].value' },
    });
    expect(looped.status === 'rejected' && looped.reason).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'records[0].headers[0].value' },
    });
    expect(
      await failure(tributary.produce({ topic: 'unwritable', records: [{ value: 2n }] })),
    ).toMatchObject({ code: 'INVALID_ARGUMENT' });
    await producer.close();
    const { records } = await tributary.fetch({ topic: 'unwritable', partition: 0, offset: 0 });
    expect(records.map((r) => r.value)).toEqual(['before', 'after']);
  });

  it('places records over partitions added since, once its metadata is read again', async () => {
    await tributary.topics.create({ name: 'growing', partitions: 1 });
    const producer = tributary.producer({ metadataMaxAgeMs: 0 });
    await producer.send({ topic: 'growing', records: [{ key: 'k', value: 1 }] });
    await tributary.topics.addPartitions('growing', 8);
    const [ack] = await producer.send({ topic: 'growing', records: [{ key: 'user-3', value: 2 }] });
    expect(ack?.partition).toBe(partitionForKey(utf8.encode('user-3'), 8));
    await producer.close();
  });

  it('numbers from 0 again on a topic deleted and created again under its name', async () => {
    await tributary.topics.create({ name: 'reborn', partitions: 2 });
    const producer = tributary.producer();
    await producer.send({ topic: 'reborn', records: [{ value: 'old', partition: 0 }] });
    await tributary.topics.delete('reborn');
    await tributary.topics.create({ name: 'reborn', partitions: 2 });
    const [ack] = await producer.send({
      topic: 'reborn',
      records: [{ value: 'new', partition: 0 }],
    });
    expect(ack?.offset).toBe(0);
    expect((await fetchAll(server.url, 'reborn', 0)).map((r) => r.value)).toEqual(['new']);
    await producer.close();
  });

  it('without idempotence, does not resend a produce whose answer was lost', async () => {
    await tributary.topics.create({ name: 'plain', partitions: 1 });
    const producer = tributary.producer({ idempotent: false });
    lossy.loseNextAnswers(1);
    const lost = await failure(producer.send({ topic: 'plain', records: [{ value: 'once' }] }));
    expect(lost).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
    expect(producer.identity).toBeUndefined();
    // It was written (the answer was lost, not the request), once.
    expect((await fetchAll(server.url, 'plain', 0)).map((r) => r.value)).toEqual(['once']);
    await producer.close();
  });

  it('takes a new identity after a send whose outcome stayed unknown, so later sends are safe', async () => {
    await tributary.topics.create({ name: 'unknown-outcome', partitions: 1 });
    const impatient = new Tributary({
      url: server.url,
      fetch: lossy.fetch,
      retry: { initialDelayMs: 1 },
    });
    const producer = impatient.producer({ deliveryTimeoutMs: 100 });
    await producer.send({ topic: 'unknown-outcome', records: [{ value: 'first' }] });
    const before = producer.identity;
    lossy.loseNextAnswers(Number.POSITIVE_INFINITY);
    expect(
      await failure(producer.send({ topic: 'unknown-outcome', records: [{ value: 'lost' }] })),
    ).toMatchObject({
      code: 'DELIVERY_TIMEOUT',
      retryable: true,
      cause: { code: 'NETWORK_ERROR' },
      details: { lastCode: 'NETWORK_ERROR' },
    });
    lossy.loseNextAnswers(0);
    await producer.send({ topic: 'unknown-outcome', records: [{ value: 'next' }] });
    expect(producer.identity?.producerId).not.toBe(before?.producerId);
    // The lost send landed once (its retry was a replay); nothing was written twice.
    expect((await fetchAll(server.url, 'unknown-outcome', 0)).map((r) => r.value)).toEqual([
      'first',
      'lost',
      'next',
    ]);
    await producer.close();
  });

  // Last: it moves the server's clock a week on.
  it('starts again with a new identity when the server forgot it after 7 idle days', async () => {
    await tributary.topics.create({ name: 'idle', partitions: 1 });
    const producer = tributary.producer();
    await producer.send({ topic: 'idle', records: [{ value: 'before' }] });
    const before = producer.identity;
    skew += 8 * 24 * 60 * 60 * 1000;
    const [ack] = await producer.send({ topic: 'idle', records: [{ value: 'after' }] });
    expect(ack?.offset).toBe(1);
    expect(producer.identity?.producerId).not.toBe(before?.producerId);
    await producer.close();
  });
});
