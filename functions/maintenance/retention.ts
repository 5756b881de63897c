import type { CoreContext } from '../core/context.ts';
import { batchSk, batchSkPrefix, partitionPk, startKey } from '../core/keys.ts';
import { entryEnd, entryFromItem, startFromItem } from '../core/log/partition-items.ts';
import { readPartitionState } from '../core/log/partition-state.ts';
import type { Topic } from '../core/topics/topic.ts';
import { gcOp, pendingChunks } from './gc.ts';
import { readMaint, saveMaint } from './maint.ts';
import type { MaintenanceCounts } from './report.ts';

export interface StepOutcome {
  /** More to do on this item now: run the step again. */
  readonly more: boolean;
  readonly counts: Partial<MaintenanceCounts>;
}

/** Index entries deleted in one step. */
const entriesPerStep = 500;

/**
 * One bounded step of retention on a partition: apply retention (saving the log start it
 * reaches, exactly as every reader would), then delete index entries wholly below the
 * *saved* log start. Nothing at or above the log start is touched. The chunks those entries
 * referred to are listed in a gc item, which the topic's release step judges (gc.ts).
 *
 * Any line may be the last before a crash, and two steps may run at once; what makes a
 * re-run harmless:
 *   - the chunks are listed, and the bytes counted as freed, in one conditional write
 *     *before* any entry goes: entries are never gone while their chunks are unlisted, and
 *     an entry below `cleanedTo` is never counted twice;
 *   - deleting entries is idempotent, and entries below the saved log start never change
 *     (a rewrite's swap is conditioned on them, so it fails instead);
 *   - every write is conditioned on the topic being the one read, so after a delete (or a
 *     config change) the step writes nothing and the next pass starts over.
 */
export async function cleanPartition(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
): Promise<StepOutcome> {
  const before = startFromItem(await ctx.metadata.get(startKey(topic.id, partition)));
  // Retention as every reader applies it: advances and saves the log start (a bounded scan).
  await readPartitionState(ctx, topic, partition);
  const maint = await readMaint(ctx, topic.id, partition);
  // Only a saved log start counts: saving it is what made the cut final.
  const logStart = startFromItem(
    await ctx.metadata.get(startKey(topic.id, partition)),
  ).logStartOffset;
  const advanced = logStart > before.logStartOffset;
  const page =
    logStart === 0
      ? []
      : await ctx.metadata.query(partitionPk(topic.id, partition), {
          from: batchSkPrefix,
          to: batchSk(logStart - 1),
          limit: entriesPerStep,
        });
  const expired = page.filter((item) => entryEnd(entryFromItem(item)) <= logStart);
  const entries = expired.map(entryFromItem);
  if (entries.length === 0) {
    if (maint.cleanedTo < logStart) {
      await saveMaint(ctx, topic, partition, maint, { ...maint, cleanedTo: logStart });
    }
    return { more: advanced, counts: {} };
  }
  // Entries below cleanedTo were counted by the step that listed them (and crashed before
  // the delete, or raced this one): delete them again, count them once.
  const counted = entries.filter((e) => e.baseOffset >= maint.cleanedTo);
  const freed = counted.reduce((sum, e) => sum + e.byteLength, 0);
  // Batches held inline go with their entries (chunks' bytes are counted when released).
  const inlineFreed = counted.reduce((sum, e) => sum + (e.inline ? e.byteLength : 0), 0);
  const chunks = pendingChunks(partition, entries);
  const now = ctx.now();
  const listed = await saveMaint(
    ctx,
    topic,
    partition,
    maint,
    {
      ...maint,
      cleanedTo: Math.max(maint.cleanedTo, ...entries.map(entryEnd)),
      freedBytes: maint.freedBytes + freed,
      ...(chunks.length > 0 && { gcAt: Math.min(maint.gcAt ?? now, now) }),
    },
    chunks.length > 0 ? [gcOp(ctx, topic.id, partition, now, chunks)] : [],
  );
  // Another step got in first: look again.
  if (!listed) return { more: true, counts: {} };
  await ctx.metadata.deleteMany(expired);
  return {
    more: page.length === entriesPerStep || advanced,
    counts: { indexEntriesDeleted: entries.length, bytesFreed: inlineFreed },
  };
}
