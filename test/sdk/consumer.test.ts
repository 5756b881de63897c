import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsumerBatch,
  type FetchLike,
  type TopicPartitions,
  Tributary,
  TributaryError,
} from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

/** Polls `condition` until it holds, failing after `timeoutMs`. */
async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const flat = (assignment: readonly TopicPartitions[]) =>
  assignment.flatMap((a) => a.partitions.map((p) => `${a.topic}-${p}`)).sort();

/** The offsets the group has committed equal every partition's high watermark. */
async function fullyCommitted(tributary: Tributary, group: string): Promise<boolean> {
  const offsets = await tributary.groups.offsets(group);
  return offsets.length > 0 && offsets.every((o) => o.committedOffset === o.highWatermark);
}

describe.each(backends)('the SDK consumer ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;

  beforeAll(async () => {
    server = await startServer(backend);
    tributary = new Tributary({ url: server.url, retry: { initialDelayMs: 5, maxDelayMs: 50 } });
  });
  afterAll(() => server.close());

  /** A topic with `count` records, values 0..count-1, spread over its partitions. */
  async function topicWith(name: string, partitions: number, count: number): Promise<void> {
    await tributary.topics.create({ name, partitions });
    const producer = tributary.producer();
    await producer.send({
      topic: name,
      records: Array.from({ length: count }, (_, i) => ({ value: i, partition: i % partitions })),
    });
    await producer.close();
  }

  it('consumes every record with for await, announces its partitions, commits and leaves on close', async () => {
    await topicWith('work', 3, 30);
    const assigned: string[][] = [];
    const revoked: string[][] = [];
    const consumer = tributary.consumer({
      group: 'workers',
      topics: ['work'],
      autoOffsetReset: 'earliest',
      maxRecords: 7,
      maxWaitMs: 100,
      onAssign: (partitions) => void assigned.push(flat(partitions)),
      onRevoke: (partitions) => void revoked.push(flat(partitions)),
    });
    const seen: number[] = [];
    for await (const batch of consumer) {
      expect(batch.records.length).toBeLessThanOrEqual(7);
      for (const record of batch.records) seen.push(Number(record.value));
      if (seen.length === 30) {
        await consumer.commit();
        break;
      }
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(assigned).toEqual([['work-0', 'work-1', 'work-2']]);
    expect(revoked).toEqual([['work-0', 'work-1', 'work-2']]);
    // Leaving the loop closed the consumer: it left the group, with everything committed.
    expect(consumer.memberId).toBeUndefined();
    const group = await tributary.groups.describe('workers');
    expect(group.state).toBe('Empty');
    expect(group.offsets.map((o) => [o.partition, o.committedOffset, o.lag])).toEqual([
      [0, 10, 0],
      [1, 10, 0],
      [2, 10, 0],
    ]);
    expect(await fullyCommitted(tributary, 'workers')).toBe(true);
    expect(await failure(consumer.commit())).toMatchObject({ code: 'CLOSED' });
    // A closed consumer does not loop again: an empty run would look like one that found nothing.
    const again = consumer.run({ eachBatch: () => undefined });
    expect(await failure(again)).toMatchObject({ code: 'CLOSED' });
  });

  it('runs eachBatch with autoCommit; a throwing eachBatch stops it without committing that batch', async () => {
    await topicWith('jobs', 1, 12);
    const first = tributary.consumer({
      group: 'runners',
      topics: ['jobs'],
      autoOffsetReset: 'earliest',
      autoCommit: true,
      maxRecords: 5,
      maxWaitMs: 100,
    });
    let batches = 0;
    const boom = new Error('processing failed');
    await expect(
      first.run({
        eachBatch: () => {
          if (++batches === 2) throw boom;
        },
      }),
    ).rejects.toBe(boom);
    // The first batch (offsets 0-4) was committed; the failed one (5-9) was not.
    const [committed] = await tributary.groups.offsets('runners');
    expect(committed?.committedOffset).toBe(5);

    const second = tributary.consumer({
      group: 'runners',
      topics: ['jobs'],
      autoCommit: true,
      maxWaitMs: 100,
    });
    const seen: number[] = [];
    const done = second.run({
      eachBatch: async ({ records }) => {
        for (const record of records) seen.push(Number(record.value));
        if (seen.at(-1) === 11) {
          // close() does not commit the batch in hand: commit it first.
          await second.commit();
          void second.close();
        }
      },
    });
    await done;
    expect(seen).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(await fullyCommitted(tributary, 'runners')).toBe(true);
  });

  it('survives a rebalance mid-stream: every record processed, stale commits fenced, final offsets at the end', async () => {
    await tributary.topics.create({ name: 'stream', partitions: 4 });
    const total = 200;
    const producer = tributary.producer({ lingerMs: 5 });
    const producing = (async () => {
      for (let i = 0; i < total; i += 10) {
        await producer.send({
          topic: 'stream',
          records: Array.from({ length: 10 }, (_, j) => ({ key: `k${i + j}`, value: i + j })),
        });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await producer.close();
    })();

    const processed = new Map<number, number>();
    const process = (batch: ConsumerBatch) => {
      for (const r of batch.records) {
        const value = Number(r.value);
        processed.set(value, (processed.get(value) ?? 0) + 1);
      }
    };
    const errorsOfA: unknown[] = [];
    const revokedFromA: string[][] = [];
    let joinedB: () => void = () => undefined;
    const bJoined = new Promise<void>((resolve) => {
      joinedB = resolve;
    });
    // A heartbeats rarely, so it learns of the rebalance from its fenced commit.
    const options = {
      group: 'stream-workers',
      topics: ['stream'],
      autoOffsetReset: 'earliest',
      autoCommit: true,
      sessionTimeoutMs: 30_000,
      maxRecords: 15,
      maxWaitMs: 100,
    } as const;
    const b = tributary.consumer({ ...options, onAssign: () => joinedB() });
    let runningB: Promise<void> | undefined;
    const a = tributary.consumer({
      ...options,
      onError: (error) => void errorsOfA.push(error),
      onRevoke: (partitions) => void revokedFromA.push(flat(partitions)),
    });
    let batchesOfA = 0;
    const runningA = a.run({
      eachBatch: async (batch) => {
        process(batch);
        if (++batchesOfA === 2) {
          // B joins while A holds a batch polled in the old generation.
          runningB = b.run({ eachBatch: process });
          await bJoined;
        }
      },
    });

    await producing;
    await waitFor('every record processed', () => processed.size === total);
    await waitFor('commits up to the end', () => fullyCommitted(tributary, 'stream-workers'));
    await Promise.all([a.close(), b.close()]);
    await Promise.all([runningA, runningB]);

    expect([...processed.keys()].sort((x, y) => x - y)).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    const fenced = errorsOfA.filter((e) => TributaryError.is(e, 'ILLEGAL_GENERATION'));
    expect(fenced.length).toBeGreaterThanOrEqual(1);
    expect(revokedFromA[0]).toHaveLength(2); // B took half of the four partitions
    const group = await tributary.groups.describe('stream-workers');
    expect(group.state).toBe('Empty');
    expect(group.offsets.every((o) => o.committedOffset === o.highWatermark)).toBe(true);
    expect(group.offsets.reduce((n, o) => n + o.highWatermark, 0)).toBe(total);
  });

  it('rejects a fenced commit() once it has learnt its new assignment; a retry commits what it kept', async () => {
    await topicWith('fence', 2, 4);
    const a = tributary.consumer({
      group: 'fencing',
      topics: ['fence'],
      autoOffsetReset: 'earliest',
      sessionTimeoutMs: 30_000,
      maxWaitMs: 100,
    });
    const b = tributary.consumer({ group: 'fencing', topics: ['fence'], maxWaitMs: 100 });
    const iterator = a[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(a.generation).toBe(1);
    // B joins (its first poll joins): the group moves to generation 2, one partition each.
    const bIterator = b[Symbol.asyncIterator]();
    const bPoll = bIterator.next();
    await waitFor('B to join', () => b.memberId !== undefined);

    const fenced = await failure(a.commit());
    expect(fenced).toMatchObject({ code: 'ILLEGAL_GENERATION', status: 409 });
    expect(a.generation).toBe(2);
    expect(flat(a.assignment)).toHaveLength(1);
    await a.commit();
    const offsets = await tributary.groups.offsets('fencing');
    const kept = a.assignment[0]?.partitions[0];
    expect(offsets.find((o) => o.partition === kept)?.committedOffset).toBe(2);
    expect(offsets.find((o) => o.partition !== kept)?.committedOffset).toBeNull();

    let asyncError: unknown = 'not called';
    await new Promise<void>((resolve) =>
      a.commitAsync((error) => {
        asyncError = error;
        resolve();
      }),
    );
    expect(asyncError).toBeUndefined();
    await Promise.all([iterator.return?.(), a.close(), b.close()]);
    await bPoll.catch(() => undefined);
  });

  it('joins again when removed from the group, and carries on', async () => {
    await topicWith('removal', 1, 6);
    const errors: unknown[] = [];
    const consumer = tributary.consumer({
      group: 'removed',
      topics: ['removal'],
      autoOffsetReset: 'earliest',
      autoCommit: true,
      maxRecords: 3,
      maxWaitMs: 100,
      onError: (error) => void errors.push(error),
    });
    const seen: number[] = [];
    let removed: string | undefined;
    await consumer.run({
      eachBatch: async ({ records }) => {
        seen.push(...records.map((r) => Number(r.value)));
        if (removed === undefined) {
          // As if its session lapsed: an admin removes it.
          removed = consumer.memberId;
          const left = await call(server.url, 'DELETE', `/v1/groups/removed/members/${removed}`);
          expect(left.status).toBe(204);
        }
        if (seen.includes(5)) {
          await consumer.commit();
          void consumer.close();
        }
      },
    });
    expect(errors.some((e) => TributaryError.is(e, 'UNKNOWN_MEMBER_ID'))).toBe(true);
    // The first batch could not be committed (the member was gone), so it came again.
    expect(seen).toEqual([0, 1, 2, 0, 1, 2, 3, 4, 5]);
    expect(await fullyCommitted(tributary, 'removed')).toBe(true);
  });

  it('skips nothing when a poll’s answer is lost: it polls again with the same cursor', async () => {
    await topicWith('lost-polls', 2, 20);
    let lose = 1;
    let lostBy: string | undefined;
    const losing: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      const poll = url.match(/\/members\/([^/]+)\/records/);
      if (lose > 0 && init.method === 'GET' && poll) {
        const body = await response.text();
        if (body.includes('"offset"')) {
          lose--;
          lostBy = decodeURIComponent(poll[1] ?? '');
          throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
        }
        return new Response(body, { status: response.status, headers: response.headers });
      }
      return response;
    };
    const lossy = new Tributary({ url: server.url, fetch: losing, retry: { initialDelayMs: 5 } });
    const errors: unknown[] = [];
    const consumer = lossy.consumer({
      group: 'lossy-group',
      topics: ['lost-polls'],
      autoOffsetReset: 'earliest',
      autoCommit: true,
      maxRecords: 4,
      maxWaitMs: 100,
      onError: (error) => void errors.push(error),
    });
    const seen = new Set<number>();
    const members = new Set<string>();
    const generations = new Set<number>();
    await consumer.run({
      eachBatch: async ({ records, memberId, generation }) => {
        members.add(memberId);
        generations.add(generation);
        for (const r of records) seen.add(Number(r.value));
        if (seen.size === 20) {
          await consumer.commit();
          void consumer.close();
        }
      },
    });
    expect(errors.map((e) => (e instanceof TributaryError ? e.code : e))).toEqual([
      'NETWORK_ERROR',
    ]);
    expect(seen.size).toBe(20);
    // The same member polled again: no re-join, no rebalance.
    expect([...members]).toEqual([lostBy]);
    expect([...generations]).toEqual([1]);
    expect(await fullyCommitted(tributary, 'lossy-group')).toBe(true);
  });

  it('drops offsets read before a partition was lost and regained, even between two heartbeats', async () => {
    await topicWith('regained', 2, 20);
    const events: string[] = [];
    const consumer = tributary.consumer({
      group: 'regainers',
      topics: ['regained'],
      autoOffsetReset: 'earliest',
      maxWaitMs: 0,
      sessionTimeoutMs: 120_000,
      heartbeatIntervalMs: 60_000,
      onAssign: (partitions) => void events.push(`assign ${flat(partitions)}`),
      onRevoke: (partitions) => void events.push(`revoke ${flat(partitions)}`),
    });
    const batches = consumer[Symbol.asyncIterator]();
    const first = await batches.next();
    expect(first.value?.records).toHaveLength(20);

    // Another member takes partition 1, reads it to its end, commits and leaves, all
    // between two heartbeats of the consumer, which still holds offset 10 for it.
    await tributary.producer().send({
      topic: 'regained',
      records: [20, 21, 22, 23, 24].map((value) => ({ value, partition: 1 })),
    });
    const other = (
      await call(server.url, 'POST', '/v1/groups/regainers/members', {
        topics: ['regained'],
        autoOffsetReset: 'earliest',
      })
    ).body;
    const read = (
      await call(server.url, 'GET', `/v1/groups/regainers/members/${other.memberId}/records`)
    ).body;
    expect(read.records).toHaveLength(15);
    const committed = await call(server.url, 'POST', '/v1/groups/regainers/offsets', {
      memberId: other.memberId,
      generation: other.generation,
      offsets: [{ topic: 'regained', partition: 1, offset: 15 }],
    });
    expect(committed.status).toBe(200);
    await call(server.url, 'DELETE', `/v1/groups/regainers/members/${other.memberId}`);

    // The commit of what the consumer read is refused (the group moved on); having learnt
    // that it lost and regained partition 1, the consumer commits only what it still may.
    await expect(consumer.commit()).rejects.toSatisfy((e) =>
      TributaryError.is(e, 'ILLEGAL_GENERATION'),
    );
    expect(events).toEqual([
      'assign regained-0,regained-1',
      'revoke regained-1',
      'assign regained-1',
    ]);
    await consumer.commit();
    const offsets = await tributary.groups.offsets('regainers');
    expect(offsets.map((o) => o.committedOffset)).toEqual([10, 15]);
    await batches.return?.();
  });
});
