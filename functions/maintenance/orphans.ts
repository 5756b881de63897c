import type { CoreContext } from '../core/context.ts';
import {
  chunkPrefix,
  chunkTime,
  chunkTimeKey,
  isRewriteChunk,
  partitionPk,
  sweepKey,
  topicKey,
} from '../core/keys.ts';
import { entriesFrom } from '../core/log/index-reader.ts';
import { entryEnd } from '../core/log/partition-items.ts';
import { gcSkPrefix, pendingFromJson } from '../core/log/partition-maint.ts';
import {
  expectAbsent,
  expectVersion,
  type JsonObject,
  lostRace,
  type StoredItem,
} from '../core/ports/metadata-store.ts';
import type { SegmentObject } from '../core/ports/segment-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import type { StepOutcome } from './retention.ts';
import { clockSkewMs, commitWindowMs, type MaintenanceSettings } from './settings.ts';

/** Listing pages (1,000 chunks each) a step goes through before it marks and sweeps. */
const listPagesPerStep = 10;

/**
 * The sweep's progress on a topic (`pk maintenance, sk sweep#<topicId>`): every chunk
 * written at or before `sweptTo` has been judged, and `from[p]` is where partition p's
 * index must be read from to judge the next ones.
 */
interface SweepCursor {
  readonly sweptTo: number;
  readonly from: ReadonlyMap<number, number>;
  readonly version: number | undefined;
}

/**
 * One step of the orphan sweep on a topic: the chunks written in the next window of time,
 * at least the orphan grace ago, that no index entry refers to are deleted. They are the
 * chunks of produce requests whose commit failed or never came (a crash, a lost race whose
 * retry went elsewhere, a lost answer), which nothing can ever read.
 *
 * Chunk keys carry the time they were named (`<13-digit ms>-<id>`), so a topic's chunks list
 * in time order and each window is listed once. An entry referring to a chunk written at t
 * was committed between t - skew and t + the commit window (produce never starts a commit
 * later; settings.ts), so reading each partition's entries committed in
 * [window start - skew, window end + commit window + skew] finds every reference there can
 * be to a chunk of the window. The window ends at least the grace ago, longer than that
 * whole span, so no such commit is still to come: a chunk found unreferenced stays so.
 *
 * Chunks are left alone that are a rewrite's (rewrite.ts: listed from before they were
 * written until their swap lands, they are judged by the release) or that are listed for
 * the release to judge (a rewrite replaced their batches, or retention let go of them): the
 * release deletes those once readers have had their grace, and counts them.
 *
 * Re-running a window is harmless: the judgement is the same and deleting is idempotent;
 * the cursor is saved after the deletes, conditioned on the version read.
 */
export async function sweepOrphans(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  topic: Topic,
): Promise<StepOutcome> {
  const cursor = cursorFrom(await ctx.metadata.get(sweepKey(topic.id)), topic);
  const end = ctx.now() - settings.orphanGraceMs;
  if (end <= cursor.sweptTo) return { more: false, counts: {} };

  const window = await listWindow(ctx, topic, cursor.sweptTo, end);
  if (window.chunks.length === 0) {
    await saveCursor(ctx, topic, cursor, { sweptTo: window.end, from: cursor.from });
    return { more: window.truncated, counts: {} };
  }
  const { referenced, from } = await markReferences(ctx, topic, cursor, window.end);
  const unreferenced = window.chunks.filter(
    (o) => !referenced.has(o.key) && !isRewriteChunk(o.key),
  );
  const listed = unreferenced.length > 0 ? await chunksListedForRelease(ctx, topic) : new Set();
  const orphans = unreferenced.filter((o) => !listed.has(o.key));
  if (orphans.length > 0) await ctx.segments.delete(orphans.map((o) => o.key));
  await saveCursor(ctx, topic, cursor, { sweptTo: window.end, from });
  return {
    more: window.truncated,
    counts: {
      orphansDeleted: orphans.length,
      orphanBytesFreed: orphans.reduce((sum, o) => sum + o.size, 0),
    },
  };
}

/**
 * The topic's chunks written after `after` and at or before `end`. When there are more than
 * a step takes, the window ends just before the time of the last chunk listed, so that no
 * chunk of that same millisecond is left on the far side of the cut.
 */
async function listWindow(
  ctx: CoreContext,
  topic: Topic,
  after: number,
  end: number,
): Promise<{ chunks: SegmentObject[]; end: number; truncated: boolean }> {
  const prefix = chunkPrefix(topic.id);
  let chunks: SegmentObject[] = [];
  let page = await ctx.segments.list(prefix, undefined, `${prefix}${chunkTimeKey(after)}.`);
  for (let pages = 1; ; pages++) {
    for (const object of page.objects) {
      const time = chunkTime(object.key);
      if (time === undefined) continue;
      if (time > end) return { chunks, end, truncated: false };
      chunks.push(object);
    }
    if (page.cursor === undefined) return { chunks, end, truncated: false };
    if (pages === listPagesPerStep) break;
    page = await ctx.segments.list(prefix, page.cursor);
  }
  const last = chunkTime(chunks.at(-1)?.key ?? '') ?? end;
  const before = chunks.filter((o) => (chunkTime(o.key) ?? 0) < last);
  // Ten thousand chunks in one millisecond: take them all, at the risk of missing a few.
  if (before.length === 0) return { chunks, end: last, truncated: true };
  chunks = before;
  return { chunks, end: last - 1, truncated: true };
}

/**
 * Every chunk referred to by an entry committed in the span that can refer to chunks of the
 * window, and where each partition's next window must start reading. Entries are committed
 * in offset order, each stamped by its writer's clock, so stamps may run back by twice the
 * skew but never more: reading stops past that.
 */
async function markReferences(
  ctx: CoreContext,
  topic: Topic,
  cursor: SweepCursor,
  windowEnd: number,
): Promise<{ referenced: Set<string>; from: Map<number, number> }> {
  const lower = cursor.sweptTo - clockSkewMs;
  const upper = windowEnd + commitWindowMs + clockSkewMs;
  const nextLower = windowEnd - clockSkewMs;
  const referenced = new Set<string>();
  const from = new Map<number, number>();
  for (let partition = 0; partition < topic.partitions; partition++) {
    const start = cursor.from.get(partition) ?? 0;
    let next: number | undefined;
    let end = start;
    for await (const entry of entriesFrom(ctx, topic.id, partition, start, 100)) {
      // Entries from before stamps were kept refer only to chunks from before too.
      const at = entry.committedAt ?? Number.NEGATIVE_INFINITY;
      if (at > upper + 2 * clockSkewMs) break;
      if (at >= lower && at <= upper) referenced.add(entry.chunk);
      if (next === undefined && at >= nextLower - 2 * clockSkewMs) next = entry.baseOffset;
      end = Math.max(end, entryEnd(entry));
    }
    from.set(partition, next ?? end);
  }
  return { referenced, from };
}

/** Every chunk a gc item of the topic lists, due or not: the release's to judge. */
async function chunksListedForRelease(ctx: CoreContext, topic: Topic): Promise<Set<string>> {
  const listed = new Set<string>();
  for (let partition = 0; partition < topic.partitions; partition++) {
    const items = await ctx.metadata.query(partitionPk(topic.id, partition), {
      from: gcSkPrefix,
      to: `${gcSkPrefix}~`,
    });
    for (const item of items) {
      for (const pending of pendingFromJson(item.data.chunks)) listed.add(pending.chunk);
    }
  }
  return listed;
}

function cursorFrom(item: StoredItem | undefined, topic: Topic): SweepCursor {
  const from = new Map<number, number>();
  const saved = item?.data.from;
  if (saved && typeof saved === 'object' && !Array.isArray(saved)) {
    for (const [p, offset] of Object.entries(saved)) {
      if (typeof offset === 'number') from.set(Number(p), offset);
    }
  }
  return {
    // No chunk of the topic can be named before it was created, allowing for skew.
    sweptTo:
      typeof item?.data.sweptTo === 'number'
        ? item.data.sweptTo
        : topic.createdAt - 2 * clockSkewMs,
    from,
    version: item?.version,
  };
}

async function saveCursor(
  ctx: CoreContext,
  topic: Topic,
  previous: SweepCursor,
  next: { sweptTo: number; from: ReadonlyMap<number, number> },
): Promise<void> {
  const from: JsonObject = {};
  for (const [p, offset] of next.from) from[String(p)] = offset;
  try {
    await ctx.metadata.transact([
      // Not for a topic deleted meanwhile: its purge removes this item, for good.
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topic.version) },
      {
        type: 'put',
        key: sweepKey(topic.id),
        data: { topic: topic.name, sweptTo: next.sweptTo, from },
        expect: previous.version === undefined ? expectAbsent : expectVersion(previous.version),
      },
    ]);
  } catch (error: unknown) {
    // Another sweep saved the same window first, or the topic changed: the next pass redoes it.
    if (!(await lostRace(error))) throw error;
  }
}
