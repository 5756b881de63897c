import type { CoreContext } from '../core/context.ts';
import type { TimestampType } from '../core/log/batch-codec.ts';
import { BatchReader } from '../core/log/batch-reader.ts';
import { entryEnd, entryFromItem } from '../core/log/partition-items.ts';
import type { CompactionRound, PartitionMaint } from '../core/log/partition-maint.ts';
import { readPartitionState } from '../core/log/partition-state.ts';
import { maxTransactionOps } from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import { readMaint, saveMaint } from './maint.ts';
import { maxBatchSpanMs, mergePolicy } from './merge.ts';
import type { StepOutcome } from './retention.ts';
import {
  entryItemsFrom,
  type FreshBatch,
  maxEntriesPerSwap,
  minOf,
  type PlacedRecord,
  type ReadEntry,
  readEntries,
  readInSlices,
  swap,
  swapOps,
  withinMemory,
} from './rewrite.ts';

/**
 * How much one compaction round takes on, as Kafka's cleaner bounds its offset map: the
 * dirty part it reads to learn the latest offset of each key stops at `maxKeys` keys or
 * `maxDirtyBytes` bytes; what is beyond waits for the next round.
 */
export const compactionLimits = {
  maxKeys: 500_000,
  maxDirtyBytes: 64 * 1024 * 1024,
} as const;

/** Batches a compacted run is cut into for time span and tombstone horizons, at most. */
const softCuts = 30;

/** Dirty entries a round start looks at to find where the round ends. */
const entriesScanned = 10_000;

/**
 * Log compaction, as Kafka's cleaner does it, in rounds:
 *
 * 1. A round starts when the partition is cleanable: the bytes not yet compacted (from
 *    `compactedTo`, Kafka's first dirty offset) are at least `min.cleanable.dirty.ratio` of
 *    what it stores, or the oldest of them has waited `max.compaction.lag.ms`, or a
 *    tombstone's delete horizon has passed. It takes on the dirty records from
 *    `compactedTo` up to the first batch newer than `min.compaction.lag.ms` (and within
 *    compactionLimits), and notes in the partition's state a new epoch, the range and a
 *    cursor at the log start.
 * 2. Each step rewrites the next run of up to 90 batches from the cursor (the whole log up
 *    to the round's end, clean part included): a record is dropped when a later record of
 *    the round's dirty range has its key, and a tombstone (a null value) when its batch's
 *    delete horizon has passed; a tombstone the compaction passes for the first time gets
 *    the horizon `round start + delete.retention.ms`, an explicit time kept in its batch's
 *    index entry (Kafka's KIP-534) rather than estimated from segment times. The kept
 *    records go into batches of at most 1 MiB spanning at most maxBatchSpanMs of time (so
 *    the round merges small batches as it goes), each tombstone with others of the same horizon, and the run is swapped (one
 *    transaction, fenced by the state's version, which names the round's epoch).
 * 3. At the end, `compactedTo` moves to the round's end.
 *
 * Offsets never change and order is kept; a reader from the start sees at least the latest
 * record of every key, and one that stays above `compactedTo` sees every record. A keyless
 * record (written before the topic was compacted) is never superseded, so it stays.
 *
 * The latest offset of each key (the "offset map") is learnt from the round's dirty range
 * when the round starts (where it also tells how far the round can go), and again after a
 * restart: each step needs it, and it is kept in memory while the process lives, so a round
 * run by one process reads the dirty range once, and each batch it rewrites once more. A crash anywhere leaves the round in the partition's state; the next step goes on
 * from the cursor.
 */
export async function compactStep(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
): Promise<StepOutcome> {
  const maint = await readMaint(ctx, topic.id, partition);
  const state = await readPartitionState(ctx, topic, partition);
  const now = ctx.now();
  // No cache: a round reads each batch once or twice, and memory is the function's.
  const reader = new BatchReader(ctx.segments, 0);
  if (!maint.round) {
    if (topic.config.cleanupPolicy === 'delete') return { more: false, counts: {} };
    const planned = await planRound(ctx, reader, topic, partition, maint, state, now);
    if (!planned) return { more: false, counts: {} };
    const { round, map } = planned;
    const started = await saveMaint(ctx, topic, partition, maint, {
      ...maint,
      epoch: round.epoch,
      round,
    });
    if (started) remember(mapKey(topic.id, partition, round.epoch), map);
    return { more: started, counts: {} };
  }

  const round = maint.round;
  const cursor = Math.max(round.cursor, state.logStartOffset);
  const items =
    cursor < round.end
      ? await entryItemsFrom(ctx, topic.id, partition, cursor, round.end, maxEntriesPerSwap)
      : [];
  if (items.length === 0) return finishRound(ctx, topic, partition, maint, round, state);

  const map = await keyMap(ctx, reader, topic, partition, round);
  const horizon = round.startedAt + topic.config.deleteRetentionMs;
  // A run within memory whose swap fits one transaction.
  let run = await readEntries(reader, withinMemory(items));
  let compacted = compactRun(run, map, now, horizon, maxBatchSpanMs(topic.config));
  while (run.length > 1 && swapOps(run.length, compacted.fresh.length) > maxTransactionOps) {
    run = run.slice(0, Math.ceil(run.length / 2));
    compacted = compactRun(run, map, now, horizon, maxBatchSpanMs(topic.config));
  }
  const { fresh, removed, changed } = compacted;
  // The earliest horizon of the clean log, known once the round has gone through it all.
  const minHorizon = minOf(
    round.minHorizon,
    ...(changed ? fresh.map((f) => f.deleteHorizon) : run.map((r) => r.entry.deleteHorizon)),
  );
  const next: PartitionMaint = {
    ...maint,
    round: {
      ...round,
      cursor: run.reduce((_, r) => entryEnd(r.entry), cursor),
      ...(minHorizon !== undefined && { minHorizon }),
    },
  };
  if (!changed) {
    // Nothing to drop, stamp or merge here: the batches stay as they are.
    await saveMaint(ctx, topic, partition, maint, next);
    return { more: true, counts: {} };
  }
  const swapped = await swap(ctx, topic, partition, maint, next, run, fresh);
  return { more: true, counts: swapped ? { recordsRemoved: removed } : {} };
}

/**
 * Whether the partition is cleanable now, and if so the round to start: its dirty range
 * ends at the first batch younger than min.compaction.lag.ms, at maxDirtyBytes, at the
 * high watermark, or where maxKeys keys have been seen.
 */
async function planRound(
  ctx: CoreContext,
  reader: BatchReader,
  topic: Topic,
  partition: number,
  maint: PartitionMaint,
  state: { logStartOffset: number; highWatermark: number; head: { nextPosition: number } },
  now: number,
): Promise<{ round: CompactionRound; map: KeyMap } | undefined> {
  const config = topic.config;
  const from = Math.max(maint.compactedTo, state.logStartOffset);
  const horizonPassed = maint.nextHorizon !== undefined && maint.nextHorizon <= now;
  const items =
    from < state.highWatermark
      ? await entryItemsFrom(ctx, topic.id, partition, from, state.highWatermark, entriesScanned)
      : [];
  const stored = Math.max(1, state.head.nextPosition - maint.freedBytes);
  const dirtyBytes = state.head.nextPosition - maint.dirtyPosition;
  const first = items[0] && entryFromItem(items[0]);
  const lagged = first !== undefined && now - first.maxTimestamp > config.maxCompactionLagMs;
  const ratioReached = items.length > 0 && dirtyBytes >= config.minCleanableDirtyRatio * stored;
  if (!horizonPassed && !lagged && !ratioReached) return undefined;

  // The dirty range: old enough, and within the round's limits.
  let end = from;
  let bytes = 0;
  const taken: typeof items = [];
  for (const item of items) {
    const entry = entryFromItem(item);
    if (entry.maxTimestamp > now - config.minCompactionLagMs) break;
    if (taken.length > 0 && bytes + entry.byteLength > compactionLimits.maxDirtyBytes) break;
    bytes += entry.byteLength;
    taken.push(item);
    end = entryEnd(entry);
  }
  // The offset map, only as far as it can hold: the round's first step uses it as it is.
  const map = new Map<string, number>();
  let mapped = from;
  for await (const read of readInSlices(reader, taken)) {
    const keyed = (read.batch?.records ?? []).flatMap((r) =>
      r.key ? [[keyString(r.key), read.entry.baseOffset + r.offsetDelta] as const] : [],
    );
    const added = new Set(keyed.map(([key]) => key).filter((key) => !map.has(key))).size;
    if (map.size + added > compactionLimits.maxKeys && mapped > from) break;
    for (const [key, offset] of keyed) map.set(key, offset);
    mapped = entryEnd(read.entry);
  }
  end = Math.min(end, mapped);
  if (end === from && !horizonPassed) return undefined;
  return {
    round: { epoch: maint.epoch + 1, from, end, cursor: state.logStartOffset, startedAt: now },
    map,
  };
}

/** Entries whose bytes a finished round counts one by one into the dirty part. */
const dirtyEntriesCounted = 1_000;

/** Ends a round: the log is clean up to its end. */
async function finishRound(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  maint: PartitionMaint,
  round: CompactionRound,
  state: { highWatermark: number; head: { nextPosition: number } },
): Promise<StepOutcome> {
  // The dirty part from here: the entries from the round's end (one across it is clean). It
  // stores what its first entries hold, merged or not, and past them (the newest, not yet
  // merged) what was appended.
  const dirty = (
    await entryItemsFrom(
      ctx,
      topic.id,
      partition,
      round.end,
      state.highWatermark,
      dirtyEntriesCounted,
    )
  )
    .map(entryFromItem)
    .filter((entry) => entry.baseOffset >= round.end);
  const last = dirty.at(-1);
  const dirtyBytes = last
    ? dirty.reduce((sum, entry) => sum + entry.byteLength, 0) +
      (state.head.nextPosition - (last.position + last.byteLength))
    : 0;
  maps.delete(mapKey(topic.id, partition, round.epoch));
  const done = await saveMaint(ctx, topic, partition, maint, {
    ...maint,
    compactedTo: Math.max(maint.compactedTo, round.end),
    dirtyPosition: state.head.nextPosition - dirtyBytes,
    round: undefined,
    nextHorizon: round.minHorizon,
  });
  return { more: !done, counts: done ? { compactionRounds: 1 } : {} };
}

/** The latest offset of each key in the round's dirty range, by the key's bytes. */
type KeyMap = ReadonlyMap<string, number>;

/** Offset maps of rounds this process is running: a round's steps reuse its map. */
const maps = new Map<string, KeyMap>();
const mapKey = (topicId: string, partition: number, epoch: number) =>
  `${topicId}#${partition}#${epoch}`;

const keyString = (key: Uint8Array) =>
  Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');

async function keyMap(
  ctx: CoreContext,
  reader: BatchReader,
  topic: Topic,
  partition: number,
  round: CompactionRound,
): Promise<KeyMap> {
  const id = mapKey(topic.id, partition, round.epoch);
  const cached = maps.get(id);
  if (cached) return cached;
  const map = new Map<string, number>();
  let offset = round.from;
  while (offset < round.end) {
    const items = await entryItemsFrom(ctx, topic.id, partition, offset, round.end, 500);
    if (items.length === 0) break;
    for await (const read of readInSlices(reader, items)) {
      for (const r of read.batch?.records ?? []) {
        if (r.key) map.set(keyString(r.key), read.entry.baseOffset + r.offsetDelta);
      }
      offset = entryEnd(read.entry);
    }
  }
  remember(id, map);
  return map;
}

/** Keeps a few rounds' maps at most: steps of a round run back to back. */
function remember(id: string, map: KeyMap) {
  if (maps.size >= 8) maps.delete(maps.keys().next().value ?? '');
  maps.set(id, map);
}

/**
 * The compacted run: what each record becomes, and the batches that hold what is kept.
 * `changed` is false when nothing would differ (nothing dropped, no horizon to stamp, no
 * small batches to join), so the run can stay as it is.
 */
export function compactRun(
  run: readonly ReadEntry[],
  map: KeyMap,
  now: number,
  firstHorizon: number,
  maxSpanMs: number,
): { fresh: FreshBatch[]; removed: number; changed: boolean } {
  type Kept = PlacedRecord & { horizon: number | undefined; type: TimestampType };
  const kept: Kept[] = [];
  let removed = 0;
  let stamped = false;
  for (const { entry, batch } of run) {
    for (const r of batch?.records ?? []) {
      const offset = entry.baseOffset + r.offsetDelta;
      const latest = r.key ? map.get(keyString(r.key)) : undefined;
      const superseded = latest !== undefined && latest > offset;
      const tombstone = r.value === null && r.key !== null;
      const expired = tombstone && entry.deleteHorizon !== undefined && entry.deleteHorizon <= now;
      if (superseded || expired) {
        removed++;
        continue;
      }
      const horizon = tombstone ? (entry.deleteHorizon ?? firstHorizon) : undefined;
      if (tombstone && entry.deleteHorizon === undefined) stamped = true;
      kept.push({
        offset,
        record: { timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers },
        horizon,
        type: batch?.timestampType ?? 'CreateTime',
      });
    }
  }
  const first = run[0]?.entry;
  const last = run.at(-1)?.entry;
  if (!first || !last) return { fresh: [], removed, changed: false };
  if (kept.length === 0) {
    return {
      fresh: [
        {
          baseOffset: first.baseOffset,
          lastOffset: last.lastOffset,
          records: [],
          timestampType: 'CreateTime',
        },
      ],
      removed,
      changed: removed > 0 || run.length > 1,
    };
  }
  // Batches of up to the merge target, cut where the timestamp type or a tombstone's
  // horizon changes or the time span would pass maxSpanMs; each covers from its first record
  // (the first, from the run's start) to just before the next one's.
  // Cuts for time span and horizon stop at softCuts batches, so that one batch with records
  // of a thousand different times still fits one swap; a batch then keeps its tombstones
  // until the latest of their horizons — later than their own, never earlier.
  const groups: Kept[][] = [];
  let bytes = 0;
  let oldest = 0;
  let newest = 0;
  for (const k of kept) {
    const group = groups.at(-1);
    const size = (k.record.key?.byteLength ?? 0) + (k.record.value?.byteLength ?? 0) + 16;
    const at = k.record.timestamp;
    const horizonOf = (g: Kept[]) => g.find((x) => x.horizon !== undefined)?.horizon;
    const soft =
      groups.length < softCuts &&
      (Math.max(newest, at) - Math.min(oldest, at) > maxSpanMs ||
        (k.horizon !== undefined &&
          horizonOf(group ?? []) !== undefined &&
          horizonOf(group ?? []) !== k.horizon));
    const clash = group !== undefined && (group[0]?.type !== k.type || soft);
    if (!group || clash || bytes + size > mergePolicy.targetBatchBytes) {
      groups.push([k]);
      bytes = size;
      oldest = at;
      newest = at;
    } else {
      group.push(k);
      bytes += size;
      oldest = Math.min(oldest, at);
      newest = Math.max(newest, at);
    }
  }
  const fresh = groups.map((group, i): FreshBatch => {
    const next = groups[i + 1]?.[0];
    const horizons = group.flatMap((k) => (k.horizon === undefined ? [] : [k.horizon]));
    const horizon = horizons.length > 0 ? Math.max(...horizons) : undefined;
    return {
      baseOffset: i === 0 ? first.baseOffset : (group[0]?.offset ?? first.baseOffset),
      lastOffset: next ? next.offset - 1 : last.lastOffset,
      records: group.map(({ offset, record }) => ({ offset, record })),
      timestampType: group[0]?.type ?? 'CreateTime',
      ...(horizon !== undefined && { deleteHorizon: horizon }),
    };
  });
  // Nothing dropped or stamped, and the batches would be as many as they are: leave them.
  const changed = removed > 0 || stamped || fresh.length < run.length;
  return { fresh, removed, changed };
}
