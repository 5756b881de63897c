import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkKey, deletedTopicKey } from '../../functions/core/keys.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf, indexItems, partitionItems } from '../support/storage.ts';

const minute = 60_000;
const hour = 60 * minute;
/** The default orphan grace, which the server under test keeps. */
const grace = 10 * minute;

describe.each(backends)('the maintenance pass ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 2, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  const runPass = async () => {
    const response = await call(server.url, 'POST', '/v1/admin/maintenance');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body.report;
  };
  const describeTopic = async (name: string) =>
    (await call(server.url, 'GET', `/v1/topics/${name}`)).body;
  /** Bytes of the batches a partition's index still lists. */
  const indexedBytes = async (topicId: string, partition: number) =>
    (await indexItems(server.stores, topicId, partition)).reduce(
      (sum, item) => sum + Number(item.data.byteLength),
      0,
    );

  it('deletes what retention.ms expired — entries and chunks — and keeps the rest byte-exact', async () => {
    await createTopic(server.url, 'aging', 2, { 'retention.ms': String(minute) });
    const { topicId } = await describeTopic('aging');
    // Each request writes one chunk holding a batch for each partition.
    for (let i = 0; i < 5; i++) {
      await produce(server.url, 'aging', [
        { value: { old: i }, partition: 0 },
        { value: { old: i, big: 'x'.repeat(100) }, partition: 1 },
      ]);
    }
    now += 30_000;
    for (let i = 0; i < 3; i++) {
      await produce(server.url, 'aging', [
        { value: { kept: i }, partition: 0 },
        { value: { kept: i }, partition: 1 },
      ]);
    }
    now += 31_000; // the first five requests are past retention.ms, the last three not
    const kept = [
      await fetchAll(server.url, 'aging', 0, 5),
      await fetchAll(server.url, 'aging', 1, 5),
    ];
    expect(await chunksOf(server.stores, topicId)).toHaveLength(8);

    const report = await runPass();
    expect(report).toMatchObject({
      indexEntriesDeleted: 10,
      chunksDeleted: 5,
      failures: 0,
    });
    expect(report.bytesFreed).toBeGreaterThan(5 * 100);
    expect(await chunksOf(server.stores, topicId)).toHaveLength(3);
    for (const partition of [0, 1]) {
      const entries = await indexItems(server.stores, topicId, partition);
      expect(entries.map((e) => e.data.baseOffset)).toEqual([5, 6, 7]);
      expect(await fetchAll(server.url, 'aging', partition, 5)).toEqual(kept[partition]);
    }
    const described = await describeTopic('aging');
    for (const p of described.partitions) {
      expect(p).toMatchObject({ logStartOffset: 5, highWatermark: 8 });
      expect(p.sizeBytes).toBe(await indexedBytes(topicId, p.partition));
    }
    // A second pass finds nothing more to do.
    expect(await runPass()).toMatchObject({ indexEntriesDeleted: 0, chunksDeleted: 0 });
  });

  it('keeps a chunk while any partition still refers to it (retention.bytes expires partitions apart)', async () => {
    await createTopic(server.url, 'shared', 2, { 'retention.bytes': '2000' });
    const { topicId } = await describeTopic('shared');
    // Four chunks shared by both partitions, then partition 0 alone grows past its limit.
    for (let i = 0; i < 4; i++) {
      await produce(server.url, 'shared', [
        { value: 'a'.repeat(400), partition: 0 },
        { value: `small ${i}`, partition: 1 },
      ]);
    }
    for (let i = 0; i < 6; i++) {
      await produce(server.url, 'shared', [{ value: 'b'.repeat(400), partition: 0 }]);
    }
    const before = await describeTopic('shared');
    expect(before.partitions[0].logStartOffset).toBeGreaterThanOrEqual(4);
    expect(before.partitions[1].logStartOffset).toBe(0);

    const report = await runPass();
    expect(report.indexEntriesDeleted).toBe(before.partitions[0].logStartOffset);
    // Partition 1 still refers to the four shared chunks.
    expect(report.chunksDeleted).toBe(before.partitions[0].logStartOffset - 4);
    expect(await chunksOf(server.stores, topicId)).toHaveLength(10 - report.chunksDeleted);
    expect((await fetchAll(server.url, 'shared', 1)).map((r) => r.value)).toEqual([
      'small 0',
      'small 1',
      'small 2',
      'small 3',
    ]);

    // Partition 1 lets go too: now the shared chunks die with their last reference.
    await call(server.url, 'PATCH', '/v1/topics/shared/config', { 'retention.bytes': '1' });
    await produce(server.url, 'shared', [{ value: 'c', partition: 1 }]);
    const after = await runPass();
    expect(after.chunksDeleted).toBeGreaterThanOrEqual(4);
    expect((await chunksOf(server.stores, topicId)).length).toBe(
      (await indexItems(server.stores, topicId, 0)).length + 1,
    );
    const described = await describeTopic('shared');
    for (const p of described.partitions) {
      expect(p.sizeBytes).toBe(await indexedBytes(topicId, p.partition));
    }
  });

  it('never deletes what a raise of retention keeps, even when it had expired before the raise', async () => {
    await createTopic(server.url, 'raised', 1, { 'retention.ms': String(minute) });
    const { topicId } = await describeTopic('raised');
    await produce(server.url, 'raised', [{ value: 'keep me' }]);
    now += 2 * minute; // expired under the old config, but nothing has read it since
    await call(server.url, 'PATCH', '/v1/topics/raised/config', { 'retention.ms': String(hour) });
    await runPass();
    expect(await indexItems(server.stores, topicId, 0)).toHaveLength(1);
    expect(await chunksOf(server.stores, topicId)).toHaveLength(1);
    expect((await fetchAll(server.url, 'raised', 0)).map((r) => r.value)).toEqual(['keep me']);
  });

  it('purges a deleted topic completely, once no produce in flight can still add a chunk', async () => {
    await createTopic(server.url, 'doomed', 3);
    const { topicId } = await describeTopic('doomed');
    await produce(server.url, 'doomed', [
      { value: 1, partition: 0 },
      { value: 2, partition: 1 },
      { value: 3, partition: 2 },
    ]);
    await call(server.url, 'POST', '/v1/groups/doomed-readers/offsets', {
      offsets: [{ topic: 'doomed', partition: 0, offset: 1 }],
    });
    const subscribed = await call(server.url, 'POST', '/v1/topics/doomed/subscriptions', {
      name: 'doomed-sub',
      target: { type: 'lambda', function: 'handler' },
    });
    expect(subscribed.status).toBe(201);
    expect((await call(server.url, 'DELETE', '/v1/topics/doomed')).status).toBe(204);
    // The delete is instant for readers and writers; the data goes with the next passes.
    expect((await call(server.url, 'GET', '/v1/topics/doomed')).status).toBe(404);
    const first = await runPass();
    expect(first.purgedItems).toBeGreaterThanOrEqual(3 * 2 + 1);
    expect(first.purgedChunks).toBe(1);
    expect(first.topicsPurged).toBe(0);
    for (const p of [0, 1, 2]) expect(await partitionItems(server.stores, topicId, p)).toEqual([]);
    expect(await chunksOf(server.stores, topicId)).toEqual([]);
    const offsets = (await call(server.url, 'GET', '/v1/groups/doomed-readers/offsets')).body;
    expect(offsets.offsets).toEqual([]);
    // Its subscriptions' items are gone too.
    expect(
      (await server.stores.metadata.query('subscriptions')).filter((i) =>
        i.sk.startsWith(`${topicId}#`),
      ),
    ).toEqual([]);
    expect(await server.stores.metadata.get(deletedTopicKey(topicId))).toBeDefined();

    // A chunk of a produce that was in flight at the delete lands late; it goes too.
    await server.stores.segments.put(chunkKey(topicId, now, randomUUID()), new Uint8Array(10));
    now += grace + 1;
    const last = await runPass();
    expect(last).toMatchObject({ topicsPurged: 1, purgedChunks: 1 });
    expect(await chunksOf(server.stores, topicId)).toEqual([]);
    expect(await server.stores.metadata.get(deletedTopicKey(topicId))).toBeUndefined();
  });

  it('sweeps chunks no commit refers to once they are older than the grace, and no others', async () => {
    await createTopic(server.url, 'orphaned', 2);
    const { topicId } = await describeTopic('orphaned');
    await produce(server.url, 'orphaned', [{ value: 'committed', partition: 0 }]);
    // Chunks written but never committed: a crash between the write and the commit.
    const orphan = chunkKey(topicId, now, randomUUID());
    await server.stores.segments.put(orphan, new Uint8Array(100));
    expect((await runPass()).orphansDeleted).toBe(0);
    now += grace - 1000;
    expect((await runPass()).orphansDeleted).toBe(0);
    now += 2000;
    await produce(server.url, 'orphaned', [{ value: 'later', partition: 1 }]);
    const report = await runPass();
    expect(report).toMatchObject({ orphansDeleted: 1, orphanBytesFreed: 100 });
    const left = (await chunksOf(server.stores, topicId)).map((o) => o.key);
    expect(left).toHaveLength(2);
    expect(left).not.toContain(orphan);
    expect((await fetchAll(server.url, 'orphaned', 0)).map((r) => r.value)).toEqual(['committed']);
    now += grace + 1;
    expect((await runPass()).orphansDeleted).toBe(0);
    expect((await fetchAll(server.url, 'orphaned', 1)).map((r) => r.value)).toEqual(['later']);
  });

  it('reports a pass by its id, and refuses ids it never gave', async () => {
    const report = await runPass();
    const run = await call(server.url, 'GET', `/v1/admin/maintenance/${report.passId}`);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ id: report.passId, status: 'SUCCEEDED', report });
    const unknown = await call(server.url, 'GET', '/v1/admin/maintenance/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('MAINTENANCE_RUN_NOT_FOUND');
    const bad = await call(server.url, 'POST', '/v1/admin/maintenance', { unknown: 1 });
    expect(bad.status).toBe(400);
  });
});
