import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tributary } from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const minute = 60_000;

/**
 * A table rebuilt from a compacted topic with the SDK, as docs/compaction.md shows: the
 * reader walks the gaps compaction left and stops at the end of the log, also when the
 * records at its end were all removed.
 */
describe.each(backends)('SDK: a compacted topic read as a table ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;
  let now = Date.UTC(2026, 4, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
    tributary = new Tributary({ url: server.url });
  });
  afterAll(() => server.close());

  const rebuild = async () => {
    const table = new Map<string, unknown>();
    const reader = tributary.reader({ topic: 'profiles', partition: 0, from: 'earliest' });
    for await (const record of reader.records()) {
      if (record.value === null) table.delete(String(record.key));
      else table.set(String(record.key), record.value);
    }
    return table;
  };

  it('rebuilds the same table before and after compaction, and after its tombstones go', async () => {
    await tributary.topics.create({
      name: 'profiles',
      config: { 'cleanup.policy': 'compact', 'delete.retention.ms': String(10 * minute) },
    });
    const producer = tributary.producer();
    for (let version = 0; version < 3; version++) {
      await producer.send({
        topic: 'profiles',
        records: ['alice', 'bob', 'carol'].map((key) => ({ key, value: { key, version } })),
      });
    }
    await producer.send({ topic: 'profiles', records: [{ key: 'bob', value: null }] });
    await producer.send({ topic: 'profiles', records: [{ key: 'carol', value: null }] });
    await producer.close();
    const expected = new Map([['alice', { key: 'alice', version: 2 }]]);
    expect(await rebuild()).toEqual(expected);

    now += minute;
    const run = await tributary.admin.maintenance.run();
    expect(run.report).toMatchObject({ compactionRounds: 1, recordsRemoved: 8 });
    expect(await rebuild()).toEqual(expected);
    const described = (await tributary.topics.describe('profiles')).partitions[0];
    expect(described).toMatchObject({ cleanedUpTo: 11, dirtyRatio: 0 });

    // The tombstones at the log's end go too: the reader still finds its end.
    now += 11 * minute;
    await tributary.admin.maintenance.run();
    expect(await rebuild()).toEqual(expected);
    const { records, nextOffset } = await tributary.fetch({
      topic: 'profiles',
      partition: 0,
      offset: 9,
    });
    expect(records).toEqual([]);
    expect(nextOffset).toBe(11);
  });
});
