import type { CoreContext } from '../context.ts';
import { headKey, startKey, topicKey } from '../keys.ts';
import { expectAbsent, expectVersion, lostRace } from '../ports/metadata-store.ts';
import type { Topic } from '../topics/topic.ts';
import { entriesFrom } from './index-reader.ts';
import {
  type BatchRetentionFacts,
  entryEnd,
  headFromItem,
  type PartitionHead,
  type PartitionStart,
  retentionFacts,
  startData,
  startFromItem,
} from './partition-items.ts';
import { isExpired } from './retention.ts';

export interface PartitionState {
  readonly partition: number;
  readonly head: PartitionHead;
  /** After retention: records below it are never served. */
  readonly logStartOffset: number;
  readonly highWatermark: number;
}

/** Batches a read expires between saves of its progress, on a long expired run. */
const batchesExpiredPerSave = 1000;

/**
 * The partitions' heads and log start offsets, with retention's logical cut-off applied
 * exactly as of now. When retention advances the start, the new start is saved (best
 * effort: a concurrent reader saving the same advance is fine).
 */
export async function readPartitionStates(
  ctx: CoreContext,
  topic: Topic,
  partitions: readonly number[],
): Promise<PartitionState[]> {
  const keys = partitions.flatMap((p) => [headKey(topic.id, p), startKey(topic.id, p)]);
  const items = await ctx.metadata.getMany(keys);
  return Promise.all(
    partitions.map((partition, i) => {
      const head = headFromItem(items[2 * i]);
      const start = startFromItem(items[2 * i + 1]);
      return applyRetention(ctx, topic, partition, head, start);
    }),
  );
}

export async function readPartitionState(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
): Promise<PartitionState> {
  const [state] = await readPartitionStates(ctx, topic, [partition]);
  if (!state) throw new Error('unreachable: one partition asked, none read');
  return state;
}

async function applyRetention(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  head: PartitionHead,
  start: PartitionStart,
): Promise<PartitionState> {
  const state = (logStartOffset: number): PartitionState => ({
    partition,
    head,
    logStartOffset: Math.min(logStartOffset, head.nextOffset),
    highWatermark: head.nextOffset,
  });
  const now = ctx.now();
  // The hot path: nothing retained, or the first retained batch is known and still kept.
  if (start.logStartOffset >= head.nextOffset) return state(start.logStartOffset);
  if (start.first && !isExpired(start.first, head, topic.config, now)) {
    return state(start.logStartOffset);
  }

  // The answer is exact however much expired: the scan goes on to the first batch kept. On a
  // long expired run it saves its progress every so often, so a read cut short (a timeout)
  // leaves the next one less to scan.
  let saved: PartitionStart | undefined = start;
  let logStartOffset = start.logStartOffset;
  let first: BatchRetentionFacts | null = null;
  let expired = 0;
  for await (const entry of entriesFrom(ctx, topic.id, partition, logStartOffset)) {
    if (entryEnd(entry) <= logStartOffset) continue;
    if (entry.baseOffset >= head.nextOffset) break;
    const facts = retentionFacts(entry);
    if (!isExpired(facts, head, topic.config, now)) {
      first = facts;
      break;
    }
    logStartOffset = entryEnd(entry);
    if (++expired % batchesExpiredPerSave === 0 && saved) {
      const progress = { logStartOffset: Math.min(logStartOffset, head.nextOffset), first: null };
      saved = await saveStart(ctx, topic, partition, saved, progress);
    }
  }

  const advanced = { logStartOffset: Math.min(logStartOffset, head.nextOffset), first };
  if (saved) await saveStart(ctx, topic, partition, saved, advanced);
  return state(advanced.logStartOffset);
}

/**
 * Saves an advanced log start, conditioned on the start item as read and on the topic being
 * at the version whose config computed it. The second condition keeps a raise of
 * retention from ever losing what the new config keeps:
 *
 *   reader reads retention.ms = 1 h ─┐
 *   user raises retention.ms to 7 d  │  (topic version +1)
 *   reader saves logStartOffset ─────┴─ refused: the topic changed; nothing is saved
 *
 * and the maintenance workflow deletes only below a saved log start. Returns the start as
 * saved (a put raises the item's version by one), or undefined when the race was lost.
 */
async function saveStart(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  previous: PartitionStart,
  next: Omit<PartitionStart, 'version'>,
): Promise<PartitionStart | undefined> {
  try {
    await ctx.metadata.transact([
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topic.version) },
      {
        type: 'put',
        key: startKey(topic.id, partition),
        data: startData(next),
        expect: previous.version === undefined ? expectAbsent : expectVersion(previous.version),
      },
    ]);
    return { ...next, version: (previous.version ?? 0) + 1 };
  } catch (error: unknown) {
    // Another reader saved its own advance first (both computed the same cut-off from the
    // same rules, and the next read recomputes from whatever was saved), or the topic
    // changed: its next read computes with the new config.
    if (!(await lostRace(error))) throw error;
    return undefined;
  }
}
