import type { CoreContext } from '../core/context.ts';
import { batchSk, maintKey, partitionPk } from '../core/keys.ts';
import {
  type ChunkSibling,
  entryEnd,
  entryFromItem,
  type IndexEntry,
} from '../core/log/partition-items.ts';
import {
  gcDueEnd,
  gcKey,
  gcSkPrefix,
  maintFromItem,
  type PendingChunk,
  pendingFromJson,
  pendingToJson,
} from '../core/log/partition-maint.ts';
import {
  expectAbsent,
  type ItemKey,
  type StoredItem,
  type WriteOp,
} from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import { readMaint, saveMaint } from './maint.ts';
import type { StepOutcome } from './retention.ts';

/**
 * The chunks of these entries, each once, with every batch of the chunk: a produce chunk
 * holds a batch of each partition a request wrote, a rewrite's chunk several batches of one
 * partition, and each entry names the others (its siblings).
 */
export function pendingChunks(partition: number, entries: readonly IndexEntry[]): PendingChunk[] {
  const byChunk = new Map<string, { released: ChunkSibling[]; others: ChunkSibling[] }>();
  const same = (a: ChunkSibling) => (b: ChunkSibling) => a[0] === b[0] && a[1] === b[1];
  for (const entry of entries) {
    if (entry.chunk === '') continue;
    const known = byChunk.get(entry.chunk) ?? { released: [], others: [] };
    known.released.push([partition, entry.baseOffset, entry.byteLength]);
    for (const sibling of entry.siblings ?? []) {
      if (!known.others.some(same(sibling))) known.others.push(sibling);
    }
    byChunk.set(entry.chunk, known);
  }
  return [...byChunk].map(([chunk, { released, others }]) => ({
    chunk,
    refs: [...released, ...others.filter((o) => !released.some(same(o)))],
    released: released.length,
  }));
}

/**
 * The write that lists chunks a partition lets go of, for the release to judge once `due`
 * has passed; it goes in the same transaction as the change that lets go of them.
 */
export function gcOp(
  ctx: CoreContext,
  topicId: string,
  partition: number,
  due: number,
  chunks: readonly PendingChunk[],
): WriteOp {
  return {
    type: 'put',
    key: gcKey(topicId, partition, due, ctx.newId()),
    data: { chunks: pendingToJson(chunks) },
    expect: expectAbsent,
  };
}

/** gc items judged per partition in one step. */
const itemsPerPartition = 20;
/** Chunks judged in one step, over every partition. */
const chunksPerStep = 2_000;

const chunkBytes = (pending: PendingChunk) =>
  pending.refs.reduce((sum, [, , length]) => sum + length, 0);

/**
 * One step of releasing a topic's chunks: the gc items of its partitions that came due are
 * judged, and the chunks no index entry refers to any more are deleted.
 *
 * A chunk holds the batches of up to 32 partitions, each with its own index entry, and dies
 * with the last of them. Whatever lets go of an entry (retention's delete, a rewrite's swap)
 * lists its chunk in a gc item *in the same transaction* that records it — before a delete,
 * with a swap — and the item is judged only here, one step per topic:
 * - when an entry the item let go of still refers to its chunk, retention listed it and its
 *   delete has not happened yet: if the entry is below that partition's `cleanedTo`, its
 *   delete is done here (a crash stopped it); otherwise the item waits;
 * - otherwise each chunk is deleted when no entry anywhere refers to it, and left to the
 *   partitions that still do — which list it when they let go in turn — when one does;
 * - the item is then deleted.
 * So whichever partition lets go last, the chunk is judged after that and deleted, once.
 * An entry that still exists but points at another chunk (a swap replaced the batch) no
 * longer refers to this one. Deleting is idempotent, so a step re-run after a crash, or
 * overlapping another, loses nothing.
 */
export async function releaseChunks(ctx: CoreContext, topic: Topic): Promise<StepOutcome> {
  const now = ctx.now();
  const partitions = Array.from({ length: topic.partitions }, (_, p) => p);
  const maints = (await ctx.metadata.getMany(partitions.map((p) => maintKey(topic.id, p)))).map(
    maintFromItem,
  );
  const due = partitions.filter((p) => {
    const gcAt = maints[p]?.gcAt;
    return gcAt !== undefined && gcAt <= now;
  });
  if (due.length === 0) return { more: false, counts: {} };

  const items: { partition: number; item: StoredItem; chunks: PendingChunk[] }[] = [];
  let more = false;
  let chunks = 0;
  for (const partition of due) {
    if (chunks >= chunksPerStep) {
      more = true;
      break;
    }
    const page = await ctx.metadata.query(partitionPk(topic.id, partition), {
      from: gcSkPrefix,
      to: gcDueEnd(now),
      limit: itemsPerPartition,
    });
    if (page.length === itemsPerPartition) more = true;
    for (const item of page) {
      const listed = pendingFromJson(item.data.chunks);
      chunks += listed.length;
      items.push({ partition, item, chunks: listed });
    }
  }

  // A gc item waits while the entry of the partition that listed a chunk still exists. When
  // that entry lies below the partition's cleanedTo, retention listed it and counted it but
  // was stopped before its delete (a crash): the delete is done here, then the chunk judged.
  const refKeys = (list: readonly PendingChunk[]) =>
    list.flatMap((p) => p.refs.map(([q, base]) => refKey(topic.id, q, base)));
  const before = await ctx.metadata.getMany(items.flatMap(({ chunks }) => refKeys(chunks)));
  const leftBehind: StoredItem[] = [];
  let at = 0;
  for (const { partition, chunks: listed } of items) {
    const cleanedTo = maints[partition]?.cleanedTo ?? 0;
    for (const pending of listed) {
      pending.refs.forEach((_, i) => {
        const entry = before[at++];
        if (i >= pending.released || entry?.data.chunk !== pending.chunk) return;
        if (entryEnd(entryFromItem(entry)) <= cleanedTo) leftBehind.push(entry);
      });
    }
  }
  if (leftBehind.length > 0) await ctx.metadata.deleteMany(leftBehind);
  const found =
    leftBehind.length > 0
      ? await ctx.metadata.getMany(items.flatMap(({ chunks }) => refKeys(chunks)))
      : before;

  const dead = new Map<string, PendingChunk>();
  const judged: StoredItem[] = [];
  at = 0;
  for (const { item, chunks: listed } of items) {
    let releasedStill = false;
    const itemDead: PendingChunk[] = [];
    for (const pending of listed) {
      let referring = 0;
      pending.refs.forEach((_, i) => {
        if (found[at++]?.data.chunk !== pending.chunk) return;
        referring++;
        if (i < pending.released) releasedStill = true;
      });
      if (referring === 0) itemDead.push(pending);
    }
    if (releasedStill) continue;
    for (const pending of itemDead) dead.set(pending.chunk, pending);
    judged.push(item);
  }
  if (dead.size > 0) await ctx.segments.delete([...dead.keys()]);
  if (judged.length > 0) await ctx.metadata.deleteMany(judged);
  for (const partition of due) await refreshGcAt(ctx, topic, partition);
  return {
    more: more && judged.length > 0,
    counts: {
      indexEntriesDeleted: leftBehind.length,
      chunksDeleted: dead.size,
      bytesFreed: [...dead.values()].reduce((sum, p) => sum + chunkBytes(p), 0),
    },
  };
}

/**
 * Sets the partition's gcAt to when its earliest remaining gc item comes due. The state is
 * read before the gc items are looked at, and written conditioned on it: a writer listing
 * more chunks in between changes the state, and the write is tried again.
 */
async function refreshGcAt(ctx: CoreContext, topic: Topic, partition: number): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const maint = await readMaint(ctx, topic.id, partition);
    const [first] = await ctx.metadata.query(partitionPk(topic.id, partition), {
      from: gcSkPrefix,
      to: `${gcSkPrefix}~`,
      limit: 1,
    });
    const dueAt = first
      ? Number(first.sk.slice(gcSkPrefix.length, gcSkPrefix.length + 13))
      : undefined;
    if (maint.gcAt === dueAt) return;
    if (await saveMaint(ctx, topic, partition, maint, { ...maint, gcAt: dueAt })) return;
  }
}

const refKey = (topicId: string, partition: number, baseOffset: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: batchSk(baseOffset),
});
