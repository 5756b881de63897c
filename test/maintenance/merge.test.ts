import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSkPrefix } from '../../functions/core/keys.ts';
import type { MetadataStore, StoredItem } from '../../functions/core/ports/metadata-store.ts';
import type { SegmentStore } from '../../functions/core/ports/segment-store.ts';
import { createTopic } from '../support/api.ts';
import { backends, type OpenBackend } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { chunksOf, indexItems } from '../support/storage.ts';

const minute = 60_000;

/**
 * The stores with every segment read counted, as S3 would bill them, and every index entry
 * read, as DynamoDB would (small batches are held in their entries).
 */
function countingReads(stores: OpenBackend) {
  let reads = 0;
  let entries = 0;
  const countEntries = <T extends StoredItem | undefined>(items: T[]): T[] => {
    entries += items.filter((item) => item?.sk.startsWith(batchSkPrefix)).length;
    return items;
  };
  const metadata: MetadataStore = {
    get: (key) => stores.metadata.get(key),
    getMany: async (keys) => countEntries(await stores.metadata.getMany(keys)),
    query: async (pk, options) => countEntries(await stores.metadata.query(pk, options)),
    transact: (ops) => stores.metadata.transact(ops),
    deleteMany: (keys) => stores.metadata.deleteMany(keys),
  };
  const segments: SegmentStore = {
    put: (key, body) => stores.segments.put(key, body),
    get: (key, range) => {
      reads++;
      return stores.segments.get(key, range);
    },
    list: (prefix, cursor, after) => stores.segments.list(prefix, cursor, after),
    delete: (keys) => stores.segments.delete(keys),
  };
  return {
    stores: { ...stores, metadata, segments, close: async () => {} },
    reads: () => reads,
    entries: () => entries,
  };
}

/**
 * Segment merge: a partition written one record per request is a chain of tiny batches,
 * each in its own index entry, and a consumer reading it pays for an entry per record.
 * Maintenance joins them into segment objects, and the same read then costs a handful of
 * entries and segment reads, with every record as it was.
 */
describe.each(backends)('segment merge ($name)', (backend) => {
  // On the emulators, fewer: each produce request is a DynamoDB Local transaction.
  const batches = backend.name === 'embedded' ? 10_000 : 3_000;
  let server: RunningServer;
  let now = Date.UTC(2026, 8, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  /** Every record from offset 0 as a consumer reads it (default page size), and the reads. */
  const consume = async () => {
    // A server of its own: its cache has seen nothing, as a cold Lambda's.
    const counted = countingReads(server.stores);
    const reader = await startServer(backend, { stores: counted.stores, now: () => now });
    try {
      const records: unknown[] = [];
      let offset = 0;
      let fetches = 0;
      for (;;) {
        fetches++;
        const page = await call(
          reader.url,
          'GET',
          `/v1/topics/one-by-one/partitions/0/records?offset=${offset}`,
        );
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        records.push(...page.body.records);
        if (page.body.nextOffset >= page.body.highWatermark) break;
        offset = page.body.nextOffset;
      }
      return { records, fetches, reads: counted.reads(), entries: counted.entries() };
    } finally {
      await reader.stop();
    }
  };

  it(`merges ${batches.toLocaleString('en')} single-record batches so that reading them all takes a handful of entries and segment reads`, async () => {
    await createTopic(server.url, 'one-by-one', 1);
    let next = 0;
    const producer = async () => {
      for (let i = next++; i < batches; i = next++) {
        const response = await call(server.url, 'POST', '/v1/topics/one-by-one/records', {
          records: [
            {
              key: `k${i % 7}`,
              value: `record ${i}`,
              headers: [{ name: 'n', value: String(i) }],
              partition: 0,
            },
          ],
        });
        expect(response.status, JSON.stringify(response.body)).toBe(200);
      }
    };
    // One writer at a time on DynamoDB Local, whose transactions conflict more than DynamoDB's.
    await Promise.all(Array.from({ length: backend.name === 'embedded' ? 4 : 1 }, producer));
    const before = await consume();
    expect(before.records).toHaveLength(batches);
    // Each batch small enough to be held in its index entry: no segment read, an entry each.
    expect(before.reads).toBe(0);
    expect(before.entries).toBeGreaterThanOrEqual(batches);

    // Young batches are left alone: the tail producers and consumers are working on.
    now += minute;
    let report = (await call(server.url, 'POST', '/v1/admin/maintenance')).body.report;
    expect(report.batchesMerged).toBe(0);
    now += 5 * minute;
    report = (await call(server.url, 'POST', '/v1/admin/maintenance')).body.report;
    expect(report.failures).toBe(0);
    expect(report.batchesMerged).toBeGreaterThanOrEqual(batches);

    const after = await consume();
    expect(after.records).toEqual(before.records);
    expect(after.reads).toBeLessThanOrEqual(5);
    // An entry or two per fetch (the one covering its offset, the next), where it was 500.
    expect(after.entries).toBeLessThanOrEqual(2 * after.fetches);
    const { topicId } = (await call(server.url, 'GET', '/v1/topics/one-by-one')).body;
    expect((await indexItems(server.stores, topicId, 0)).length).toBeLessThanOrEqual(5);

    // Once readers have had their grace, the pass after frees the small chunks.
    now += 10 * minute;
    await call(server.url, 'POST', '/v1/admin/maintenance');
    expect((await chunksOf(server.stores, topicId)).length).toBeLessThanOrEqual(5);
    expect((await consume()).records).toEqual(before.records);
  }, 300_000);
});
