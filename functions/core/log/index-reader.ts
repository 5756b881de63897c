import type { CoreContext } from '../context.ts';
import { batchSk, batchSkEnd, batchSkPrefix, partitionPk } from '../keys.ts';
import { entryFromItem, type IndexEntry } from './partition-items.ts';

/** Index entries per query once a reader is known to need more than its first page. */
const fullPage = 100;

/**
 * Index entries from the one covering `offset` onwards, in offset order, a page at a time.
 * The covering entry is the one with the greatest base offset <= `offset`. A reader
 * resuming where its last fetch ended usually asks for a batch's base offset, which the
 * forward query finds alone; only an offset inside a batch costs a second, backward query.
 * The caller sizes the first page — DynamoDB bills every item a query reads, and a single
 * batch may hold all the records a reader wants — and later pages are full.
 */
export async function* entriesFrom(
  ctx: CoreContext,
  topicId: string,
  partition: number,
  offset: number,
  firstPage = 100,
): AsyncGenerator<IndexEntry> {
  let pageSize = firstPage;
  const pk = partitionPk(topicId, partition);
  let page = await ctx.metadata.query(pk, {
    from: batchSk(offset),
    to: batchSkEnd,
    limit: pageSize,
  });
  if (page[0]?.sk !== batchSk(offset)) {
    const [covering] = await ctx.metadata.query(pk, {
      from: batchSkPrefix,
      to: batchSk(offset),
      reverse: true,
      limit: 1,
    });
    if (covering) yield entryFromItem(covering);
  }
  for (;;) {
    for (const item of page) yield entryFromItem(item);
    const last = page.at(-1);
    if (page.length < pageSize || !last) return;
    pageSize = fullPage;
    // The next sort key after `last` in byte order.
    page = await ctx.metadata.query(pk, {
      from: `${last.sk}\u0000`,
      to: batchSkEnd,
      limit: pageSize,
    });
  }
}
