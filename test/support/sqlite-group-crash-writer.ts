/**
 * Child process for the embedded store's crash test under concurrency: eight writers commit
 * at once, so their transactions share commits. Each transaction writes an item and its
 * pair; every fourth one of a writer also expects an item that exists to be absent, so it
 * fails and must leave nothing. After each transaction settles the writer prints
 * `committed <writer>-<n>` or `refused <writer>-<n>`, until the process is killed.
 *
 * Usage: node test/support/sqlite-group-crash-writer.ts <database path>
 */

import { openSqliteMetadataStore } from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import {
  ConditionFailedError,
  expectAbsent,
  expectAny,
  type WriteOp,
} from '../../functions/core/ports/metadata-store.ts';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: sqlite-group-crash-writer.ts <database path>');
const store = openSqliteMetadataStore(path);
const taken = { pk: 'fixed', sk: 'taken' };
await store.transact([{ type: 'put', key: taken, data: {}, expect: expectAny }]);

/** Whether the writer's n-th transaction is one that fails its condition. */
const refuses = (n: number): boolean => n % 4 === 3;

const writer = async (w: number): Promise<never> => {
  for (let n = 0; ; n++) {
    const sk = `${w}-${String(n).padStart(8, '0')}`;
    const ops: WriteOp[] = [
      { type: 'put', key: { pk: 'item', sk }, data: { w, n }, expect: expectAbsent },
      ...(refuses(n) ? [{ type: 'check', key: taken, expect: expectAbsent } as const] : []),
      { type: 'put', key: { pk: 'pair', sk }, data: { w, n }, expect: expectAbsent },
    ];
    try {
      await store.transact(ops);
      // Pipes are synchronous on POSIX: the line is out before the next transaction starts.
      process.stdout.write(`committed ${sk}\n`);
    } catch (error: unknown) {
      if (!(error instanceof ConditionFailedError)) throw error;
      process.stdout.write(`refused ${sk}\n`);
    }
  }
};

await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
