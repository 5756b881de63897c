import type { CoreContext } from '../context.ts';
import { batchSk, batchSkEnd, batchSkPrefix, partitionPk } from '../keys.ts';
import { entryFromItem, type IndexEntry } from './partition-items.ts';

/**
 * Index entries from the one covering `offset` onwards, in offset order, a page at a time.
 * The covering entry is the one with the greatest base offset <= `offset`.
 */
export async function* entriesFrom(
  ctx: CoreContext,
  topicId: string,
  partition: number,
  offset: number,
  pageSize = 100,
): AsyncGenerator<IndexEntry> {
  const pk = partitionPk(topicId, partition);
  const [covering] = await ctx.metadata.query(pk, {
    from: batchSkPrefix,
    to: batchSk(offset),
    reverse: true,
    limit: 1,
  });
  let from = covering ? covering.sk : batchSk(offset);
  for (;;) {
    const page = await ctx.metadata.query(pk, { from, to: batchSkEnd, limit: pageSize });
    for (const item of page) yield entryFromItem(item);
    const last = page.at(-1);
    if (page.length < pageSize || !last) return;
    // The next sort key after `last` in byte order.
    from = `${last.sk}\u0000`;
  }
}
