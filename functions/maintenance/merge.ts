import type { CoreContext } from '../core/context.ts';
import { BatchReader } from '../core/log/batch-reader.ts';
import { entryEnd, entryFromItem, type IndexEntry } from '../core/log/partition-items.ts';
import type { PartitionMaint } from '../core/log/partition-maint.ts';
import { readPartitionState } from '../core/log/partition-state.ts';
import type { Topic } from '../core/topics/topic.ts';
import type { TopicConfig } from '../core/topics/topic-config.ts';
import { readMaint, saveMaint } from './maint.ts';
import type { StepOutcome } from './retention.ts';
import {
  entryItemsFrom,
  type FreshBatch,
  maxEntriesPerSwap,
  placedRecords,
  type ReadEntry,
  readEntries,
  swap,
} from './rewrite.ts';

/**
 * When small batches are merged, and into what (segment merge, every topic):
 * - a batch is *small* below `smallBatchBytes`, and only batches committed at least
 *   `minAgeMs` ago are merged, so the tail that consumers and producers are working on is
 *   left alone (and read from the cache);
 * - a run of consecutive small batches becomes one batch of at most `targetBatchBytes`,
 *   replacing at most 90 entries in one swap, and spanning at most maxBatchSpanMs of time.
 * A fetch of the default 1 MiB then reads one or two batches where it read hundreds.
 */
export const mergePolicy = {
  smallBatchBytes: 256 * 1024,
  targetBatchBytes: 1024 * 1024,
  minAgeMs: 5 * 60_000,
} as const;

/**
 * The widest span of timestamps one rewritten batch may hold. Retention judges a batch by
 * its newest record, so joining an old record with newer ones keeps the old one longer: on
 * a topic that deletes by time, a batch spans at most 1/16 of retention.ms, and no record
 * outlives its retention by more than that.
 */
export function maxBatchSpanMs(config: TopicConfig): number {
  return config.cleanupPolicy !== 'compact' && config.retentionMs >= 0
    ? config.retentionMs / 16
    : Number.POSITIVE_INFINITY;
}

/** Entries looked at per step. */
const entriesPerStep = 200;

/**
 * One step of merging a partition's small batches. Merging goes in levels: a level walks
 * from where merging must start (`mergedTo`, or the batch just below it while that one is
 * still small) to the first batch too young to merge, merging each run of small batches it
 * meets into one; a level that merged anything is followed by another over the same range,
 * which merges the merged batches in turn; a level that merged nothing ends merging there,
 * and `mergedTo` moves to where it stopped. Each level writes the data once and divides the
 * number of batches by up to 90: 10,000 single-record batches become a handful in two or three
 * levels.
 *
 * Where a level has got to (`mergeLevel`) is saved with every swap, in the same transaction,
 * conditioned on the state as read: a crash or an overlapping step repeats at most the
 * reading of one run; the swap is all or nothing (rewrite.ts). Offsets, timestamps, keys,
 * values and headers are unchanged: only batches are joined.
 */
export async function mergeStep(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
): Promise<StepOutcome> {
  const maint = await readMaint(ctx, topic.id, partition);
  // A compaction round under way rewrites this log itself.
  if (maint.round) return { more: false, counts: {} };
  const state = await readPartitionState(ctx, topic, partition);
  const now = ctx.now();
  const old = (e: IndexEntry) => (e.committedAt ?? 0) <= now - mergePolicy.minAgeMs;
  const mergeable = (e: IndexEntry) => e.byteLength < mergePolicy.smallBatchBytes && old(e);
  const maxSpan = maxBatchSpanMs(topic.config);

  const levelStart = await startOfLevel(
    ctx,
    topic,
    partition,
    maint,
    state.logStartOffset,
    mergeable,
  );
  const cursor = Math.max(maint.mergeLevel?.cursor ?? levelStart, state.logStartOffset);
  const items = await entryItemsFrom(
    ctx,
    topic.id,
    partition,
    cursor,
    state.highWatermark,
    entriesPerStep,
  );
  const list = items.map((item) => ({ item, entry: entryFromItem(item) }));

  // The first run of at least two mergeable batches that fit one merged batch.
  let i = 0;
  let reached = cursor;
  let young: number | undefined;
  while (i < list.length) {
    const here = list[i]?.entry;
    if (!here) break;
    if (!mergeable(here)) {
      // Too young: the level stops here. Large and old: it stays as it is.
      if (!old(here)) {
        young = here.baseOffset;
        break;
      }
      reached = entryEnd(here);
      i++;
      continue;
    }
    let j = i + 1;
    let bytes = here.byteLength;
    let oldest = here.maxTimestamp;
    let newest = here.maxTimestamp;
    while (j < list.length && j - i < maxEntriesPerSwap) {
      const e = list[j]?.entry;
      if (!e || !mergeable(e) || bytes + e.byteLength > mergePolicy.targetBatchBytes) break;
      if (e.deleteHorizon !== here.deleteHorizon) break;
      oldest = Math.min(oldest, e.maxTimestamp);
      newest = Math.max(newest, e.maxTimestamp);
      if (newest - oldest > maxSpan) break;
      bytes += e.byteLength;
      j++;
    }
    if (j - i < 2) {
      reached = entryEnd(here);
      i++;
      continue;
    }
    const read = await readEntries(
      new BatchReader(ctx.segments, 0),
      list.slice(i, j).map((l) => l.item),
    );
    // Batches of one timestamp type only (the topic's type changed in the run: the rest is
    // the next step's), so the swap is one batch for many and fits one transaction.
    const [batch] = mergedBatches(read);
    const run = read.filter((r) => batch && r.entry.lastOffset <= batch.lastOffset);
    const end = entryEnd(run.at(-1)?.entry ?? here);
    if (!batch || run.length < 2) {
      await saveMaint(ctx, topic, partition, maint, {
        ...maint,
        mergeLevel: { cursor: end, merged: maint.mergeLevel?.merged ?? false },
      });
      return { more: true, counts: {} };
    }
    const merged = await swap(
      ctx,
      topic,
      partition,
      maint,
      { ...maint, mergeLevel: { cursor: end, merged: true } },
      run,
      [batch],
    );
    return { more: true, counts: merged ? { batchesMerged: run.length } : {} };
  }

  if (young === undefined && list.length === entriesPerStep) {
    // More to look at in this level.
    await saveMaint(ctx, topic, partition, maint, {
      ...maint,
      mergeLevel: { cursor: reached, merged: maint.mergeLevel?.merged ?? false },
    });
    return { more: true, counts: {} };
  }
  if (maint.mergeLevel?.merged) {
    // Another level over the same range, to merge what this one merged.
    await saveMaint(ctx, topic, partition, maint, {
      ...maint,
      mergeLevel: { cursor: levelStart, merged: false },
    });
    return { more: true, counts: {} };
  }
  // A level that merged nothing: merging is done up to where it stopped.
  const stoppedAt = young ?? Math.min(reached, state.highWatermark);
  if (stoppedAt > maint.mergedTo || maint.mergeLevel) {
    await saveMaint(ctx, topic, partition, maint, {
      ...maint,
      mergedTo: Math.max(maint.mergedTo, stoppedAt),
      mergeLevel: undefined,
    });
  }
  return { more: false, counts: {} };
}

/**
 * Where a merge level starts: at `mergedTo`, or at the batch just below it while that one
 * is small, so a partition written slowly keeps growing its last merged batch pass after
 * pass instead of leaving a small one behind at every pass.
 */
async function startOfLevel(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  maint: PartitionMaint,
  logStart: number,
  mergeable: (e: IndexEntry) => boolean,
): Promise<number> {
  const from = Math.max(maint.mergedTo, logStart);
  if (from <= logStart) return logStart;
  const [below] = await entryItemsFrom(ctx, topic.id, partition, from - 1, from, 1);
  const entry = below && entryFromItem(below);
  return entry && entryEnd(entry) === from && mergeable(entry)
    ? Math.max(entry.baseOffset, logStart)
    : from;
}

/**
 * One batch of a run's records, covering the run's offsets; a run of batches of different
 * timestamp types (the topic's changed) or delete horizons becomes one batch of each.
 */
export function mergedBatches(run: readonly ReadEntry[]): FreshBatch[] {
  const fresh: FreshBatch[] = [];
  let group: ReadEntry[] = [];
  const flush = () => {
    const first = group[0];
    const last = group.at(-1);
    if (!first || !last) return;
    fresh.push({
      baseOffset: first.entry.baseOffset,
      lastOffset: last.entry.lastOffset,
      records: placedRecords(group),
      timestampType: group.find((g) => g.batch)?.batch?.timestampType ?? 'CreateTime',
      ...(first.entry.deleteHorizon !== undefined && {
        deleteHorizon: first.entry.deleteHorizon,
      }),
    });
    group = [];
  };
  for (const read of run) {
    const head = group.find((g) => g.batch);
    if (
      head &&
      ((read.batch && read.batch.timestampType !== head.batch?.timestampType) ||
        read.entry.deleteHorizon !== group[0]?.entry.deleteHorizon)
    ) {
      flush();
    }
    group.push(read);
  }
  flush();
  return fresh;
}
