import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce, snapshot } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { send } from '../support/fuzz.ts';
import { join, type MemberView, owned } from '../support/groups.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('consumer groups ($name)', (backend) => {
  let server: RunningServer;
  let now = Date.UTC(2026, 5, 1);
  beforeAll(async () => {
    server = await startServer(backend, { now: () => now });
  });
  afterAll(() => server.close());

  const beat = (group: string, memberId: string) =>
    call(server.url, 'POST', `/v1/groups/${group}/members/${memberId}/heartbeat`);
  const poll = (group: string, memberId: string, query = '') =>
    call(server.url, 'GET', `/v1/groups/${group}/members/${memberId}/records${query}`);
  const commit = (group: string, body: object) =>
    call(server.url, 'POST', `/v1/groups/${group}/offsets`, body);

  it('shares a topic between members, each partition owned by exactly one, moving as few as possible', async () => {
    await createTopic(server.url, 'shared', 6);
    const a = await join(server.url, 'share', { topics: ['shared'] });
    expect(a.generation).toBe(1);
    expect(owned(a, 'shared')).toEqual([0, 1, 2, 3, 4, 5]);

    const b = await join(server.url, 'share', { topics: ['shared'] });
    expect(b.generation).toBe(2);
    const aNow: MemberView = (await beat('share', a.memberId)).body;
    expect(aNow.generation).toBe(2);
    expect([...owned(aNow, 'shared'), ...owned(b, 'shared')].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(owned(aNow, 'shared')).toHaveLength(3);
    // Sticky: a kept what it had, b took only what a gave up.
    expect(owned(a, 'shared')).toEqual(expect.arrayContaining(owned(aNow, 'shared')));

    const c = await join(server.url, 'share', { topics: ['shared'] });
    const [a3, b3] = [
      (await beat('share', a.memberId)).body,
      (await beat('share', b.memberId)).body,
    ];
    expect(owned(c, 'shared')).toHaveLength(2);
    expect(owned(a3, 'shared')).toHaveLength(2);
    expect(owned(b3, 'shared')).toHaveLength(2);
    expect(owned(aNow, 'shared')).toEqual(expect.arrayContaining(owned(a3, 'shared')));
    expect(owned(b, 'shared')).toEqual(expect.arrayContaining(owned(b3, 'shared')));

    // Leaving moves the leaver's partitions at once.
    expect(
      (await call(server.url, 'DELETE', `/v1/groups/share/members/${c.memberId}`)).status,
    ).toBe(204);
    const a4 = (await beat('share', a.memberId)).body;
    expect(a4.generation).toBe(c.generation + 1);
    expect(owned(a4, 'shared')).toHaveLength(3);
    expect((await beat('share', c.memberId)).body.error.code).toBe('UNKNOWN_MEMBER_ID');
  });

  it('subscribes to a topic before it exists, as Kafka does, naming it until it does, then assigns it', async () => {
    const early = await join(server.url, 'early', { topics: ['not-yet'] });
    expect(early).toMatchObject({ assignment: [], unknownTopics: ['not-yet'] });
    expect((await beat('early', early.memberId)).body.unknownTopics).toEqual(['not-yet']);
    await createTopic(server.url, 'not-yet', 2);
    const later = (await beat('early', early.memberId)).body;
    expect(owned(later, 'not-yet')).toEqual([0, 1]);
    expect(later).not.toHaveProperty('unknownTopics');
  });

  it('expires a member whose session lapsed on the next operation, and reassigns its partitions', async () => {
    await createTopic(server.url, 'lapse', 4);
    const a = await join(server.url, 'lapsing', { topics: ['lapse'], sessionTimeoutMs: 10_000 });
    const b = await join(server.url, 'lapsing', { topics: ['lapse'], sessionTimeoutMs: 30_000 });
    now += 10_000;
    expect((await beat('lapsing', a.memberId)).status).toBe(200); // exactly at the timeout: alive
    now += 10_001;
    const bNow = (await beat('lapsing', b.memberId)).body;
    expect(bNow.generation).toBe(b.generation + 1);
    expect(owned(bNow, 'lapse')).toEqual([0, 1, 2, 3]);
    expect((await beat('lapsing', a.memberId)).body.error.code).toBe('UNKNOWN_MEMBER_ID');
    const zombie = await commit('lapsing', {
      memberId: a.memberId,
      generation: a.generation + 1,
      offsets: [{ topic: 'lapse', partition: 0, offset: 1 }],
    });
    expect(zombie.body.error.code).toBe('UNKNOWN_MEMBER_ID');
  });

  it('gives a restarted static member its partitions back without a rebalance, fencing the old id', async () => {
    await createTopic(server.url, 'static', 4);
    const a = await join(server.url, 'statics', { topics: ['static'], instanceId: 'worker-1' });
    const b = await join(server.url, 'statics', { topics: ['static'], instanceId: 'worker-2' });
    const before = (await beat('statics', a.memberId)).body;
    const restarted = await join(server.url, 'statics', {
      topics: ['static'],
      instanceId: 'worker-1',
    });
    expect(restarted.memberId).not.toBe(a.memberId);
    expect(restarted.generation).toBe(b.generation);
    expect(owned(restarted, 'static')).toEqual(owned(before, 'static'));
    expect((await beat('statics', b.memberId)).body.generation).toBe(b.generation);
    expect((await beat('statics', a.memberId)).body.error.code).toBe('UNKNOWN_MEMBER_ID');
  });

  it('fences commits: stale generation, partitions not owned, unknown members', async () => {
    await createTopic(server.url, 'fence', 2);
    const a = await join(server.url, 'fencing', { topics: ['fence'] });
    const b = await join(server.url, 'fencing', { topics: ['fence'] });
    const aNow = (await beat('fencing', a.memberId)).body;
    const mine = owned(aNow, 'fence')[0] ?? 0;
    const theirs = owned(b, 'fence')[0] ?? 0;
    const before = await snapshot(server);
    const stale = await commit('fencing', {
      memberId: a.memberId,
      generation: a.generation,
      offsets: [{ topic: 'fence', partition: mine, offset: 1 }],
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({
      code: 'ILLEGAL_GENERATION',
      currentGeneration: b.generation,
    });
    const notMine = await commit('fencing', {
      memberId: a.memberId,
      generation: aNow.generation,
      offsets: [{ topic: 'fence', partition: theirs, offset: 1 }],
    });
    expect(notMine.body.error).toMatchObject({ code: 'PARTITION_NOT_ASSIGNED', partition: theirs });
    const stranger = await commit('fencing', {
      memberId: 'nobody',
      generation: aNow.generation,
      offsets: [{ topic: 'fence', partition: mine, offset: 1 }],
    });
    expect(stranger.body.error.code).toBe('UNKNOWN_MEMBER_ID');
    const admin = await commit('fencing', {
      offsets: [{ topic: 'fence', partition: mine, offset: 1 }],
    });
    expect(admin.body.error.code).toBe('GROUP_NOT_EMPTY');
    // ownedSince is a member's; without one it could not be checked, so it is refused.
    const ownerless = await commit('fencing-admin', {
      offsets: [{ topic: 'fence', partition: mine, offset: 0, ownedSince: 1 }],
    });
    expect(ownerless.status).toBe(400);
    expect(ownerless.body.error).toMatchObject({
      code: 'INVALID_REQUEST',
      field: 'offsets[0].ownedSince',
    });
    expect(await snapshot(server)).toEqual(before);
    const good = await commit('fencing', {
      memberId: a.memberId,
      generation: aNow.generation,
      offsets: [{ topic: 'fence', partition: mine, offset: 0, metadata: 'm' }],
    });
    expect(good.body).toEqual({ committed: 1 });
  });

  it('refuses an offset past the high watermark, which would stall the partition behind STALE_COMMIT', async () => {
    await createTopic(server.url, 'ahead', 2);
    await produce(
      server.url,
      'ahead',
      [0, 1, 2].map((i) => ({ value: `v${i}`, partition: 0 })),
    );
    const m = await join(server.url, 'aheads', { topics: ['ahead'] });
    const before = await snapshot(server);
    const past = await commit('aheads', {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [
        { topic: 'ahead', partition: 1, offset: 0 },
        { topic: 'ahead', partition: 0, offset: 1000 },
      ],
    });
    expect(past.status).toBe(416);
    expect(past.body.error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      topic: 'ahead',
      partition: 0,
      offset: 1000,
      highWatermark: 3,
    });
    expect(await snapshot(server)).toEqual(before);
    // The high watermark itself is "read everything": accepted, and later commits go on from it.
    const atEnd = await commit('aheads', {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [{ topic: 'ahead', partition: 0, offset: 3 }],
    });
    expect(atEnd.body).toEqual({ committed: 1 });
    await produce(server.url, 'ahead', [{ value: 'v3', partition: 0 }]);
    const next = await commit('aheads', {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [{ topic: 'ahead', partition: 0, offset: 4 }],
    });
    expect(next.body).toEqual({ committed: 1 });
    // An admin commit to an empty group is held to the same bound.
    expect(
      (await call(server.url, 'DELETE', `/v1/groups/aheads/members/${m.memberId}`)).status,
    ).toBe(204);
    const admin = await commit('aheads', {
      offsets: [{ topic: 'ahead', partition: 1, offset: 1 }],
    });
    expect(admin.status).toBe(416);
    expect(admin.body.error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', highWatermark: 0 });
  });

  it('polls from committed offsets, continues from the cursor of the last answer; reports lag', async () => {
    await createTopic(server.url, 'polled', 2);
    await produce(
      server.url,
      'polled',
      [0, 1, 2, 3, 4].flatMap((i) => [
        { value: `p0-${i}`, partition: 0 },
        { value: `p1-${i}`, partition: 1 },
      ]),
    );
    await commit('readers', { offsets: [{ topic: 'polled', partition: 0, offset: 2 }] });
    const m = await join(server.url, 'readers', {
      topics: ['polled'],
      autoOffsetReset: 'earliest',
    });
    const first = (await poll('readers', m.memberId, '?maxRecords=4')).body;
    const seen = first.records.map(
      (r: { partition: number; offset: number }) => `${r.partition}:${r.offset}`,
    );
    const second = (await poll('readers', m.memberId, `?maxRecords=100&cursor=${first.cursor}`))
      .body;
    seen.push(
      ...second.records.map(
        (r: { partition: number; offset: number }) => `${r.partition}:${r.offset}`,
      ),
    );
    // Partition 0 from its committed offset 2, partition 1 from earliest; nothing twice.
    expect(seen.sort()).toEqual(['0:2', '0:3', '0:4', '1:0', '1:1', '1:2', '1:3', '1:4']);
    const end = (await poll('readers', m.memberId, `?cursor=${second.cursor}`)).body;
    expect(end.records).toEqual([]);
    // Idle at the end of the log: the same cursor again, nothing written.
    expect(end.cursor).toBe(second.cursor);

    await commit('readers', {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [{ topic: 'polled', partition: 1, offset: 3 }],
    });
    const offsets = (await call(server.url, 'GET', '/v1/groups/readers/offsets')).body.offsets;
    expect(offsets).toEqual([
      { topic: 'polled', partition: 0, committedOffset: 2, metadata: '', highWatermark: 5, lag: 3 },
      { topic: 'polled', partition: 1, committedOffset: 3, metadata: '', highWatermark: 5, lag: 2 },
    ]);
    // Without a cursor a poll starts at the committed offsets again.
    const fromCommit = (await poll('readers', m.memberId)).body.records;
    expect(
      fromCommit.map((r: { partition: number; offset: number }) => `${r.partition}:${r.offset}`),
    ).toEqual(expect.arrayContaining(['0:2', '0:3', '0:4', '1:3', '1:4']));
    expect(fromCommit).toHaveLength(5);
  });

  it('answers a retried poll with the same records, so a lost answer skips nothing', async () => {
    await createTopic(server.url, 'lp', 1);
    await produce(
      server.url,
      'lp',
      Array.from({ length: 10 }, (_, i) => ({ value: i })),
    );
    const m = await join(server.url, 'lpg', { topics: ['lp'], autoOffsetReset: 'earliest' });
    const offsetsOf = (body: { records: { offset: number }[] }) =>
      body.records.map((r) => r.offset);

    // The first poll's answer is lost; the client polls again exactly as before.
    const lost = (await poll('lpg', m.memberId, '?maxRecords=5')).body;
    expect(offsetsOf(lost)).toEqual([0, 1, 2, 3, 4]);
    const retried = (await poll('lpg', m.memberId, '?maxRecords=5')).body;
    expect(offsetsOf(retried)).toEqual([0, 1, 2, 3, 4]);

    // The same with a cursor: a retry sends the cursor it holds, and may be retried again.
    const next = (await poll('lpg', m.memberId, `?maxRecords=3&cursor=${retried.cursor}`)).body;
    expect(offsetsOf(next)).toEqual([5, 6, 7]);
    for (let attempt = 0; attempt < 3; attempt++) {
      const again = (await poll('lpg', m.memberId, `?maxRecords=3&cursor=${retried.cursor}`)).body;
      expect(offsetsOf(again)).toEqual([5, 6, 7]);
    }
    const last = (await poll('lpg', m.memberId, `?maxRecords=3&cursor=${next.cursor}`)).body;
    expect(offsetsOf(last)).toEqual([8, 9]);
    // The cursor before last is forgotten once a poll started from a later one: a poll with
    // it starts at the committed offsets (none: earliest), re-delivering, never skipping.
    const forgotten = (await poll('lpg', m.memberId, `?maxRecords=3&cursor=${lost.cursor}`)).body;
    expect(offsetsOf(forgotten)).toEqual([0, 1, 2]);

    const ok = await commit('lpg', {
      memberId: m.memberId,
      generation: m.generation,
      offsets: [{ topic: 'lp', partition: 0, offset: 5 }],
    });
    expect(ok.status).toBe(200);
    expect(offsetsOf((await poll('lpg', m.memberId, '?maxRecords=3')).body)).toEqual([5, 6, 7]);
    const malformed = await poll('lpg', m.memberId, '?cursor=%20not%20one');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ code: 'INVALID_REQUEST', field: 'cursor' });
  });

  it('decides auto.offset.reset=latest once per ownership, so polls without a cursor skip nothing', async () => {
    await createTopic(server.url, 'late', 1);
    await produce(server.url, 'late', [{ value: 'before' }]);
    const m = await join(server.url, 'late-readers', { topics: ['late'] });
    expect((await poll('late-readers', m.memberId)).body.records).toEqual([]);
    await produce(server.url, 'late', [{ value: 'between' }]);
    const values = (await poll('late-readers', m.memberId)).body.records.map(
      (r: { value: unknown }) => r.value,
    );
    expect(values).toEqual(['between']);
  });

  it('never moves committed offsets back when a partition is lost and regained', async () => {
    await createTopic(server.url, 'bk', 2);
    await produce(
      server.url,
      'bk',
      Array.from({ length: 200 }, (_, i) => ({ value: i, partition: i % 2 })),
    );
    const a = await join(server.url, 'bkg', { topics: ['bk'], autoOffsetReset: 'earliest' });
    expect(a.assignment).toEqual([{ topic: 'bk', partitions: [0, 1], ownedSince: [1, 1] }]);
    const readByA = (await poll('bkg', a.memberId, '?maxRecords=1000')).body;
    expect(readByA.records).toHaveLength(200);

    const b = await join(server.url, 'bkg', { topics: ['bk'], autoOffsetReset: 'earliest' });
    expect(b.generation).toBe(2);
    expect(b.assignment).toEqual([{ topic: 'bk', partitions: [1], ownedSince: [2] }]);
    await produce(
      server.url,
      'bk',
      Array.from({ length: 200 }, (_, i) => ({ value: 200 + i, partition: 1 })),
    );
    const readByB = (await poll('bkg', b.memberId, '?maxRecords=1000')).body;
    expect(readByB.records.map((r: { offset: number }) => r.offset)).toEqual(
      Array.from({ length: 300 }, (_, i) => i),
    );
    // B commits what it read: it started at earliest, as nothing was committed.
    const byB = await commit('bkg', {
      memberId: b.memberId,
      generation: b.generation,
      offsets: [{ topic: 'bk', partition: 1, offset: 300 }],
    });
    expect(byB.status).toBe(200);
    expect((await call(server.url, 'DELETE', `/v1/groups/bkg/members/${b.memberId}`)).status).toBe(
      204,
    );

    // A owns partition 1 again, since generation 3: what it read in generation 1 is stale.
    const aNow = (await beat('bkg', a.memberId)).body;
    expect(aNow.generation).toBe(3);
    expect(aNow.assignment).toEqual([{ topic: 'bk', partitions: [0, 1], ownedSince: [1, 3] }]);
    const groupOffsets = async () =>
      (await call(server.url, 'GET', '/v1/groups/bkg/offsets')).body.offsets.map(
        (o: { committedOffset: number | null }) => o.committedOffset,
      );
    expect(await groupOffsets()).toEqual([null, 300]);
    const backwards = await commit('bkg', {
      memberId: a.memberId,
      generation: 3,
      offsets: [{ topic: 'bk', partition: 1, offset: 100 }],
    });
    expect(backwards.status).toBe(409);
    expect(backwards.body.error).toMatchObject({
      code: 'STALE_COMMIT',
      topic: 'bk',
      partition: 1,
      offset: 100,
      committedOffset: 300,
    });
    // Naming the ownership the records were read under is refused even going forward.
    const staleOwnership = await commit('bkg', {
      memberId: a.memberId,
      generation: 3,
      offsets: [{ topic: 'bk', partition: 1, offset: 301, ownedSince: 1 }],
    });
    expect(staleOwnership.body.error).toMatchObject({
      code: 'PARTITION_NOT_ASSIGNED',
      ownedSince: 3,
    });
    expect(await groupOffsets()).toEqual([null, 300]);
    // A commit that moves nothing back, within an unbroken ownership, is accepted.
    const fine = await commit('bkg', {
      memberId: a.memberId,
      generation: 3,
      offsets: [{ topic: 'bk', partition: 0, offset: 100, ownedSince: 1 }],
    });
    expect(fine.status).toBe(200);
    expect(await groupOffsets()).toEqual([100, 300]);

    // A's cursor from generation 1 still holds on partition 0 (owned without a break), not
    // on partition 1: there A continues from B's commit, and nothing comes twice.
    await produce(
      server.url,
      'bk',
      [0, 1, 2].map((i) => ({ value: i, partition: 1 })),
    );
    const resumed = (await poll('bkg', a.memberId, `?cursor=${readByA.cursor}`)).body.records;
    expect(
      resumed.map((r: { partition: number; offset: number }) => [r.partition, r.offset]),
    ).toEqual([
      [1, 300],
      [1, 301],
      [1, 302],
    ]);
  });

  it('starts a new group at latest by default, and waits for records with waitMs', async () => {
    await createTopic(server.url, 'tailing', 1);
    await produce(server.url, 'tailing', [{ value: 'old' }]);
    const m = await join(server.url, 'tail', { topics: ['tailing'] });
    expect((await poll('tail', m.memberId)).body.records).toEqual([]);
    const waiting = poll('tail', m.memberId, '?waitMs=15000');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await produce(server.url, 'tailing', [{ value: 'new' }]);
    expect((await waiting).body.records.map((r: { value: unknown }) => r.value)).toEqual(['new']);
  });

  it('ends a waiting poll when the group rebalances or the member leaves', async () => {
    await createTopic(server.url, 'quiet', 2);
    const first = await join(server.url, 'waiters', { topics: ['quiet'] });
    const waited = async (pending: ReturnType<typeof poll>) => {
      const started = Date.now();
      const answer = await pending;
      return { answer, ms: Date.now() - started };
    };
    // Another member joins during the wait: a new generation, so the wait ends early.
    const rebalanced = waited(poll('waiters', first.memberId, '?waitMs=20000'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await join(server.url, 'waiters', { topics: ['quiet'] });
    const { answer, ms } = await rebalanced;
    expect(answer.status).toBe(200);
    expect(answer.body.records).toEqual([]);
    expect(ms).toBeLessThan(10_000);
    // The next poll answers the new generation and assignment.
    const after = await poll('waiters', first.memberId);
    expect(after.body.generation).toBe(second.generation);
    expect(owned(after.body, 'quiet')).toHaveLength(1);

    // The member leaves during its wait: the wait ends, and the member is unknown after.
    const leaving = waited(poll('waiters', second.memberId, '?waitMs=20000'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await call(server.url, 'DELETE', `/v1/groups/waiters/members/${second.memberId}`);
    expect((await leaving).ms).toBeLessThan(10_000);
    expect((await poll('waiters', second.memberId)).body.error.code).toBe('UNKNOWN_MEMBER_ID');
    // Nor does the ended wait leave the member's cursors behind, once its leaving removed them.
    const items = await server.stores.metadata.query('group#waiters');
    expect(items.map((i) => i.sk)).not.toContain(`position#${second.memberId}`);
  });

  it('makes a member that owns nothing wait too, until a rebalance gives it partitions', async () => {
    const idle = await join(server.url, 'idlers', { topics: ['idle-later'] });
    expect(idle.assignment).toEqual([]);
    const started = Date.now();
    const waiting = poll('idlers', idle.memberId, '?waitMs=20000').then((answer) => ({
      answer,
      ms: Date.now() - started,
    }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await createTopic(server.url, 'idle-later', 2);
    const { answer, ms } = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.body.records).toEqual([]);
    // Not at once (a client would spin), and not the whole wait: the rebalance ended it.
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(ms).toBeLessThan(10_000);
    expect(owned((await beat('idlers', idle.memberId)).body, 'idle-later')).toEqual([0, 1]);
  });

  it('rebalances when partitions are added or a subscribed topic is deleted', async () => {
    await createTopic(server.url, 'growing', 2);
    await createTopic(server.url, 'doomed-sub', 2);
    const m = await join(server.url, 'changes', { topics: ['growing', 'doomed-sub'] });
    await call(server.url, 'POST', '/v1/topics/growing/partitions', { count: 4 });
    const grown = (await beat('changes', m.memberId)).body;
    expect(grown.generation).toBe(m.generation + 1);
    expect(owned(grown, 'growing')).toEqual([0, 1, 2, 3]);
    await call(server.url, 'DELETE', '/v1/topics/doomed-sub');
    const shrunk = (await beat('changes', m.memberId)).body;
    expect(shrunk.generation).toBe(grown.generation + 1);
    expect(shrunk.assignment).toEqual([
      { topic: 'growing', partitions: [0, 1, 2, 3], ownedSince: [1, 1, 2, 2] },
    ]);
  });

  it('never loses a member to concurrent joins', async () => {
    await createTopic(server.url, 'crowd', 12);
    const members = await Promise.all(
      Array.from({ length: 10 }, () => join(server.url, 'crowded', { topics: ['crowd'] })),
    );
    const described = (await call(server.url, 'GET', '/v1/groups/crowded')).body;
    expect(described.members.map((m: { memberId: string }) => m.memberId).sort()).toEqual(
      members.map((m) => m.memberId).sort(),
    );
    const all = described.members.flatMap((m: { assignment: { partitions: number[] }[] }) =>
      m.assignment.flatMap((a) => a.partitions),
    );
    expect(all.sort((x: number, y: number) => x - y)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it('keeps a group of long names and many partitions within one item, and refuses the 201st member', async () => {
    const long = (c: string) => c.repeat(249);
    await createTopic(server.url, long('a'), 1000);
    await createTopic(server.url, long('b'), 1000);
    const big = await join(server.url, 'big', { topics: [long('a'), long('b')] });
    expect(big.assignment.flatMap((a) => a.partitions)).toHaveLength(2000);
    expect((await beat('big', big.memberId)).status).toBe(200);

    await createTopic(server.url, 'popular', 1);
    for (let i = 0; i < 200; i++) await join(server.url, 'crowd-200', { topics: ['popular'] });
    const before = await snapshot(server);
    const refused = await call(server.url, 'POST', '/v1/groups/crowd-200/members', {
      topics: ['popular'],
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'GROUP_MAX_SIZE_REACHED',
      limit: 200,
      members: 201,
    });
    expect(await snapshot(server)).toEqual(before);
  });

  it('refuses the group names . and .., which a URL path cannot carry to the server', async () => {
    await createTopic(server.url, 'dots', 1);
    const agent = new Agent();
    const before = await snapshot(server);
    // Sent as written (node:http does not resolve dot segments, as curl and fetch do).
    for (const [path, name] of [
      ['/v1/groups/./members', '.'],
      ['/v1/groups/../members', '..'],
      ['/v1/groups/%2e%2e/members', '..'],
    ]) {
      const joined = await send(server.url, agent, {
        method: 'POST',
        path: path ?? '',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ topics: ['dots'] })),
      });
      expect(joined.status, joined.text).toBe(400);
      expect(JSON.parse(joined.text).error).toMatchObject({ code: 'INVALID_GROUP', group: name });
    }
    const committed = await send(server.url, agent, {
      method: 'POST',
      path: '/v1/groups/../offsets',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ offsets: [{ topic: 'dots', partition: 0, offset: 0 }] })),
    });
    expect(JSON.parse(committed.text).error.code).toBe('INVALID_GROUP');
    agent.destroy();
    expect(await snapshot(server)).toEqual(before);
    expect((await join(server.url, '.a..', { topics: ['dots'] })).generation).toBe(1);
  });

  it('lists, describes, resets and deletes groups — resets and deletes only when empty', async () => {
    await createTopic(server.url, 'admin', 2, { 'retention.ms': '-1' });
    await produce(server.url, 'admin', [
      { value: 'a', partition: 0, timestamp: 1000 },
      { value: 'b', partition: 0, timestamp: 2000 },
      { value: 'c', partition: 1, timestamp: 3000 },
    ]);
    const m = await join(server.url, 'admins', { topics: ['admin'] });
    expect((await call(server.url, 'GET', '/v1/groups')).body.groups).toContainEqual({
      group: 'admins',
      state: 'Stable',
      members: 1,
      generation: 1,
    });
    const busy = await call(server.url, 'POST', '/v1/groups/admins/offsets/reset', {
      topic: 'admin',
      to: 'earliest',
    });
    expect(busy.body.error.code).toBe('GROUP_NOT_EMPTY');
    expect((await call(server.url, 'DELETE', '/v1/groups/admins')).body.error.code).toBe(
      'GROUP_NOT_EMPTY',
    );
    await call(server.url, 'DELETE', `/v1/groups/admins/members/${m.memberId}`);

    const reset = async (to: string) =>
      (
        await call(server.url, 'POST', '/v1/groups/admins/offsets/reset', { topic: 'admin', to })
      ).body.offsets.map((o: { committedOffset: number }) => o.committedOffset);
    expect(await reset('latest')).toEqual([2, 1]);
    expect(await reset('earliest')).toEqual([0, 0]);
    expect(await reset('timestamp:1500')).toEqual([1, 0]);
    expect(await reset('1')).toEqual([1, 1]);
    expect(await reset('99')).toEqual([2, 1]);
    const described = (await call(server.url, 'GET', '/v1/groups/admins')).body;
    expect(described).toMatchObject({ group: 'admins', state: 'Empty', members: [] });
    expect(described.offsets.map((o: { lag: number }) => o.lag)).toEqual([0, 0]);

    expect((await call(server.url, 'DELETE', '/v1/groups/admins')).status).toBe(204);
    expect((await call(server.url, 'GET', '/v1/groups/admins')).body.error.code).toBe(
      'GROUP_NOT_FOUND',
    );
    expect(
      (await call(server.url, 'GET', '/v1/groups')).body.groups.map(
        (g: { group: string }) => g.group,
      ),
    ).not.toContain('admins');
  });

  it.each([
    [
      'an invalid group name',
      'POST',
      '/v1/groups/bad group/members',
      { topics: ['t'] },
      'INVALID_GROUP',
    ],
    ['no topics', 'POST', '/v1/groups/g/members', { topics: [] }, 'INVALID_REQUEST'],
    [
      'a subscription of over 100 topics',
      'POST',
      '/v1/groups/g/members',
      { topics: Array.from({ length: 101 }, (_, i) => `topic-${i}`) },
      'INVALID_REQUEST',
    ],
    ['an invalid topic name', 'POST', '/v1/groups/g/members', { topics: ['a/b'] }, 'INVALID_TOPIC'],
    [
      'a session timeout under 1 s',
      'POST',
      '/v1/groups/g/members',
      { topics: ['t'], sessionTimeoutMs: 10 },
      'INVALID_REQUEST',
    ],
    [
      'an unknown offset reset',
      'POST',
      '/v1/groups/g/members',
      { topics: ['t'], autoOffsetReset: 'none' },
      'INVALID_REQUEST',
    ],
    [
      'a member without generation',
      'POST',
      '/v1/groups/g/offsets',
      { memberId: 'x', offsets: [{ topic: 'shared', partition: 0, offset: 1 }] },
      'INVALID_REQUEST',
    ],
    [
      'a negative offset',
      'POST',
      '/v1/groups/g/offsets',
      { offsets: [{ topic: 'shared', partition: 0, offset: -1 }] },
      'INVALID_REQUEST',
    ],
    [
      'a commit to an unknown topic',
      'POST',
      '/v1/groups/g/offsets',
      { offsets: [{ topic: 'nope', partition: 0, offset: 1 }] },
      'TOPIC_NOT_FOUND',
    ],
    [
      'a commit to an unknown partition',
      'POST',
      '/v1/groups/g/offsets',
      { offsets: [{ topic: 'shared', partition: 9, offset: 1 }] },
      'PARTITION_NOT_FOUND',
    ],
    [
      'a bad reset target',
      'POST',
      '/v1/groups/g/offsets/reset',
      { topic: 'shared', to: 'yesterday' },
      'INVALID_REQUEST',
    ],
    ['an unknown group', 'GET', '/v1/groups/never-was', undefined, 'GROUP_NOT_FOUND'],
  ])('refuses %s, changing nothing', async (_, method, path, body, code) => {
    const before = await snapshot(server);
    const response = await call(server.url, method, path, body);
    expect(response.body.error.code).toBe(code);
    expect(response.status).toBeLessThan(500);
    expect(await snapshot(server)).toEqual(before);
  });
  it('names the topic and partition of a record a poll cannot render, as its answer mixes partitions', async () => {
    await createTopic(server.url, 'mixed', 3);
    await produce(server.url, 'mixed', [{ value: 'plain text', partition: 2 }], '?format=text');
    const member = await join(server.url, 'renderers', {
      topics: ['mixed'],
      autoOffsetReset: 'earliest',
    });
    const refused = await poll('renderers', member.memberId);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({
      code: 'RECORD_NOT_DECODABLE',
      topic: 'mixed',
      partition: 2,
      offset: 0,
      format: 'json',
    });
    expect(refused.body.error.message).toContain('the record at offset 0 of mixed-2');
    const asText = await poll('renderers', member.memberId, '?format=text');
    expect(asText.body.records).toMatchObject([{ partition: 2, offset: 0, value: 'plain text' }]);
  });
});
