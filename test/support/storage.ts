/**
 * What a topic holds in the stores themselves, read behind the API: the items under its
 * partitions and its segment objects. Tests of the maintenance workflow count these, since
 * a response can hide what is still stored.
 */

import { expect } from 'vitest';
import { batchSkEnd, batchSkPrefix, chunkPrefix, partitionPk } from '../../functions/core/keys.ts';
import { gcSkPrefix } from '../../functions/core/log/partition-maint.ts';
import type {
  MetadataStore,
  StoredItem,
  WriteOp,
} from '../../functions/core/ports/metadata-store.ts';
import type { SegmentObject } from '../../functions/core/ports/segment-store.ts';
import type { OpenBackend } from './backends.ts';
import { call, type RunningServer } from './server.ts';

/** The index entries of a partition, in offset order. */
export const indexItems = (stores: OpenBackend, topicId: string, partition: number) =>
  stores.metadata.query(partitionPk(topicId, partition), { from: batchSkPrefix, to: batchSkEnd });

/** Every item under a partition's key: head, start, index, producer state, cursors. */
export const partitionItems = (
  stores: OpenBackend,
  topicId: string,
  partition: number,
): Promise<StoredItem[]> => stores.metadata.query(partitionPk(topicId, partition));

/** Every segment object under a prefix (all pages). */
export async function objectsUnder(stores: OpenBackend, prefix: string): Promise<SegmentObject[]> {
  const objects: SegmentObject[] = [];
  let cursor: string | undefined;
  do {
    const page = await stores.segments.list(prefix, cursor);
    objects.push(...page.objects);
    cursor = page.cursor;
  } while (cursor);
  return objects;
}

/** A topic's chunks. */
export const chunksOf = (stores: OpenBackend, topicId: string) =>
  objectsUnder(stores, chunkPrefix(topicId));

/**
 * Storage exactly as a topic's log needs it: no index entry below a log start, no chunk
 * that no entry refers to, none missing that one does, no chunk still waiting to be judged.
 */
export async function expectStoredExactly(server: RunningServer, topic: string): Promise<void> {
  const described = (await call(server.url, 'GET', `/v1/topics/${topic}`)).body;
  const referenced = new Set<string>();
  for (const p of described.partitions) {
    for (const item of await indexItems(server.stores, described.topicId, p.partition)) {
      expect(Number(item.data.lastOffset) + 1, `${topic}-${p.partition}`).toBeGreaterThan(
        p.logStartOffset,
      );
      if (item.data.chunk !== '') referenced.add(String(item.data.chunk));
    }
    const waiting = await server.stores.metadata.query(
      partitionPk(described.topicId, p.partition),
      { from: gcSkPrefix, to: `${gcSkPrefix}~` },
    );
    expect(waiting, `${topic}-${p.partition} has chunks waiting to be judged`).toEqual([]);
  }
  const stored = (await chunksOf(server.stores, described.topicId)).map((o) => o.key);
  expect(new Set(stored), `${topic}'s chunks`).toEqual(referenced);
}

/** The store as it is, but a transaction matching `fails` dies before it reaches it. */
export const failingWhen = (
  store: MetadataStore,
  fails: (ops: readonly WriteOp[]) => boolean,
): MetadataStore => ({
  get: (key) => store.get(key),
  getMany: (keys) => store.getMany(keys),
  query: (pk, options) => store.query(pk, options),
  deleteMany: (keys) => store.deleteMany(keys),
  transact: (ops) => (fails(ops) ? Promise.reject(new Error('process died')) : store.transact(ops)),
});

/** The writes of a topic delete that mark its partition heads deleted. */
export const marksHeadDeleted = (ops: readonly WriteOp[]) =>
  ops.some((op) => op.type === 'put' && op.key.sk === 'head' && op.data.deleted === true);

/** The store as it is, with `before` run ahead of each write (transactions and deletes alike). */
function beforeEachWrite(store: MetadataStore, before: () => Promise<void>): MetadataStore {
  const write = async <T>(run: () => Promise<T>): Promise<T> => {
    await before();
    return run();
  };
  return {
    get: (key) => store.get(key),
    getMany: (keys) => store.getMany(keys),
    query: (pk, options) => store.query(pk, options),
    deleteMany: (keys) => write(() => store.deleteMany(keys)),
    transact: (ops) => write(() => store.transact(ops)),
  };
}

/** The store as it is, but the process dies after its first `writes` writes: later ones reject. */
export function dyingAfterWrites(store: MetadataStore, writes: number): MetadataStore {
  let done = 0;
  return beforeEachWrite(store, async () => {
    if (done++ >= writes) throw new Error('process died');
  });
}

/**
 * The store as it is, but `meanwhile` runs to its end just before the store's `nth` write
 * (1-based, transactions and deletes alike) is sent: a race lost at exactly that point.
 */
export function racingBeforeWrite(
  store: MetadataStore,
  nth: number,
  meanwhile: () => Promise<void>,
): MetadataStore {
  let writes = 0;
  return beforeEachWrite(store, async () => {
    if (++writes === nth) await meanwhile();
  });
}
