import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf } from '../support/storage.ts';

const minute = 60_000;

/**
 * Log compaction as a user of a table topic relies on it: the latest record of every key
 * stays at its offset, superseded records go, tombstones stay for delete.retention.ms after
 * compaction first passed them and then go, reads into removed ranges move on, and a
 * compacted topic refuses records without a key. Passes run through the API, on a clock the
 * test moves.
 */
describe.each(backends)('log compaction ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 7, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  const pass = async () => {
    const response = await call(server.url, 'POST', '/v1/admin/maintenance');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.report.failures, JSON.stringify(response.body.report)).toBe(0);
    return response.body.report;
  };
  const describeTopic = async (name: string) =>
    (await call(server.url, 'GET', `/v1/topics/${name}`)).body;
  const read = async (name: string, partition = 0, from = 0) =>
    (await fetchAll(server.url, name, partition, from)).map((r) => [r.offset, r.key, r.value]);

  it('keeps the latest record of every key at its offset and removes the ones it superseded', async () => {
    await createTopic(server.url, 'profiles', 1, { 'cleanup.policy': 'compact' });
    for (let version = 0; version < 4; version++) {
      await produce(
        server.url,
        'profiles',
        ['ada', 'bob', 'cy'].map((key) => ({ key, value: `${key} v${version}` })),
      );
    }
    await produce(server.url, 'profiles', [{ key: 'bob', value: 'bob v4' }]);
    const before = await describeTopic('profiles');
    expect(before.partitions[0]).toMatchObject({ cleanedUpTo: 0, dirtyRatio: 1 });

    now += minute;
    const report = await pass();
    expect(report).toMatchObject({ compactionRounds: 1, recordsRemoved: 10 });
    expect(await read('profiles')).toEqual([
      [9, 'ada', 'ada v3'],
      [11, 'cy', 'cy v3'],
      [12, 'bob', 'bob v4'],
    ]);
    const after = await describeTopic('profiles');
    expect(after.partitions[0]).toMatchObject({
      logStartOffset: 0,
      highWatermark: 13,
      cleanedUpTo: 13,
      dirtyRatio: 0,
    });
    expect(after.partitions[0].sizeBytes).toBeLessThan(before.partitions[0].sizeBytes / 2);

    // A read from an offset compaction removed starts at the next record above it.
    const from = await call(server.url, 'GET', '/v1/topics/profiles/partitions/0/records?offset=3');
    expect(from.status).toBe(200);
    expect(from.body.records.map((r: { offset: number }) => r.offset)).toEqual([9, 11, 12]);
    const between = await call(
      server.url,
      'GET',
      '/v1/topics/profiles/partitions/0/records?offset=10&maxRecords=1',
    );
    expect(between.body.records.map((r: { offset: number }) => r.offset)).toEqual([11]);
    expect(between.body.nextOffset).toBe(12);

    // New records are dirty: below min.cleanable.dirty.ratio (0.5) they wait, all there.
    const appended = await produce(server.url, 'profiles', [
      { key: 'ada', value: 'ada v4' },
      { key: 'ada', value: 'ada v5' },
    ]);
    expect(appended.map((a) => a.offset)).toEqual([13, 14]);
    const dirty = (await describeTopic('profiles')).partitions[0];
    expect(dirty.cleanedUpTo).toBe(13);
    expect(dirty.dirtyRatio).toBeGreaterThan(0.3);
    expect(dirty.dirtyRatio).toBeLessThan(0.5);
    now += minute;
    await pass();
    const withHead = [
      [9, 'ada', 'ada v3'],
      [11, 'cy', 'cy v3'],
      [12, 'bob', 'bob v4'],
      [13, 'ada', 'ada v4'],
      [14, 'ada', 'ada v5'],
    ];
    expect(await read('profiles')).toEqual(withHead);
    // One more, and the dirty part is half the log: the next pass compacts it.
    await produce(server.url, 'profiles', [{ key: 'cy', value: 'cy v4' }]);
    expect((await describeTopic('profiles')).partitions[0].dirtyRatio).toBeGreaterThanOrEqual(0.5);
    now += minute;
    await pass();
    expect(await read('profiles')).toEqual([
      [12, 'bob', 'bob v4'],
      [14, 'ada', 'ada v5'],
      [15, 'cy', 'cy v4'],
    ]);
    expect((await describeTopic('profiles')).partitions[0]).toMatchObject({
      cleanedUpTo: 16,
      dirtyRatio: 0,
    });
  });

  it('counts the dirty part by the bytes it stores once merged, as the whole log is counted', async () => {
    await createTopic(server.url, 'merged', 1, { 'cleanup.policy': 'compact' });
    // A batch a record: merging them saves most of their bytes.
    for (let i = 0; i < 100; i++) await produce(server.url, 'merged', [{ key: `k${i}`, value: i }]);
    now += minute;
    expect(await pass()).toMatchObject({ compactionRounds: 1, batchesMerged: 0 });
    for (let i = 100; i < 120; i++)
      await produce(server.url, 'merged', [{ key: `k${i}`, value: i }]);
    const appended = (await describeTopic('merged')).partitions[0];
    expect(appended.dirtyRatio).toBeGreaterThan(0.3);
    expect(appended.dirtyRatio).toBeLessThan(0.5);

    // Old enough to merge: every batch is merged, clean and dirty alike.
    now += 10 * minute;
    const merging = await pass();
    expect(merging).toMatchObject({ compactionRounds: 0 });
    expect(merging.batchesMerged).toBeGreaterThan(0);
    const merged = (await describeTopic('merged')).partitions[0];
    expect(merged.sizeBytes).toBeLessThan(appended.sizeBytes);
    // 20 records of 120, all of about one size, in batches that no longer differ: about a
    // sixth of the bytes, where each of the 20 had carried a batch's overhead before.
    expect(merged.dirtyRatio).toBeGreaterThan(0.1);
    expect(merged.dirtyRatio).toBeLessThan(0.25);
    // So the merge alone leaves the log below min.cleanable.dirty.ratio: nothing to compact.
    now += minute;
    expect(await pass()).toMatchObject({ compactionRounds: 0 });
    expect((await fetchAll(server.url, 'merged', 0, 0)).map((r) => r.value)).toEqual(
      Array.from({ length: 120 }, (_, i) => i),
    );
  });

  it('refuses a record without a key on a compacted topic, and writes none of the request', async () => {
    for (const policy of ['compact', 'compact,delete']) {
      const name = `keyed-${policy.replace(',', '-')}`;
      await createTopic(server.url, name, 2, { 'cleanup.policy': policy });
      const response = await call(server.url, 'POST', `/v1/topics/${name}/records`, {
        records: [{ key: 'k', value: 'kept?' }, { value: 'no key' }],
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_RECORD');
      expect(response.body.error.message).toContain('Record 1 has no key');
      const described = await describeTopic(name);
      expect(described.partitions.map((p: { highWatermark: number }) => p.highWatermark)).toEqual([
        0, 0,
      ]);
    }
  });

  it('keeps a tombstone delete.retention.ms after compaction first passed it, to the millisecond, then removes it with its key', async () => {
    const retention = 10 * minute;
    await createTopic(server.url, 'deletions', 1, {
      'cleanup.policy': 'compact',
      'delete.retention.ms': String(retention),
    });
    await produce(server.url, 'deletions', [
      { key: 'gone', value: 'v1' },
      { key: 'stays', value: 's1' },
    ]);
    await produce(server.url, 'deletions', [{ key: 'gone', value: null }]);
    now += 2 * minute;
    // The tombstone waits two minutes for a pass: its horizon counts from this pass on.
    const stamped = now;
    await pass();
    expect(await read('deletions')).toEqual([
      [1, 'stays', 's1'],
      [2, 'gone', null],
    ]);
    now = stamped + retention - 1;
    await pass();
    expect(await read('deletions')).toEqual([
      [1, 'stays', 's1'],
      [2, 'gone', null],
    ]);
    now = stamped + retention;
    await pass();
    expect(await read('deletions')).toEqual([[1, 'stays', 's1']]);
  });

  it('answers a read of a removed tail with nextOffset at the high watermark, so no consumer waits on it', async () => {
    await createTopic(server.url, 'emptied', 1, {
      'cleanup.policy': 'compact',
      'delete.retention.ms': '0',
    });
    await produce(server.url, 'emptied', [{ key: 'k', value: 'v' }]);
    await produce(server.url, 'emptied', [{ key: 'k', value: 'w' }]);
    await produce(server.url, 'emptied', [{ key: 'k', value: null }]);
    now += minute;
    await pass();
    now += minute;
    await pass();
    for (const offset of [0, 1, 2]) {
      const response = await call(
        server.url,
        'GET',
        `/v1/topics/emptied/partitions/0/records?offset=${offset}`,
      );
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ records: [], nextOffset: 3, highWatermark: 3 });
    }
    // A member of a group from the earliest offset gets nothing and moves past the gap.
    const member = (
      await call(server.url, 'POST', '/v1/groups/readers-of-emptied/members', {
        topics: ['emptied'],
        autoOffsetReset: 'earliest',
      })
    ).body;
    const polled = await call(
      server.url,
      'GET',
      `/v1/groups/readers-of-emptied/members/${member.memberId}/records`,
    );
    expect(polled.status).toBe(200);
    expect(polled.body.records).toEqual([]);
    await produce(server.url, 'emptied', [{ key: 'k', value: 'back' }]);
    const next = await call(
      server.url,
      'GET',
      `/v1/groups/readers-of-emptied/members/${member.memberId}/records?cursor=${polled.body.cursor}`,
    );
    expect(
      next.body.records.map((r: { offset: number; value: string }) => [r.offset, r.value]),
    ).toEqual([[3, 'back']]);
  });

  it('waits min.compaction.lag.ms before compacting a record, and applies retention too under compact,delete', async () => {
    await createTopic(server.url, 'lagged', 1, {
      'cleanup.policy': 'compact,delete',
      'min.compaction.lag.ms': String(10 * minute),
      'retention.ms': String(60 * minute),
    });
    await produce(server.url, 'lagged', [{ key: 'once', value: 'only version' }]);
    now += 30 * minute;
    await produce(server.url, 'lagged', [{ key: 'k', value: 'old' }]);
    await produce(server.url, 'lagged', [{ key: 'k', value: 'new' }]);
    now += 5 * minute;
    await pass();
    // Younger than the lag: every record is still there.
    expect(await read('lagged')).toEqual([
      [0, 'once', 'only version'],
      [1, 'k', 'old'],
      [2, 'k', 'new'],
    ]);
    now += 6 * minute;
    await pass();
    expect(await read('lagged')).toEqual([
      [0, 'once', 'only version'],
      [2, 'k', 'new'],
    ]);
    // An hour after it was written, the latest record of 'once' goes too: retention applies.
    now += 20 * minute;
    await pass();
    const described = await describeTopic('lagged');
    // The batch that held 'once' also covered the offset compaction removed after it.
    expect(described.partitions[0].logStartOffset).toBe(2);
    expect(await read('lagged', 0, 2)).toEqual([[2, 'k', 'new']]);
  });

  it("answers an idempotent producer's retry of a batch compaction removed with its offsets, and its sequence goes on", async () => {
    await createTopic(server.url, 'idempotent-table', 1, { 'cleanup.policy': 'compact' });
    const producer = (await call(server.url, 'POST', '/v1/producers')).body;
    const send = (sequence: number, records: { key: string; value: string }[]) =>
      call(server.url, 'POST', '/v1/topics/idempotent-table/records', {
        records,
        producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence },
      });
    const firstBatch = [
      { key: 'a', value: 'a1' },
      { key: 'b', value: 'b1' },
    ];
    const first = await send(0, firstBatch);
    expect(first.status).toBe(200);
    const second = await send(2, [
      { key: 'a', value: 'a2' },
      { key: 'b', value: 'b2' },
    ]);
    expect(second.status).toBe(200);
    now += minute;
    // The retry races the pass that removes the records it wrote: either way it is a replay.
    const [, racing] = await Promise.all([pass(), send(0, firstBatch)]);
    expect(racing.status).toBe(200);
    expect(racing.body.offsets).toEqual(first.body.offsets);
    expect(await read('idempotent-table')).toEqual([
      [2, 'a', 'a2'],
      [3, 'b', 'b2'],
    ]);
    const replay = await send(0, firstBatch);
    expect(replay.body.offsets).toEqual(first.body.offsets);
    const third = await send(4, [{ key: 'a', value: 'a3' }]);
    expect(third.status).toBe(200);
    expect(third.body.offsets.map((o: { offset: number }) => o.offset)).toEqual([4]);
    // A sequence that skips one is still refused: compaction did not move the producer on.
    const gap = await send(6, [{ key: 'a', value: 'a4' }]);
    expect(gap.status).toBe(409);
    expect(gap.body.error.code).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(await read('idempotent-table')).toEqual([
      [2, 'a', 'a2'],
      [3, 'b', 'b2'],
      [4, 'a', 'a3'],
    ]);
  });

  it('shrinks 100 keys × 1,000 versions to about the size of 100 records, in the log and in storage', async () => {
    const keys = 100;
    const value = (key: number, version: number) =>
      `key ${key} version ${version} `.padEnd(100, '.');
    await createTopic(server.url, 'versions', 1, { 'cleanup.policy': 'compact' });
    for (let request = 0; request < 100; request++) {
      await produce(
        server.url,
        'versions',
        Array.from({ length: 1000 }, (_, i) => {
          const key = i % keys;
          const version = request * 10 + Math.floor(i / keys);
          return { key: `key-${key}`, value: value(key, version) };
        }),
      );
    }
    // The reference: the same 100 latest records, written once in one request.
    await createTopic(server.url, 'latest-only', 1, { 'cleanup.policy': 'compact' });
    await produce(
      server.url,
      'latest-only',
      Array.from({ length: keys }, (_, key) => ({ key: `key-${key}`, value: value(key, 999) })),
    );
    const { topicId } = await describeTopic('versions');
    const storedBytes = async (id: string) =>
      (await chunksOf(server.stores, id)).reduce((sum, o) => sum + o.size, 0);
    const written = await storedBytes(topicId);

    now += minute;
    await pass();
    const log = await fetchAll(server.url, 'versions', 0);
    expect(log.map((r) => [r.key, r.value])).toEqual(
      Array.from({ length: keys }, (_, key) => [`key-${key}`, value(key, 999)]),
    );
    expect(log.map((r) => r.offset)).toEqual(
      Array.from({ length: keys }, (_, key) => 99_900 + key),
    );

    // The replaced chunks go once readers have had their grace (the second pass also merges
    // the emptied range into the batch after it, whose old chunk the third frees).
    for (let i = 0; i < 2; i++) {
      now += 10 * minute;
      await pass();
    }
    const reference = (await describeTopic('latest-only')).partitions[0].sizeBytes;
    const compacted = (await describeTopic('versions')).partitions[0].sizeBytes;
    expect(compacted).toBeLessThan(reference * 1.25);
    const referenceStored = await storedBytes((await describeTopic('latest-only')).topicId);
    const stored = await storedBytes(topicId);
    expect(stored).toBeLessThan(referenceStored * 1.25);
    expect(written).toBeGreaterThan(stored * 500);
  }, 120_000);
});
