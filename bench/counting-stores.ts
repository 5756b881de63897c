/**
 * Decorators that count what the core asks of its stores, by kind, and estimate the
 * DynamoDB capacity units each call would consume. The counts are a property of the core
 * and the adapters' contracts, not of the engine underneath: they are the same on the
 * embedded store and on DynamoDB, and carry over to AWS, where they are what a request
 * costs.
 */

import {
  ConditionFailedError,
  type ItemKey,
  type MetadataStore,
  type QueryOptions,
  type StoredItem,
  type WriteOp,
} from '../functions/core/ports/metadata-store.ts';
import type {
  ByteRange,
  SegmentPage,
  SegmentStore,
} from '../functions/core/ports/segment-store.ts';
import {
  itemSize,
  type KnownItem,
  queryReadUnits,
  standardWriteUnits,
  strongReadUnits,
  transactionalWriteUnits,
  transactOpSize,
} from './dynamodb-capacity.ts';

export interface StorageCounts {
  segmentPuts: number;
  segmentPutBytes: number;
  segmentGets: number;
  segmentGetBytes: number;
  segmentLists: number;
  segmentDeletes: number;
  segmentDeletedKeys: number;
  metadataGets: number;
  metadataGetManys: number;
  metadataGetManyKeys: number;
  metadataQueries: number;
  metadataQueryItems: number;
  metadataTransacts: number;
  metadataTransactOps: number;
  /**
   * Of `metadataTransacts`, those of one put or delete, which the DynamoDB adapter sends as
   * a single conditional UpdateItem or DeleteItem (half the write units of a transaction).
   */
  metadataSingleWrites: number;
  /** Transactions refused for a failed condition or contention (a commit retry follows). */
  metadataTransactFailures: number;
  metadataDeleteManys: number;
  metadataDeleteManyKeys: number;
  /** Estimated DynamoDB read capacity units (strongly consistent reads). */
  readUnits: number;
  /** Estimated DynamoDB write capacity units (standard or transactional, as the adapter writes). */
  writeUnits: number;
  /**
   * Milliseconds spent waiting on each kind of call, summed over calls (concurrent calls
   * overlap, so per request this is the time a request spent waiting on that kind).
   */
  segmentPutMs: number;
  segmentGetMs: number;
  metadataReadMs: number;
  metadataWriteMs: number;
}

export const zeroCounts = (): StorageCounts => ({
  segmentPuts: 0,
  segmentPutBytes: 0,
  segmentGets: 0,
  segmentGetBytes: 0,
  segmentLists: 0,
  segmentDeletes: 0,
  segmentDeletedKeys: 0,
  metadataGets: 0,
  metadataGetManys: 0,
  metadataGetManyKeys: 0,
  metadataQueries: 0,
  metadataQueryItems: 0,
  metadataTransacts: 0,
  metadataTransactOps: 0,
  metadataSingleWrites: 0,
  metadataTransactFailures: 0,
  metadataDeleteManys: 0,
  metadataDeleteManyKeys: 0,
  readUnits: 0,
  writeUnits: 0,
  segmentPutMs: 0,
  segmentGetMs: 0,
  metadataReadMs: 0,
  metadataWriteMs: 0,
});

/** Runs `call`, adding the milliseconds it took to `counts[field]` whether it succeeds or not. */
async function timed<T>(
  counts: StorageCounts,
  field: 'segmentPutMs' | 'segmentGetMs' | 'metadataReadMs' | 'metadataWriteMs',
  call: () => Promise<T>,
): Promise<T> {
  const start = performance.now();
  try {
    return await call();
  } finally {
    counts[field] += performance.now() - start;
  }
}

/** Every count divided by `n` (per-request averages). */
export function perRequest(counts: StorageCounts, n: number): StorageCounts {
  const result = zeroCounts();
  for (const name of Object.keys(result) as (keyof StorageCounts)[]) {
    result[name] = n === 0 ? 0 : counts[name] / n;
  }
  return result;
}

/** a - b, field by field: what one run did beyond another. */
export function subtractCounts(a: StorageCounts, b: StorageCounts): StorageCounts {
  const result = { ...a };
  for (const name of Object.keys(result) as (keyof StorageCounts)[]) result[name] -= b[name];
  return result;
}

/** Every count multiplied by `factor` (per GB, per 1,000 records). */
export function scaleCounts(counts: StorageCounts, factor: number): StorageCounts {
  const result = { ...counts };
  for (const name of Object.keys(result) as (keyof StorageCounts)[]) result[name] *= factor;
  return result;
}

/** DynamoDB reads: calls (GetItem, BatchGetItem, Query) and the items they asked for or read. */
export const metadataReads = (c: StorageCounts): { calls: number; items: number } => ({
  calls: c.metadataGets + c.metadataGetManys + c.metadataQueries,
  items: c.metadataGets + c.metadataGetManyKeys + c.metadataQueryItems,
});

/**
 * DynamoDB writes: calls (TransactWriteItems, UpdateItem or DeleteItem, BatchWriteItem) and
 * the items they wrote.
 */
export const metadataWrites = (c: StorageCounts): { calls: number; items: number } => ({
  calls: c.metadataTransacts + c.metadataDeleteManys,
  items: c.metadataTransactOps + c.metadataDeleteManyKeys,
});

/** The field-by-field sum of several sets of counts. */
export function sumCounts(all: readonly StorageCounts[]): StorageCounts {
  const result = zeroCounts();
  for (const counts of all) {
    for (const name of Object.keys(result) as (keyof StorageCounts)[]) {
      result[name] += counts[name];
    }
  }
  return result;
}

const keyId = (key: ItemKey): string => `${key.pk}\u0000${key.sk}`;

/** Counts metadata calls into `counts`; remembers item sizes to size later updates. */
export class CountingMetadataStore implements MetadataStore {
  readonly #inner: MetadataStore;
  readonly #known = new Map<string, KnownItem>();
  counts: StorageCounts;

  constructor(inner: MetadataStore, counts: StorageCounts = zeroCounts()) {
    this.#inner = inner;
    this.counts = counts;
  }

  async get(key: ItemKey): Promise<StoredItem | undefined> {
    const counts = this.counts;
    counts.metadataGets++;
    const item = await timed(counts, 'metadataReadMs', () => this.#inner.get(key));
    counts.readUnits += strongReadUnits(item && this.#remember(item));
    return item;
  }

  async getMany(keys: readonly ItemKey[]): Promise<(StoredItem | undefined)[]> {
    const counts = this.counts;
    // No keys, no BatchGetItem (a group with no members reads no topics).
    if (keys.length > 0) counts.metadataGetManys++;
    counts.metadataGetManyKeys += keys.length;
    const items = await timed(counts, 'metadataReadMs', () => this.#inner.getMany(keys));
    // BatchGetItem reads each distinct key once (the adapter drops duplicates).
    const seen = new Set<string>();
    keys.forEach((key, i) => {
      const id = keyId(key);
      if (seen.has(id)) return;
      seen.add(id);
      const item = items[i];
      counts.readUnits += strongReadUnits(item && this.#remember(item));
    });
    return items;
  }

  async query(pk: string, options?: QueryOptions): Promise<StoredItem[]> {
    const counts = this.counts;
    counts.metadataQueries++;
    const items = await timed(counts, 'metadataReadMs', () => this.#inner.query(pk, options));
    counts.metadataQueryItems += items.length;
    counts.readUnits += queryReadUnits(items.map((item) => this.#remember(item)));
    return items;
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    const counts = this.counts;
    counts.metadataTransacts++;
    counts.metadataTransactOps += ops.length;
    // One put or delete goes to DynamoDB as a plain conditional write (the adapter's
    // #writeOne), billed 1 WCU per KB; anything else, a check alone included, is a
    // TransactWriteItems at 2 WCU per KB per item.
    const single = ops.length === 1 && ops[0]?.type !== 'check';
    if (single) counts.metadataSingleWrites++;
    const writeUnits = single ? standardWriteUnits : transactionalWriteUnits;
    for (const op of ops) {
      counts.writeUnits += writeUnits(transactOpSize(op, this.#known.get(keyId(op.key))));
    }
    try {
      await timed(counts, 'metadataWriteMs', () => this.#inner.transact(ops));
    } catch (error: unknown) {
      counts.metadataTransactFailures++;
      if (error instanceof ConditionFailedError) {
        for (const failure of error.failures) {
          if (failure.current) this.#remember(failure.current);
        }
      }
      throw error;
    }
    for (const op of ops) {
      const id = keyId(op.key);
      if (op.type === 'delete') this.#known.delete(id);
      if (op.type !== 'put') continue;
      const version = (this.#known.get(id)?.version ?? 0) + 1;
      const size = itemSize({
        pk: op.key.pk,
        sk: op.key.sk,
        version,
        data: op.data,
        ...(op.expiresAt !== undefined && { expiresAt: op.expiresAt }),
      });
      this.#known.set(id, { size, version });
    }
  }

  async deleteMany(keys: readonly ItemKey[]): Promise<void> {
    const counts = this.counts;
    counts.metadataDeleteManys++;
    counts.metadataDeleteManyKeys += keys.length;
    for (const key of new Set(keys.map(keyId))) {
      counts.writeUnits += standardWriteUnits(this.#known.get(key)?.size ?? 0);
      this.#known.delete(key);
    }
    await timed(counts, 'metadataWriteMs', () => this.#inner.deleteMany(keys));
  }

  /** Records the item's size and version; returns the size. */
  #remember(item: StoredItem): number {
    const size = itemSize(item);
    this.#known.set(keyId(item), { size, version: item.version });
    return size;
  }
}

/** Counts segment store calls into `counts`. */
export class CountingSegmentStore implements SegmentStore {
  readonly #inner: SegmentStore;
  counts: StorageCounts;

  constructor(inner: SegmentStore, counts: StorageCounts = zeroCounts()) {
    this.#inner = inner;
    this.counts = counts;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const counts = this.counts;
    counts.segmentPuts++;
    counts.segmentPutBytes += body.byteLength;
    await timed(counts, 'segmentPutMs', () => this.#inner.put(key, body));
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const counts = this.counts;
    counts.segmentGets++;
    const bytes = await timed(counts, 'segmentGetMs', () => this.#inner.get(key, range));
    counts.segmentGetBytes += bytes.byteLength;
    return bytes;
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.counts.segmentDeletes++;
    this.counts.segmentDeletedKeys += keys.length;
    await this.#inner.delete(keys);
  }

  async list(prefix: string, cursor?: string): Promise<SegmentPage> {
    this.counts.segmentLists++;
    return this.#inner.list(prefix, cursor);
  }
}
