import type { CoreContext } from '../core/context.ts';
import { maintKey, topicKey } from '../core/keys.ts';
import { maintData, maintFromItem, type PartitionMaint } from '../core/log/partition-maint.ts';
import {
  expectAbsent,
  expectVersion,
  lostRace,
  type WriteOp,
} from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';

export type MaintChange = Omit<PartitionMaint, 'version'>;

/**
 * Saves a partition's maintenance state, with `also` (gc items, a swap's entries) in the
 * same transaction, conditioned on the state as read and on the topic being the one read:
 * nothing is written for a topic deleted or re-configured meanwhile, whose purge would
 * remove these items for good. False when something changed first; nothing was written.
 */
export async function saveMaint(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  read: PartitionMaint,
  next: MaintChange,
  also: readonly WriteOp[] = [],
): Promise<boolean> {
  try {
    await ctx.metadata.transact([
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topic.version) },
      {
        type: 'put',
        key: maintKey(topic.id, partition),
        data: maintData(next),
        expect: read.version === undefined ? expectAbsent : expectVersion(read.version),
      },
      ...also,
    ]);
    return true;
  } catch (error: unknown) {
    if (await lostRace(error)) return false;
    throw error;
  }
}

/** The partition's maintenance state as stored now. */
export async function readMaint(
  ctx: CoreContext,
  topicId: string,
  partition: number,
): Promise<PartitionMaint> {
  return maintFromItem(await ctx.metadata.get(maintKey(topicId, partition)));
}

/**
 * Applies `change` to the state as it is now, again on a fresh read when another writer got
 * in first, so both changes land. Gives up after a few lost races (the caller's change is
 * then made by a later step).
 */
export async function updateMaint(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  change: (maint: PartitionMaint) => MaintChange | undefined,
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const maint = await readMaint(ctx, topic.id, partition);
    const next = change(maint);
    if (next === undefined) return true;
    if (await saveMaint(ctx, topic, partition, maint, next)) return true;
  }
  return false;
}
