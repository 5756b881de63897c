import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupPk, groupRegistryKey, groupStateKey } from '../../functions/core/groups/group.ts';
import { expectAny, type MetadataStore } from '../../functions/core/ports/metadata-store.ts';
import { createTopic, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { join } from '../support/groups.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { dyingAfterWrites, racingBeforeWrite } from '../support/storage.ts';

/**
 * Deleting a group rolls forward: once a delete has made its first write, the next
 * operation on the group's name — from any instance — behaves as if the delete had
 * completed. Each test runs the delete on a second API instance over the same stores, whose
 * store fails or lets a racing request in at a chosen write.
 */
describe.each(backends)('group deletion ($name)', (backend) => {
  let server: RunningServer;
  const now = Date.UTC(2026, 5, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  const commit = (group: string, body: object) =>
    call(server.url, 'POST', `/v1/groups/${group}/offsets`, body);
  const poll = (group: string, memberId: string) =>
    call(server.url, 'GET', `/v1/groups/${group}/members/${memberId}/records?maxRecords=100`);
  const listed = async () =>
    (await call(server.url, 'GET', '/v1/groups')).body.groups.map(
      (g: { group: string }) => g.group,
    );
  /** Offsets and poll positions still stored for the group's name, behind the API. */
  const leftovers = async (group: string) =>
    (await server.stores.metadata.query(groupPk(group)))
      .map((item) => item.sk)
      .filter((sk) => sk !== 'state');

  /** Sends DELETE /v1/groups/{group} to an instance over `metadata`; answers its status. */
  const deleteThrough = async (metadata: MetadataStore, group: string): Promise<number> => {
    const other = await startServer(backend, {
      now: () => now,
      stores: { ...server.stores, metadata },
    });
    try {
      return (await call(other.url, 'DELETE', `/v1/groups/${group}`)).status;
    } finally {
      await other.stop();
    }
  };

  /** A topic of five records on partition 0, and an empty group that committed offset 3. */
  const groupAtThree = async (topic: string, group: string) => {
    await createTopic(server.url, topic, 2);
    await produce(
      server.url,
      topic,
      [0, 1, 2, 3, 4].map((i) => ({ value: i, partition: 0 })),
    );
    const m = await join(server.url, group, { topics: [topic], autoOffsetReset: 'earliest' });
    const committed = await commit(group, {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [{ topic, partition: 0, offset: 3 }],
    });
    expect(committed.status).toBe(200);
    // The member polled (so the group holds its position item too), then leaves.
    expect((await poll(group, m.memberId)).status).toBe(200);
    await call(server.url, 'DELETE', `/v1/groups/${group}/members/${m.memberId}`);
  };

  /** Partition 0's offsets a new member of `group` reads from the start of its ownership. */
  const readByNewMember = async (group: string, topic: string) => {
    const m = await join(server.url, group, { topics: [topic], autoOffsetReset: 'earliest' });
    const answer = await poll(group, m.memberId);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body.records
      .filter((r: { partition: number }) => r.partition === 0)
      .map((r: { offset: number }) => r.offset);
  };

  it('leaves a group that is gone after a delete dies past its first write: a new one of the name starts afresh', async () => {
    await groupAtThree('del-crash', 'crashed');
    expect(await deleteThrough(dyingAfterWrites(server.stores.metadata, 1), 'crashed')).toBe(500);

    // Never shown half-deleted.
    expect(await listed()).not.toContain('crashed');
    const described = await call(server.url, 'GET', '/v1/groups/crashed');
    expect(described.body.error.code).toBe('GROUP_NOT_FOUND');
    const offsets = await call(server.url, 'GET', '/v1/groups/crashed/offsets');
    expect(offsets.body.error.code).toBe('GROUP_NOT_FOUND');

    // A new group of the name has no committed offsets: auto.offset.reset decides.
    expect(await readByNewMember('crashed', 'del-crash')).toEqual([0, 1, 2, 3, 4]);
    const fresh = (await call(server.url, 'GET', '/v1/groups/crashed')).body;
    expect(fresh.offsets.map((o: { committedOffset: number | null }) => o.committedOffset)).toEqual(
      [null, null],
    );
  });

  it.each([
    ['its first write', 1],
    ['a page of offsets', 2],
  ])('finishes a delete that died after %s when the delete is sent again', async (_, writes) => {
    const group = `retried-${writes}`;
    const topic = `del-retried-${writes}`;
    // 150 committed offsets: more than one transaction of deletes.
    await createTopic(server.url, topic, 150);
    for (const partitions of [
      [0, 98],
      [98, 150],
    ] as const) {
      const response = await commit(group, {
        offsets: Array.from({ length: partitions[1] - partitions[0] }, (_, i) => ({
          topic,
          partition: partitions[0] + i,
          offset: 0,
        })),
      });
      expect(response.status).toBe(200);
    }
    expect(await deleteThrough(dyingAfterWrites(server.stores.metadata, writes), group)).toBe(500);

    const again = await call(server.url, 'DELETE', `/v1/groups/${group}`);
    expect(again.status, JSON.stringify(again.body)).toBe(204);
    expect(await leftovers(group)).toEqual([]);
    expect(await listed()).not.toContain(group);
    const gone = await call(server.url, 'DELETE', `/v1/groups/${group}`);
    expect(gone.body.error.code).toBe('GROUP_NOT_FOUND');
  });

  it('lands a commit that races with a delete in a fresh group, never beside the old offsets', async () => {
    await groupAtThree('del-race-commit', 'raced-commit');
    let racing: { status: number; body: { error?: { code: string } } } | undefined;
    // Just after the delete's first write, a simple consumer commits partition 1.
    const status = await deleteThrough(
      racingBeforeWrite(server.stores.metadata, 2, async () => {
        racing = await commit('raced-commit', {
          offsets: [{ topic: 'del-race-commit', partition: 1, offset: 0 }],
        });
      }),
      'raced-commit',
    );
    expect(status).toBe(204);
    expect(racing?.status, JSON.stringify(racing?.body)).toBe(200);

    // The commit is not lost, and partition 0's old offset is not back.
    const described = await call(server.url, 'GET', '/v1/groups/raced-commit');
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    expect(
      described.body.offsets.map((o: { committedOffset: number | null }) => o.committedOffset),
    ).toEqual([null, 0]);
    expect(await listed()).toContain('raced-commit');
  });

  it('lands a join that races with a delete in a fresh group, which reads by auto.offset.reset', async () => {
    await groupAtThree('del-race-join', 'raced-join');
    let member: { memberId: string } | undefined;
    const status = await deleteThrough(
      racingBeforeWrite(server.stores.metadata, 2, async () => {
        member = await join(server.url, 'raced-join', {
          topics: ['del-race-join'],
          autoOffsetReset: 'earliest',
        });
      }),
      'raced-join',
    );
    expect(status).toBe(204);
    if (!member) throw new Error('the racing join did not run');

    // The member is still in the group, and reads partition 0 from the start.
    const answer = await poll('raced-join', member.memberId);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(
      answer.body.records
        .filter((r: { partition: number }) => r.partition === 0)
        .map((r: { offset: number }) => r.offset),
    ).toEqual([0, 1, 2, 3, 4]);
    const described = (await call(server.url, 'GET', '/v1/groups/raced-join')).body;
    expect(described.members.map((m: { memberId: string }) => m.memberId)).toEqual([
      member.memberId,
    ]);
  });

  it('never deletes what a group created again under the name wrote, when an older delete runs late', async () => {
    await groupAtThree('del-late', 'late');
    let again: { status: number; body: unknown } | undefined;
    let recommitted: { status: number; body: unknown } | undefined;
    // Between the late delete's first write and its next: another delete finishes the job,
    // and a new group of the name commits partition 0 (the same item the old offset was).
    const status = await deleteThrough(
      racingBeforeWrite(server.stores.metadata, 2, async () => {
        again = await call(server.url, 'DELETE', '/v1/groups/late');
        recommitted = await commit('late', {
          offsets: [{ topic: 'del-late', partition: 0, offset: 1 }],
        });
      }),
      'late',
    );
    expect(status).toBe(204);
    expect(again?.status, JSON.stringify(again?.body)).toBe(204);
    expect(recommitted?.status, JSON.stringify(recommitted?.body)).toBe(200);

    const described = await call(server.url, 'GET', '/v1/groups/late');
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    expect(
      described.body.offsets.map((o: { committedOffset: number | null }) => o.committedOffset),
    ).toEqual([1, null]);
    expect(await listed()).toContain('late');
  });

  it('clears offsets left by a delete that died before deletions rolled forward', async () => {
    await groupAtThree('del-legacy', 'legacy');
    // Such a delete removed the state and registry items first, then died.
    await server.stores.metadata.transact([
      { type: 'delete', key: groupStateKey('legacy'), expect: expectAny },
      { type: 'delete', key: groupRegistryKey('legacy'), expect: expectAny },
    ]);
    expect(await leftovers('legacy')).not.toEqual([]);

    expect(await readByNewMember('legacy', 'del-legacy')).toEqual([0, 1, 2, 3, 4]);
    const fresh = (await call(server.url, 'GET', '/v1/groups/legacy')).body;
    expect(fresh.offsets.map((o: { committedOffset: number | null }) => o.committedOffset)).toEqual(
      [null, null],
    );
  });
});
