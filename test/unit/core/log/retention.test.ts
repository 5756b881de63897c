import { describe, expect, it } from 'vitest';
import { isExpired } from '../../../../functions/core/log/retention.ts';
import { topicConfig } from '../../../../functions/core/topics/topic-config.ts';

describe("retention rules (Kafka's, per batch)", () => {
  const now = 1_000_000;
  const head = { nextPosition: 1000 };

  it('expires by time only when now - newest timestamp > retention.ms', () => {
    const config = topicConfig({ 'retention.ms': '100' });
    expect(isExpired({ maxTimestamp: now - 100, end: 10 }, head, config, now)).toBe(false);
    expect(isExpired({ maxTimestamp: now - 101, end: 10 }, head, config, now)).toBe(true);
  });

  it('expires by size while the log would still hold retention.bytes without the batch', () => {
    const config = topicConfig({ 'retention.ms': '-1', 'retention.bytes': '600' });
    expect(isExpired({ maxTimestamp: 0, end: 400 }, head, config, now)).toBe(true);
    expect(isExpired({ maxTimestamp: 0, end: 401 }, head, config, now)).toBe(false);
  });

  it('keeps everything with -1 limits or a compact-only policy', () => {
    expect(
      isExpired({ maxTimestamp: 0, end: 1 }, head, topicConfig({ 'retention.ms': '-1' }), now),
    ).toBe(false);
    const compact = topicConfig({
      'cleanup.policy': 'compact',
      'retention.ms': '1',
      'retention.bytes': '0',
    });
    expect(isExpired({ maxTimestamp: 0, end: 1 }, head, compact, now)).toBe(false);
    const both = topicConfig({ 'cleanup.policy': 'compact,delete', 'retention.ms': '1' });
    expect(isExpired({ maxTimestamp: 0, end: 1 }, head, both, now)).toBe(true);
  });
});
