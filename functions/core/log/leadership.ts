import type { CoreContext } from '../context.ts';
import { headKey } from '../keys.ts';
import { expectAbsent, expectVersion, lostRace } from '../ports/metadata-store.ts';
import { assertPartition, loadTopic, topicNotFound } from '../topics/topic.ts';
import { headData, headFromItem } from './partition-items.ts';

/**
 * Makes the caller the partition's exclusive writer: raises its leader epoch by one. From
 * then on a write must carry this epoch; writes with an older one (or none) are refused
 * with FENCED_LEADER_EPOCH. There are no brokers to elect: the epoch on the partition head
 * is the fence, checked by the same conditional commit that sequences offsets.
 */
export async function takeLeadership(
  ctx: CoreContext,
  topicName: string,
  partition: number,
): Promise<{ topic: string; partition: number; leaderEpoch: number }> {
  const topic = await loadTopic(ctx, topicName);
  assertPartition(topic, partition);
  const key = headKey(topic.id, partition);
  let item = await ctx.metadata.get(key);
  for (;;) {
    const head = headFromItem(item);
    // Deleted since it was read (the delete marks every head): the topic is gone.
    if (head.deleted) throw topicNotFound(topic.name);
    const leaderEpoch = head.leaderEpoch + 1;
    try {
      await ctx.metadata.transact([
        {
          type: 'put',
          key,
          data: headData({ ...head, leaderEpoch }),
          expect: item ? expectVersion(item.version) : expectAbsent,
        },
      ]);
      return { topic: topic.name, partition, leaderEpoch };
    } catch (error: unknown) {
      // A record landed or another writer took the partition first: go again from there.
      if (!(await lostRace(error))) throw error;
      item = await ctx.metadata.get(key);
    }
  }
}
