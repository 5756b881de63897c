import type { CoreContext } from '../core/context.ts';
import { batchSk, batchSkEnd, batchSkPrefix, partitionPk, rewriteChunkKey } from '../core/keys.ts';
import {
  type BatchRecord,
  concatBatches,
  type DecodedBatch,
  encodeBatch,
  recordSize,
  type TimestampType,
} from '../core/log/batch-codec.ts';
import type { BatchReader } from '../core/log/batch-reader.ts';
import {
  type ChunkSibling,
  entryData,
  entryEnd,
  entryFromItem,
  type IndexEntry,
} from '../core/log/partition-items.ts';
import type { PartitionMaint } from '../core/log/partition-maint.ts';
import {
  expectAbsent,
  expectVersion,
  type StoredItem,
  type WriteOp,
} from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import { gcOp, pendingChunks } from './gc.ts';
import { type MaintChange, saveMaint } from './maint.ts';

/**
 * How long a chunk a rewrite replaced stays after the swap: a reader that read the old
 * index entry just before it finishes its read well within this (a request lasts at most
 * 30 s in AWS).
 */
export const readerGraceMs = 5 * 60_000;

/** Old entries one swap replaces: the swap is one transaction of at most 100 items. */
export const maxEntriesPerSwap = 90;

/** A record of a rewritten range, at its offset. */
export interface PlacedRecord {
  readonly offset: number;
  readonly record: BatchRecord;
}

/**
 * A batch a rewrite writes: the offsets it covers — fresh batches tile the range they
 * replace, so a range whose records all went still has an entry — and the records it keeps.
 */
export interface FreshBatch {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly records: readonly PlacedRecord[];
  readonly timestampType: TimestampType;
  /** When its tombstones may be removed (compaction), if it holds any. */
  readonly deleteHorizon?: number;
}

/** An old entry with its stored item (for the condition) and its decoded batch. */
export interface ReadEntry {
  readonly item: StoredItem;
  readonly entry: IndexEntry;
  /** Undefined for an entry that holds no records. */
  readonly batch: DecodedBatch | undefined;
}

/**
 * Index entries as stored items (their versions condition a swap), from the one covering
 * `offset` on, at most `limit`, stopping before `end`.
 */
export async function entryItemsFrom(
  ctx: CoreContext,
  topicId: string,
  partition: number,
  offset: number,
  end: number,
  limit: number,
): Promise<StoredItem[]> {
  const pk = partitionPk(topicId, partition);
  const [covering] = await ctx.metadata.query(pk, {
    from: batchSkPrefix,
    to: batchSk(offset),
    reverse: true,
    limit: 1,
  });
  const after = await ctx.metadata.query(pk, {
    from: batchSk(offset + 1),
    to: batchSkEnd,
    limit,
  });
  const items = [
    ...(covering && entryEnd(entryFromItem(covering)) > offset ? [covering] : []),
    ...after,
  ];
  return items.filter((item) => entryFromItem(item).baseOffset < end).slice(0, limit);
}

/** Reads each entry's batch (none for an entry that holds no records). */
export async function readEntries(
  reader: BatchReader,
  items: readonly StoredItem[],
): Promise<ReadEntry[]> {
  const read: ReadEntry[] = [];
  // A few segment reads at a time, as a fetch does.
  for (let at = 0; at < items.length; at += readsAtOnce) {
    read.push(
      ...(await Promise.all(
        items.slice(at, at + readsAtOnce).map(async (item) => {
          const entry = entryFromItem(item);
          return { item, entry, batch: entry.count === 0 ? undefined : await reader.read(entry) };
        }),
      )),
    );
  }
  return read;
}

const readsAtOnce = 16;

/** Bytes of batches a rewrite holds in memory at once (the maintenance function has 512 MB). */
export const maxBytesInMemory = 16 * 1024 * 1024;

/**
 * The entries from the first up to maxBytesInMemory of batches (at least one): what a step
 * reads at once.
 */
export function withinMemory(items: readonly StoredItem[]): StoredItem[] {
  let bytes = 0;
  const taken: StoredItem[] = [];
  for (const item of items) {
    bytes += entryFromItem(item).byteLength;
    if (taken.length > 0 && bytes > maxBytesInMemory) break;
    taken.push(item);
  }
  return taken;
}

/** Reads the entries' batches a slice within maxBytesInMemory at a time, in order. */
export async function* readInSlices(
  reader: BatchReader,
  items: readonly StoredItem[],
): AsyncGenerator<ReadEntry> {
  for (let at = 0; at < items.length; ) {
    const slice = withinMemory(items.slice(at));
    at += slice.length;
    yield* await readEntries(reader, slice);
  }
}

/** Every record of the entries, at its offset, in offset order. */
export function placedRecords(read: readonly ReadEntry[]): PlacedRecord[] {
  return read.flatMap(({ entry, batch }) =>
    (batch?.records ?? []).map((r) => ({
      offset: entry.baseOffset + r.offsetDelta,
      record: { timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers },
    })),
  );
}

/**
 * Replaces `old` — consecutive index entries — with `fresh`, which tile the same offsets,
 * and saves `next` as the partition's state, all in one transaction:
 *
 *   1. a gc item lists the new chunk N, due after the reader grace, written with the state
 *      (conditioned on it as read): until the swap lands nothing refers to N, and should
 *      the swap never land, the release deletes N;
 *   2. the fresh batches go to N;
 *   3. one transaction, conditioned on the partition's state as step 1 left it (its version names
 *      the compaction round's epoch and the merge's cursor, and changes with every other
 *      maintenance write: two rewrites of one partition can never both land), on the topic
 *      being the one read, on every old entry being exactly as read (retention has not
 *      deleted it, no other rewrite replaced it) and on N's gc item being still there (the
 *      release has not judged N), puts the fresh entries, deletes the old ones and N's gc
 *      item, counts the bytes saved, and lists the old chunks in a gc item due after the
 *      reader grace;
 *   4. nothing else is deleted here: the release judges the old chunks once due.
 *
 *   rewrite: list N ─ write N ─ swap ──────────────────────────── release: C judged
 *   reader:               read old entry (C) ──── read C ✓ (C stays for the reader grace)
 *
 * A crash anywhere leaves N listed or referred to, never neither. N's key is marked as a
 * rewrite's, so the orphan sweep (which finds references by commit time) leaves it alone;
 * the fresh entries keep the earliest commit time of the entries they replace, so the
 * sweep's reading of entries in commit order, and the merge's age rule, hold for them too.
 * Offsets, order, timestamps, keys, values and headers of every kept record are as they
 * were. Answers whether the swap landed.
 */
export async function swap(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  maint: PartitionMaint,
  next: MaintChange,
  old: readonly ReadEntry[],
  fresh: readonly FreshBatch[],
): Promise<boolean> {
  const first = old[0]?.entry;
  const last = old.at(-1)?.entry;
  if (!first || !last || old.length > maxEntriesPerSwap || fresh.length === 0) {
    throw new RangeError(`a swap replaces 1 to ${maxEntriesPerSwap} entries with at least one`);
  }
  const named = ctx.now();
  const written = fresh.filter((f) => f.records.length > 0);
  const chunk = rewriteChunkKey(topic.id, named, ctx.newId());
  const encoded = concatBatches(
    written.map((f) =>
      encodeBatch(
        f.timestampType,
        f.records.map((r) => r.record),
        f.records.map((r) => r.offset - f.baseOffset),
      ),
    ),
  );
  const overlapping = (f: FreshBatch) =>
    old
      .map(({ entry }) => entry)
      .filter((e) => e.lastOffset >= f.baseOffset && e.baseOffset <= f.lastOffset);
  // retention.bytes judges a batch by where it ends in the partition's bytes: a rewritten
  // batch ends where the range it covers ended, so a rewrite never makes retention keep less.
  const endOf = (offset: number) => {
    const covering =
      old.find(({ entry }) => entry.baseOffset <= offset && offset <= entry.lastOffset)?.entry ??
      last;
    return covering.position + covering.byteLength;
  };
  const maxTimestampOf = (f: FreshBatch) =>
    f.records.length > 0
      ? Math.max(...f.records.map((r) => r.record.timestamp))
      : Math.max(...overlapping(f).map((e) => e.maxTimestamp));
  const committedAtOf = (f: FreshBatch) => {
    const stamps = overlapping(f).map((e) => e.committedAt);
    return stamps.every((t) => t !== undefined) ? Math.min(...stamps) : undefined;
  };
  // Every batch N holds, so that N is judged by all of them when some are replaced later.
  const inChunk = written.map(
    (f, i): ChunkSibling => [partition, f.baseOffset, encoded.ranges[i]?.length ?? 0],
  );
  let at = 0;
  const entries: IndexEntry[] = fresh.map((f) => {
    const range = f.records.length > 0 ? encoded.ranges[at++] : undefined;
    const siblings = range ? inChunk.filter(([, base]) => base !== f.baseOffset) : [];
    const committedAt = committedAtOf(f);
    return {
      baseOffset: f.baseOffset,
      lastOffset: f.lastOffset,
      count: f.records.length,
      chunk: range ? chunk : '',
      byteOffset: range?.offset ?? 0,
      byteLength: range?.length ?? 0,
      position: endOf(f.lastOffset) - (range?.length ?? 0),
      maxTimestamp: maxTimestampOf(f),
      ...(committedAt !== undefined && { committedAt }),
      ...(siblings.length > 0 && { siblings }),
      ...(f.deleteHorizon !== undefined && { deleteHorizon: f.deleteHorizon }),
    };
  });

  // N's gc item goes in with the state (its gcAt), conditioned on it as read, so a rewrite
  // that another got ahead of writes nothing at all.
  const intentDue = named + readerGraceMs;
  const intent =
    written.length > 0
      ? gcOp(ctx, topic.id, partition, intentDue, pendingChunks(partition, entries))
      : undefined;
  let read = maint;
  if (intent) {
    const gcAt = minOf(maint.gcAt, intentDue);
    if (!(await saveMaint(ctx, topic, partition, maint, { ...maint, gcAt }, [intent]))) {
      return false;
    }
    read = { ...maint, gcAt, version: (maint.version ?? 0) + 1 };
    await ctx.segments.put(chunk, encoded.body);
  }

  const swappedAt = ctx.now();
  const oldBytes = old.reduce((sum, { entry }) => sum + entry.byteLength, 0);
  const newBytes = entries.reduce((sum, e) => sum + e.byteLength, 0);
  // What the dirty part (the entries from compactedTo) stores before and after: a new batch's
  // bytes count by its dirty records' share of its records' bytes.
  const dirtyBefore = old.reduce(
    (sum, { entry }) => sum + (entry.baseOffset >= next.compactedTo ? entry.byteLength : 0),
    0,
  );
  const dirtyAfter = fresh.reduce((sum, f, i) => {
    let all = 0;
    let dirty = 0;
    for (const { offset, record } of f.records) {
      const size = recordSize(record);
      all += size;
      if (offset >= next.compactedTo) dirty += size;
    }
    return all === 0 ? sum : sum + ((entries[i]?.byteLength ?? 0) * dirty) / all;
  }, 0);
  const dirtySaved = Math.round(dirtyBefore - dirtyAfter);
  const released = pendingChunks(
    partition,
    old.map((o) => o.entry),
  );
  const due = swappedAt + readerGraceMs;
  const pk = partitionPk(topic.id, partition);
  const oldBySk = new Map(old.map(({ item }) => [item.sk, item]));
  const freshSks = new Set(entries.map((e) => batchSk(e.baseOffset)));
  const ops: WriteOp[] = [
    ...entries.map((entry): WriteOp => {
      const sk = batchSk(entry.baseOffset);
      const replaced = oldBySk.get(sk);
      return {
        type: 'put',
        key: { pk, sk },
        data: entryData(entry),
        expect: replaced ? expectVersion(replaced.version) : expectAbsent,
      };
    }),
    ...old
      .filter(({ item }) => !freshSks.has(item.sk))
      .map(
        ({ item }): WriteOp => ({
          type: 'delete',
          key: { pk, sk: item.sk },
          expect: expectVersion(item.version),
        }),
      ),
  ];
  if (intent) ops.push({ type: 'delete', key: intent.key, expect: expectVersion(1) });
  if (released.length > 0) ops.push(gcOp(ctx, topic.id, partition, due, released));
  const landed = await saveMaint(
    ctx,
    topic,
    partition,
    read,
    {
      ...next,
      freedBytes: next.freedBytes + oldBytes - newBytes,
      dirtyPosition: next.dirtyPosition + dirtySaved,
      gcAt: minOf(next.gcAt, released.length > 0 ? due : undefined),
    },
    ops,
  );
  if (!landed && intent) {
    // Another writer got in between: N is no one's. (A crash here leaves it to the release.)
    await ctx.segments.delete([chunk]);
    await ctx.metadata.deleteMany([intent.key]);
  }
  return landed;
}

export const minOf = (...values: (number | undefined)[]): number | undefined => {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? Math.min(...present) : undefined;
};

/** The most ops a swap of `old` entries into `fresh` batches writes in its transaction. */
export const swapOps = (old: number, fresh: number) => old + fresh + 4;

/** Whether the fresh batches tile exactly the offsets of the old entries. */
export function tiles(old: readonly ReadEntry[], fresh: readonly FreshBatch[]): boolean {
  const first = old[0]?.entry;
  const last = old.at(-1)?.entry;
  if (!first || !last) return false;
  let expected = first.baseOffset;
  for (const f of fresh) {
    if (f.baseOffset !== expected || f.lastOffset < f.baseOffset) return false;
    if (f.records.some((r) => r.offset < f.baseOffset || r.offset > f.lastOffset)) return false;
    expected = f.lastOffset + 1;
  }
  return expected === entryEnd(last);
}
