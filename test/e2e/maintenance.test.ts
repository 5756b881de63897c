import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkKey, deletedTopicKey } from '../../functions/core/keys.ts';
import { chunkSized, createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import {
  chunksOf,
  failingWhen,
  indexItems,
  marksHeadDeleted,
  partitionItems,
} from '../support/storage.ts';

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
        { value: { old: i, pad: chunkSized('') }, partition: 0 },
        { value: { old: i, big: chunkSized('x') }, partition: 1 },
      ]);
    }
    now += 30_000;
    for (let i = 0; i < 3; i++) {
      await produce(server.url, 'aging', [
        { value: { kept: i, pad: chunkSized('') }, partition: 0 },
        { value: { kept: i, pad: chunkSized('') }, partition: 1 },
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
    // About five batches of partition 0; the four of partition 1 stay under it.
    await createTopic(server.url, 'shared', 2, { 'retention.bytes': '11500' });
    const { topicId } = await describeTopic('shared');
    // Four chunks shared by both partitions, then partition 0 alone grows past its limit.
    for (let i = 0; i < 4; i++) {
      await produce(server.url, 'shared', [
        { value: chunkSized('a'), partition: 0 },
        { value: chunkSized(`small ${i}`), partition: 1 },
      ]);
    }
    for (let i = 0; i < 6; i++) {
      await produce(server.url, 'shared', [{ value: chunkSized('b'), partition: 0 }]);
    }
    const before = await describeTopic('shared');
    expect(before.partitions[0].logStartOffset).toBeGreaterThanOrEqual(4);
    expect(before.partitions[1].logStartOffset).toBe(0);

    const report = await runPass();
    expect(report.indexEntriesDeleted).toBe(before.partitions[0].logStartOffset);
    // Partition 1 still refers to the four shared chunks.
    expect(report.chunksDeleted).toBe(before.partitions[0].logStartOffset - 4);
    expect(await chunksOf(server.stores, topicId)).toHaveLength(10 - report.chunksDeleted);
    expect((await fetchAll(server.url, 'shared', 1)).map((r) => r.value)).toEqual(
      [0, 1, 2, 3].map((i) => chunkSized(`small ${i}`)),
    );

    // Partition 1 lets go too: now the shared chunks die with their last reference.
    await call(server.url, 'PATCH', '/v1/topics/shared/config', { 'retention.bytes': '1' });
    await produce(server.url, 'shared', [{ value: chunkSized('c'), partition: 1 }]);
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
    // One batch in S3, one held inline in its entry.
    await produce(server.url, 'raised', [{ value: chunkSized('keep me') }]);
    await produce(server.url, 'raised', [{ value: 'keep me too' }]);
    now += 2 * minute; // expired under the old config, but nothing has read it since
    await call(server.url, 'PATCH', '/v1/topics/raised/config', { 'retention.ms': String(hour) });
    await runPass();
    expect(await indexItems(server.stores, topicId, 0)).toHaveLength(2);
    expect(await chunksOf(server.stores, topicId)).toHaveLength(1);
    expect((await fetchAll(server.url, 'raised', 0)).map((r) => r.value)).toEqual([
      chunkSized('keep me'),
      'keep me too',
    ]);
  });

  it('purges a deleted topic completely, once no produce in flight can still add a chunk', async () => {
    await createTopic(server.url, 'doomed', 3);
    const { topicId } = await describeTopic('doomed');
    await produce(server.url, 'doomed', [
      { value: chunkSized('1'), partition: 0 },
      { value: chunkSized('2'), partition: 1 },
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
    expect(first.purgedItems).toBeGreaterThanOrEqual(3);
    expect(first.purgedChunks).toBe(1);
    expect(first.topicsPurged).toBe(0);
    // All but each partition's head, which the delete marked deleted and which stays until
    // no commit begun before the delete can still be under way.
    for (const p of [0, 1, 2]) {
      const left = await partitionItems(server.stores, topicId, p);
      expect(left.map((i) => [i.sk, i.data.deleted])).toEqual([['head', true]]);
    }
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
    expect(last).toMatchObject({ topicsPurged: 1, purgedChunks: 1, purgedItems: 3 });
    expect(await chunksOf(server.stores, topicId)).toEqual([]);
    for (const p of [0, 1, 2]) expect(await partitionItems(server.stores, topicId, p)).toEqual([]);
    expect(await server.stores.metadata.get(deletedTopicKey(topicId))).toBeUndefined();
  });

  it('marks the heads of a topic whose delete failed half-way before purging anything', async () => {
    await createTopic(server.url, 'half-deleted', 2);
    const { topicId } = await describeTopic('half-deleted');
    await produce(server.url, 'half-deleted', [{ value: 1, partition: 0 }]);
    // An instance that dies right after the delete's first write, before marking the heads.
    const dying = await startServer(backend, {
      now: () => now,
      stores: { ...server.stores, metadata: failingWhen(server.stores.metadata, marksHeadDeleted) },
    });
    try {
      expect((await call(dying.url, 'DELETE', '/v1/topics/half-deleted')).status).toBe(500);
    } finally {
      await dying.stop();
    }
    expect((await partitionItems(server.stores, topicId, 1)).map((i) => i.sk)).toEqual([]);

    await runPass();
    for (const p of [0, 1]) {
      const left = await partitionItems(server.stores, topicId, p);
      expect(left.map((i) => [i.sk, i.data.deleted])).toEqual([['head', true]]);
    }
    expect(await server.stores.metadata.get(deletedTopicKey(topicId))).toMatchObject({
      data: { headsFenced: true },
    });
  });

  it('sweeps chunks no commit refers to once they are older than the grace, and no others', async () => {
    await createTopic(server.url, 'orphaned', 2);
    const { topicId } = await describeTopic('orphaned');
    await produce(server.url, 'orphaned', [{ value: chunkSized('committed'), partition: 0 }]);
    // Chunks written but never committed: a crash between the write and the commit.
    const orphan = chunkKey(topicId, now, randomUUID());
    await server.stores.segments.put(orphan, new Uint8Array(100));
    expect((await runPass()).orphansDeleted).toBe(0);
    now += grace - 1000;
    expect((await runPass()).orphansDeleted).toBe(0);
    now += 2000;
    await produce(server.url, 'orphaned', [{ value: chunkSized('later'), partition: 1 }]);
    const report = await runPass();
    expect(report).toMatchObject({ orphansDeleted: 1, orphanBytesFreed: 100 });
    const left = (await chunksOf(server.stores, topicId)).map((o) => o.key);
    expect(left).toHaveLength(2);
    expect(left).not.toContain(orphan);
    expect((await fetchAll(server.url, 'orphaned', 0)).map((r) => r.value)).toEqual([
      chunkSized('committed'),
    ]);
    now += grace + 1;
    expect((await runPass()).orphansDeleted).toBe(0);
    expect((await fetchAll(server.url, 'orphaned', 1)).map((r) => r.value)).toEqual([
      chunkSized('later'),
    ]);
  });

  it('frees batches held inline in their entries with the entries, and counts their bytes', async () => {
    await createTopic(server.url, 'inline', 1, { 'retention.ms': String(minute) });
    const { topicId } = await describeTopic('inline');
    for (let i = 0; i < 3; i++) await produce(server.url, 'inline', [{ value: `small ${i}` }]);
    // Small batches take no segment object: their bytes are in the index entries.
    expect(await chunksOf(server.stores, topicId)).toEqual([]);
    const stored = (await describeTopic('inline')).partitions[0].sizeBytes;
    expect(stored).toBe(await indexedBytes(topicId, 0));
    now += 2 * minute;
    const report = await runPass();
    expect(report).toMatchObject({ chunksDeleted: 0, failures: 0 });
    expect(report.indexEntriesDeleted).toBeGreaterThanOrEqual(3);
    expect(report.bytesFreed).toBeGreaterThanOrEqual(stored);
    expect(await indexItems(server.stores, topicId, 0)).toEqual([]);
    expect((await describeTopic('inline')).partitions[0]).toMatchObject({
      logStartOffset: 3,
      sizeBytes: 0,
    });
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

  it('still reports a pass by its id after later passes ran (npm start runs one a minute)', async () => {
    const first = await runPass();
    const second = await runPass();
    expect(second.passId).not.toBe(first.passId);
    const run = await call(server.url, 'GET', `/v1/admin/maintenance/${first.passId}`);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({ id: first.passId, status: 'SUCCEEDED', report: first });
  });
});
