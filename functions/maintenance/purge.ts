import type { CoreContext } from '../core/context.ts';
import { groupPk, groupsPk, offsetSkPrefix } from '../core/groups/group.ts';
import { chunkPrefix, deletedTopicKey, headKey, sweepKey } from '../core/keys.ts';
import { expectVersion, lostRace, type StoredItem } from '../core/ports/metadata-store.ts';
import { purgeTopicSubscriptions } from '../core/subscriptions/subscriptions.ts';
import { fenceDeletedTopic } from '../core/topics/topics.ts';
import type { StepOutcome } from './retention.ts';
import type { MaintenanceSettings } from './settings.ts';

/** A deleted topic, to remove every item and chunk it left. */
export interface PurgeWork {
  readonly kind: 'purge';
  readonly topicId: string;
}

/** Items deleted per step. */
const itemsPerStep = 500;
/** Groups looked through per step for the topic's committed offsets. */
const groupsPerStep = 100;

interface PurgeProgress {
  /** Partitions whose items are all gone. */
  readonly partitionsDone: number;
  /** Groups are gone through in name order; the last one done. */
  readonly groupsAfter: string;
  readonly groupsDone: boolean;
}

/**
 * One bounded step of removing a deleted topic: its partitions' items (heads, starts,
 * index entries, producer state, maintenance cursors), its push subscriptions, the groups'
 * committed offsets for it, its orphan sweep cursor, and its chunks; finally the
 * `deleted-topics` item itself.
 *
 * The topic's id is never reused and nothing new is committed under it: each maintenance
 * write is conditioned on the topic item, and each produce on partition heads the delete
 * marked deleted (made sure of first, should the delete have failed half-way). Only chunks
 * of produce requests still in flight at the delete appear, which can never be committed.
 * The marked heads and the item go last, and only once the orphan grace has passed since
 * the delete with no chunk left, so such a late chunk is found and deleted too, and no
 * commit can still be under way to find a head missing and create it. A crash
 * anywhere leaves the item, and the next pass carries on from the progress saved in it;
 * every delete is idempotent.
 */
export async function purgeTopic(
  ctx: CoreContext,
  settings: MaintenanceSettings,
  work: PurgeWork,
): Promise<StepOutcome> {
  let item = await ctx.metadata.get(deletedTopicKey(work.topicId));
  if (item && item.data.headsFenced !== true) {
    // The delete failed before marking every head: nothing is removed until it is done.
    await fenceDeletedTopic(ctx, work.topicId);
    item = await ctx.metadata.get(deletedTopicKey(work.topicId));
  }
  if (!item) return { more: false, counts: {} };
  const partitions = Number(item.data.partitions ?? 0);
  const deletedAt = Number(item.data.deletedAt ?? 0);
  const progress = progressFrom(item);

  if (progress.partitionsDone < partitions) {
    const head = headKey(work.topicId, progress.partitionsDone);
    const page = await ctx.metadata.query(head.pk, { limit: itemsPerStep });
    // The head, marked deleted, stays until the end: it is what stops a late commit.
    const doomed = page.filter((i) => i.sk !== head.sk);
    if (doomed.length > 0) {
      await ctx.metadata.deleteMany(doomed);
      return { more: true, counts: { purgedItems: doomed.length } };
    }
    await saveProgress(ctx, item, { ...progress, partitionsDone: progress.partitionsDone + 1 });
    return { more: true, counts: {} };
  }

  if (!progress.groupsDone) {
    // Its push subscriptions go too (idempotent: a re-run finds none left).
    if (progress.groupsAfter === '') await purgeTopicSubscriptions(ctx, work.topicId);
    const groups = await ctx.metadata.query(groupsPk, {
      ...(progress.groupsAfter && { from: `${progress.groupsAfter}\u0000` }),
      limit: groupsPerStep,
    });
    let purged = 0;
    for (const { sk: group } of groups) {
      const prefix = `${offsetSkPrefix}${work.topicId}#`;
      const offsets = await ctx.metadata.query(groupPk(group), {
        from: prefix,
        to: `${prefix}~`,
      });
      await ctx.metadata.deleteMany(offsets);
      purged += offsets.length;
    }
    const last = groups.at(-1)?.sk;
    await saveProgress(ctx, item, {
      ...progress,
      groupsAfter: last ?? progress.groupsAfter,
      groupsDone: groups.length < groupsPerStep,
    });
    return { more: true, counts: { purgedItems: purged } };
  }

  await ctx.metadata.deleteMany([sweepKey(work.topicId)]);
  const page = await ctx.segments.list(chunkPrefix(work.topicId));
  if (page.objects.length > 0) {
    await ctx.segments.delete(page.objects.map((o) => o.key));
    return { more: true, counts: { purgedChunks: page.objects.length } };
  }
  if (ctx.now() - deletedAt < settings.orphanGraceMs) {
    // A produce request in flight at the delete may still write a chunk: look again later.
    return { more: false, counts: {} };
  }
  // No commit begun before the delete can still be under way (none starts over 30 s after
  // its chunk was named, and the grace is longer): the heads have done their work.
  const heads = Array.from({ length: partitions }, (_, p) => headKey(work.topicId, p));
  await ctx.metadata.deleteMany(heads);
  await ctx.metadata.deleteMany([deletedTopicKey(work.topicId)]);
  return { more: false, counts: { purgedItems: heads.length, topicsPurged: 1 } };
}

function progressFrom(item: StoredItem): PurgeProgress {
  const purge = item.data.purge;
  const saved = purge && typeof purge === 'object' && !Array.isArray(purge) ? purge : {};
  return {
    partitionsDone: typeof saved.partitionsDone === 'number' ? saved.partitionsDone : 0,
    groupsAfter: typeof saved.groupsAfter === 'string' ? saved.groupsAfter : '',
    groupsDone: saved.groupsDone === true,
  };
}

/** Progress is kept in the item itself; a concurrent step saving first is as good. */
async function saveProgress(
  ctx: CoreContext,
  item: StoredItem,
  progress: PurgeProgress,
): Promise<void> {
  try {
    await ctx.metadata.transact([
      {
        type: 'put',
        key: { pk: item.pk, sk: item.sk },
        data: { ...item.data, purge: { ...progress } },
        expect: expectVersion(item.version),
      },
    ]);
  } catch (error: unknown) {
    if (!(await lostRace(error))) throw error;
  }
}
