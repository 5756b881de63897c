import type { TopicConfig } from '../topics/topic-config.ts';
import type { BatchRetentionFacts, PartitionHead } from './partition-items.ts';

/**
 * Kafka's retention rules, applied to batches instead of segments. A batch expires when
 * - time: its newest record is older than retention.ms (Kafka: now - largestTimestamp >
 *   retention.ms), or
 * - size: the partition would still hold at least retention.bytes without it (Kafka
 *   deletes the oldest segment while size - segment.size >= retention.bytes).
 * Only a prefix of the log expires: scanning stops at the first batch that is kept.
 * A topic whose cleanup.policy is only `compact` never expires by time or size.
 */
export function isExpired(
  batch: BatchRetentionFacts,
  head: Pick<PartitionHead, 'nextPosition'>,
  config: TopicConfig,
  now: number,
): boolean {
  if (config.cleanupPolicy === 'compact') return false;
  const byTime = config.retentionMs >= 0 && now - batch.maxTimestamp > config.retentionMs;
  const bySize =
    config.retentionBytes >= 0 && head.nextPosition - batch.end >= config.retentionBytes;
  return byTime || bySize;
}
