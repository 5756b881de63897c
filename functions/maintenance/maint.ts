import type { CoreContext } from '../core/context.ts';
import { maintKey, topicKey } from '../core/keys.ts';
import {
  expectAbsent,
  expectVersion,
  lostRace,
  type StoredItem,
} from '../core/ports/metadata-store.ts';
import type { Topic } from '../core/topics/topic.ts';
import { type PendingChunk, pendingFromJson, pendingToJson } from './chunks.ts';

/**
 * A partition's maintenance cursor (`maint`, beside its head): every index entry wholly
 * below `cleanedTo` is deleted, and `pending` lists the chunks that lost a reference here,
 * for the topic's release step to judge (chunks.ts).
 */
export interface MaintState {
  readonly cleanedTo: number;
  readonly pending: readonly PendingChunk[];
  readonly version: number | undefined;
}

export function maintFromItem(item: StoredItem | undefined): MaintState {
  return {
    cleanedTo: typeof item?.data.cleanedTo === 'number' ? item.data.cleanedTo : 0,
    pending: pendingFromJson(item?.data.pending),
    version: item?.version,
  };
}

/**
 * Saves the cursor conditioned on the version read and on the topic being the one read (so
 * nothing is written for a topic deleted meanwhile, whose purge removes this item for
 * good); false when either changed first.
 */
export async function saveMaint(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  read: MaintState,
  next: { readonly cleanedTo: number; readonly pending: readonly PendingChunk[] },
): Promise<boolean> {
  try {
    await ctx.metadata.transact([
      { type: 'check', key: topicKey(topic.name), expect: expectVersion(topic.version) },
      {
        type: 'put',
        key: maintKey(topic.id, partition),
        data: { cleanedTo: next.cleanedTo, pending: pendingToJson(next.pending) },
        expect: read.version === undefined ? expectAbsent : expectVersion(read.version),
      },
    ]);
    return true;
  } catch (error: unknown) {
    if (await lostRace(error)) return false;
    throw error;
  }
}

/**
 * Applies `change` to the cursor as it is now, again on a fresh read when another writer
 * got in first, so both changes land. Gives up after a few lost races: what was to be
 * removed from `pending` stays, to be judged again by a later step.
 */
export async function updateMaint(
  ctx: CoreContext,
  topic: Topic,
  partition: number,
  change: (maint: MaintState) => { cleanedTo: number; pending: readonly PendingChunk[] },
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const maint = maintFromItem(await ctx.metadata.get(maintKey(topic.id, partition)));
    if (await saveMaint(ctx, topic, partition, maint, change(maint))) return;
  }
}
