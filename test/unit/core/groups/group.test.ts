import { describe, expect, it } from 'vitest';
import { groupData, groupFromItem } from '../../../../functions/core/groups/group.ts';

const key = { pk: 'group#g', sk: 'state' };

describe('the group item', () => {
  it('reads items written before topics were stored once, and writes them back compactly', () => {
    // As earlier versions stored it: topics and owned partitions by name.
    const legacy = {
      ...key,
      version: 7,
      data: {
        generation: 3,
        members: [
          {
            memberId: 'm1',
            instanceId: null,
            topics: ['clicks', 'orders'],
            sessionTimeoutMs: 45_000,
            lastHeartbeat: 1000,
            autoOffsetReset: 'earliest',
            owned: [
              ['clicks', 0, 1],
              ['clicks', 1, 3],
              ['orders', 0, 3],
            ],
          },
        ],
        topics: { clicks: { id: 'c-id', partitions: 2 }, orders: { id: 'o-id', partitions: 1 } },
      },
    };
    const group = groupFromItem('g', legacy);
    expect(group.members[0]).toEqual({
      memberId: 'm1',
      instanceId: null,
      topics: ['clicks', 'orders'],
      sessionTimeoutMs: 45_000,
      lastHeartbeat: 1000,
      autoOffsetReset: 'earliest',
      owned: [
        { topic: 'clicks', partition: 0, since: 1 },
        { topic: 'clicks', partition: 1, since: 3 },
        { topic: 'orders', partition: 0, since: 3 },
      ],
    });
    const data = groupData(group);
    expect(data.names).toEqual(['clicks', 'orders']);
    expect(data.members).toEqual([
      expect.objectContaining({
        topics: [0, 1],
        owned: [
          [0, 1, [0]],
          [0, 3, [1]],
          [1, 3, [0]],
        ],
      }),
    ]);
    expect(groupFromItem('g', { ...key, version: 8, data })).toEqual({ ...group, version: 8 });
  });
});
