import { describe, expect, it } from 'vitest';
import type { RecordAck } from '../../../functions/core/log/produce.ts';
import { acksJson } from '../../../functions/http/acks-json.ts';

describe("a produce's answer", () => {
  const answer = (offsets: RecordAck[]) =>
    expect(acksJson(offsets).toString('utf8')).toBe(JSON.stringify({ offsets }));

  it('is written as JSON.stringify writes it', () => {
    answer([]);
    answer([{ partition: 0, offset: 0, timestamp: 0 }]);
    answer(
      Array.from({ length: 1000 }, (_, i) => ({
        partition: i % 7,
        offset: 2 ** 53 - 1000 + i,
        timestamp: 1_700_000_000_000 + i * 31,
      })),
    );
    answer([{ partition: 1, offset: 1e21, timestamp: -0 }]);
    answer([{ partition: 0, offset: 9, timestamp: -0 }]);
    answer([{ partition: 10, offset: 2 ** 53 - 1, timestamp: 99 }]);
    answer([{ partition: 99_999_999, offset: 100_000_000, timestamp: 100_000_001 }]);
    answer([{ partition: 0, offset: 1_700_000_000_000, timestamp: 1_000_000_000_000_007 }]);
    answer([{ partition: 3, offset: 2 ** 53, timestamp: 1.5 }]);
    answer([{ partition: 3, offset: -1, timestamp: 100 }]);
  });

  it('falls back to JSON.stringify for numbers it writes as null', () => {
    answer([
      { partition: 1, offset: 2, timestamp: 3 },
      { partition: Number.NaN, offset: Number.POSITIVE_INFINITY, timestamp: 3 },
    ]);
  });
});
