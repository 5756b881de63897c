/**
 * Child process for the embedded store's crash test: commits transactions of two items in a
 * loop and prints `committed <i>` after each one resolves, until it is killed.
 *
 * Usage: node test/support/sqlite-crash-writer.ts <database path>
 */

import { openSqliteMetadataStore } from '../../functions/adapters/embedded/sqlite-metadata-store.ts';
import { expectAbsent } from '../../functions/core/ports/metadata-store.ts';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: sqlite-crash-writer.ts <database path>');
const store = openSqliteMetadataStore(path);

for (let i = 0; ; i++) {
  const sk = String(i).padStart(8, '0');
  await store.transact([
    { type: 'put', key: { pk: 'item', sk }, data: { i }, expect: expectAbsent },
    { type: 'put', key: { pk: 'pair', sk }, data: { i }, expect: expectAbsent },
  ]);
  // Pipes are synchronous on POSIX: the line is out before the next transaction starts.
  process.stdout.write(`committed ${i}\n`);
}
