import type { CoreContext } from '../core/context.ts';
import { batchSk, batchSkPrefix, maintKey, partitionPk, startKey } from '../core/keys.ts';
import { entryEnd, entryFromItem, startFromItem } from '../core/log/partition-items.ts';
import { readPartitionState } from '../core/log/partition-state.ts';
import { findTopic } from '../core/topics/topic.ts';
import { type PendingChunk, pendingChunks } from './chunks.ts';
import { maintFromItem, saveMaint } from './maint.ts';
import type { MaintenanceCounts } from './report.ts';

/** A partition of a live topic, to bring its stored index in line with its log start. */
export interface PartitionWork {
  readonly kind: 'partition';
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
}

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
 * referred to are listed as pending for the topic's release step (chunks.ts), which deletes
 * each once no entry anywhere refers to it.
 *
 * Any line may be the last before a crash, and two steps may run at once; what makes a
 * re-run harmless:
 *   - the chunks are listed *before* any entry goes (the conditional save below), so
 *     entries are never gone while their chunks are unlisted;
 *   - deleting entries is idempotent, and entries below the saved log start never change
 *     (a rewrite's swap is conditioned on them, so it fails instead);
 *   - every write is conditioned on the topic being the one read, so after a delete (or a
 *     config change) the step writes nothing and the next pass starts over.
 */
export async function cleanPartition(ctx: CoreContext, work: PartitionWork): Promise<StepOutcome> {
  const topic = await findTopic(ctx, work.topic);
  if (!topic || topic.id !== work.topicId || work.partition >= topic.partitions) {
    return { more: false, counts: {} };
  }
  const before = startFromItem(await ctx.metadata.get(startKey(topic.id, work.partition)));
  // Retention as every reader applies it: advances and saves the log start (a bounded scan).
  await readPartitionState(ctx, topic, work.partition);
  const [startItem, maintItem] = await ctx.metadata.getMany([
    startKey(topic.id, work.partition),
    maintKey(topic.id, work.partition),
  ]);
  // Only a saved log start counts: saving it is what made the cut final.
  const logStart = startFromItem(startItem).logStartOffset;
  const advanced = logStart > before.logStartOffset;
  const maint = maintFromItem(maintItem);
  const page =
    logStart === 0
      ? []
      : await ctx.metadata.query(partitionPk(topic.id, work.partition), {
          from: batchSkPrefix,
          to: batchSk(logStart - 1),
          limit: entriesPerStep,
        });
  const expired = page.filter((item) => {
    const entry = entryFromItem(item);
    return entryEnd(entry) <= logStart;
  });
  const full = page.length === entriesPerStep;
  const reached = (pending: readonly PendingChunk[]) => ({
    // Everything below the log start once the last page is done.
    cleanedTo: full ? maint.cleanedTo : Math.max(maint.cleanedTo, logStart),
    pending,
  });
  if (expired.length === 0) {
    if (reached(maint.pending).cleanedTo > maint.cleanedTo) {
      await saveMaint(ctx, topic, work.partition, maint, reached(maint.pending));
    }
    return { more: advanced, counts: {} };
  }
  // 1. List the chunks about to lose their references here, before any entry goes.
  const listed = pendingChunks(work.partition, expired.map(entryFromItem));
  const known = new Set(maint.pending.map((p) => p.chunk));
  const pending = [...maint.pending, ...listed.filter((p) => !known.has(p.chunk))];
  if (!(await saveMaint(ctx, topic, work.partition, maint, reached(pending)))) {
    // Another step got in first: look again.
    return { more: true, counts: {} };
  }
  // 2. Then the entries.
  await ctx.metadata.deleteMany(expired);
  return { more: full || advanced, counts: { indexEntriesDeleted: expired.length } };
}
