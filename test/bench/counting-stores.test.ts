import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingMetadataStore } from '../../bench/counting-stores.ts';
import {
  openSqliteMetadataStore,
  type SqliteMetadataStore,
} from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import { expectAbsent, expectAny } from '../../functions/core/ports/metadata-store.ts';

/**
 * The bench prices each metadata call as DynamoDB bills the call the DynamoDB adapter makes
 * for it: a write of one item is a plain conditional UpdateItem or DeleteItem (1 WCU per KB),
 * a write of several a TransactWriteItems (2 WCU per KB per item). The cost tables in
 * docs/performance.md and docs/deploy.md are read from these figures.
 */
describe('the bench’s DynamoDB write pricing', () => {
  let dir: string;
  let inner: SqliteMetadataStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tributary-counting-'));
    inner = openSqliteMetadataStore(join(dir, 'metadata.db'));
  });
  afterAll(async () => {
    inner.close();
    await rm(dir, { recursive: true, force: true });
  });

  const small = { note: 'x'.repeat(100) };
  /** About 1.5 KB as DynamoDB sizes it: 2 WCU as a single write, 4 in a transaction. */
  const large = { note: 'x'.repeat(1_500) };

  it('prices a write of one item as a single write, 1 WCU per KB rounded up', async () => {
    const store = new CountingMetadataStore(inner);
    const key = { pk: 'single', sk: 'a' };
    await store.transact([{ type: 'put', key, data: small, expect: expectAbsent }]);
    expect(store.counts.writeUnits).toBe(1);
    await store.transact([{ type: 'put', key, data: large, expect: expectAny }]);
    expect(store.counts.writeUnits).toBe(1 + 2);
    // A delete is sized by the item as it is: the 1.5 KB one, 2 WCU.
    await store.transact([{ type: 'delete', key, expect: expectAny }]);
    expect(store.counts.writeUnits).toBe(1 + 2 + 2);
    expect(store.counts.metadataSingleWrites).toBe(3);
  });

  it('prices every item of a transaction at 2 WCU per KB, a check alone included', async () => {
    const store = new CountingMetadataStore(inner);
    await store.transact([
      { type: 'put', key: { pk: 'tx', sk: 'a' }, data: small, expect: expectAbsent },
      { type: 'put', key: { pk: 'tx', sk: 'b' }, data: large, expect: expectAbsent },
    ]);
    expect(store.counts.writeUnits).toBe(2 + 4);
    // DynamoDB has no single-item condition check: it stays a TransactWriteItems.
    await store.transact([{ type: 'check', key: { pk: 'tx', sk: 'a' }, expect: expectAny }]);
    expect(store.counts.writeUnits).toBe(2 + 4 + 2);
    expect(store.counts.metadataSingleWrites).toBe(0);
    expect(store.counts.metadataTransacts).toBe(2);
  });
});
