import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsumedRecord, Tributary, TributaryError } from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('the SDK partition reader ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;
  /** The server's clock runs ahead of real time by this much, so records can be minutes apart. */
  let ahead = 0;
  /** The timestamp each record of partition 1 was stored with. */
  const timestamps: number[] = [];

  beforeAll(async () => {
    server = await startServer(backend, { now: () => Date.now() + ahead });
    tributary = new Tributary({ url: server.url });
    await tributary.topics.create({ name: 'history', partitions: 2 });
    const producer = tributary.producer();
    // Ten records on partition 1, a minute apart.
    for (let i = 0; i < 10; i++) {
      ahead += 60_000;
      const [ack] = await producer.send({
        topic: 'history',
        records: [{ key: `k${i}`, value: i, partition: 1 }],
      });
      timestamps.push(ack?.timestamp ?? 0);
    }
    await producer.close();
  });
  afterAll(() => server.close());

  const read = async (options: Parameters<Tributary['reader']>[0]) => {
    const values: unknown[] = [];
    for await (const record of tributary.reader(options).records()) values.push(record.value);
    return values;
  };

  it('reads from the start, an offset, a time, or the end, stopping at the end', async () => {
    const third = timestamps[3] ?? 0;
    expect(await read({ topic: 'history', partition: 1 })).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await read({ topic: 'history', partition: 1, from: { offset: 7 } })).toEqual([7, 8, 9]);
    expect(await read({ topic: 'history', partition: 1, from: { timestamp: third - 1 } })).toEqual([
      3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(
      await read({
        topic: 'history',
        partition: 1,
        from: { timestamp: new Date(Date.now() + ahead + 60_000) },
      }),
    ).toEqual([]);
    expect(await read({ topic: 'history', partition: 1, from: 'latest' })).toEqual([]);
    expect(await read({ topic: 'history', partition: 0 })).toEqual([]);
  });

  it('hands out batches with the partition’s bounds and its position', async () => {
    const reader = tributary.reader({ topic: 'history', partition: 1, maxRecords: 4 });
    expect(reader.position).toBeUndefined();
    const sizes: number[] = [];
    for await (const batch of reader) {
      sizes.push(batch.records.length);
      expect(batch).toMatchObject({ highWatermark: 10, logStartOffset: 0 });
      expect(reader.position).toBe(batch.nextOffset);
    }
    expect(sizes).toEqual([4, 4, 2]);
    const [first] = (await tributary.fetch({ topic: 'history', partition: 1, offset: 0 })).records;
    expect(first).toEqual({
      topic: 'history',
      partition: 1,
      offset: 0,
      timestamp: timestamps[0] ?? 0,
      key: 'k0',
      value: 0,
      headers: [],
    } satisfies ConsumedRecord);
  });

  it('follows the log for new records until aborted', async () => {
    const controller = new AbortController();
    const reader = tributary.reader({
      topic: 'history',
      partition: 0,
      from: 'latest',
      follow: true,
      maxWaitMs: 200,
      signal: controller.signal,
    });
    const seen: unknown[] = [];
    const following = (async () => {
      for await (const record of reader.records()) {
        seen.push(record.value);
        if (seen.length === 2) controller.abort();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await tributary.produce({ topic: 'history', records: [{ value: 'a', partition: 0 }] });
    await tributary.produce({ topic: 'history', records: [{ value: 'b', partition: 0 }] });
    const stopped = await following.then(
      () => 'ended',
      (error: unknown) => (error instanceof TributaryError ? error.code : error),
    );
    expect(stopped).toBe('ABORTED');
    expect(seen).toEqual(['a', 'b']);
  });

  it('reports an offset outside the log as OFFSET_OUT_OF_RANGE, with both bounds', async () => {
    const error = await read({ topic: 'history', partition: 1, from: { offset: 11 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TributaryError);
    expect(error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      status: 416,
      details: { offset: 11, logStartOffset: 0, highWatermark: 10 },
    });
  });
});
