import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  StorageUnavailableError,
  type WriteOp,
} from '../../functions/core/ports/metadata-store.ts';
import { createTopic, fetchAll, snapshot } from '../support/api.ts';
import { backends, type OpenBackend } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { withTransact } from '../support/stores.ts';

const day = 24 * 60 * 60 * 1000;

/**
 * A store whose next transactions commit and then report a timeout, as a response lost on
 * the network would: the write landed, the caller never heard.
 */
function losingAnswers(stores: OpenBackend) {
  let toLose = 0;
  const metadata = withTransact(stores.metadata, async (ops: readonly WriteOp[]) => {
    await stores.metadata.transact(ops);
    if (toLose > 0) {
      toLose--;
      throw new StorageUnavailableError('timed out after the commit landed', { throttled: false });
    }
  });
  return { stores: { ...stores, metadata }, loseNextAnswers: (n: number) => (toLose = n) };
}

describe.each(backends)(
  'idempotent producers, conditional appends, leader fencing ($name)',
  (backend) => {
    let server: RunningServer;
    let now = Date.now();
    let lose: (n: number) => void;
    beforeAll(async () => {
      const wrapped = losingAnswers(await backend.open());
      lose = wrapped.loseNextAnswers;
      server = await startServer(backend, { stores: wrapped.stores, now: () => now });
    });
    afterAll(() => server.close());

    const initProducer = async (transactionalId?: string) => {
      const response = await call(
        server.url,
        'POST',
        '/v1/producers',
        transactionalId ? { transactionalId } : undefined,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body as { producerId: number; producerEpoch: number };
    };
    const send = (topic: string, body: object, query = '') =>
      call(server.url, 'POST', `/v1/topics/${topic}/records${query}`, body);

    it('hands out distinct producer ids at epoch 0', async () => {
      const a = await initProducer();
      const b = await initProducer();
      expect(a.producerEpoch).toBe(0);
      expect(b.producerEpoch).toBe(0);
      expect(a.producerId).not.toBe(b.producerId);
    });

    it('answers every replay of a batch, 1 to 5 times, with its original offsets and writes it once', async () => {
      await createTopic(server.url, 'replayed', 1);
      const { producerId, producerEpoch } = await initProducer();
      let sequence = 0;
      const expected: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const records = Array.from({ length: 1 + (batch % 3) }, (_, i) => ({
          value: `b${batch}r${i}`,
        }));
        const body = { records, producer: { id: producerId, epoch: producerEpoch, sequence } };
        const first = await send('replayed', body);
        expect(first.status).toBe(200);
        for (let replay = 0; replay < 1 + (batch % 5); replay++) {
          const again = await send('replayed', body);
          expect(again.status).toBe(200);
          expect(again.body.offsets).toEqual(first.body.offsets);
        }
        expected.push(...records.map((r) => r.value));
        sequence += records.length;
      }
      const log = await fetchAll(server.url, 'replayed', 0);
      expect(log.map((r) => r.value)).toEqual(expected);
    });

    it('answers the retry of a commit whose answer was lost with the original offsets', async () => {
      await createTopic(server.url, 'lost', 3);
      const { producerId, producerEpoch } = await initProducer();
      const body = {
        records: [
          { value: 'a', partition: 0 },
          { value: 'b', partition: 2 },
        ],
        producer: { id: producerId, epoch: producerEpoch, sequence: { '0': 0, '2': 0 } },
      };
      lose(1);
      const failed = await send('lost', body);
      expect(failed.status).toBe(503);
      expect(failed.body.error.code).toBe('STORAGE_UNAVAILABLE');
      const retried = await send('lost', body);
      expect(retried.status).toBe(200);
      expect(
        retried.body.offsets.map((o: { partition: number; offset: number }) => [
          o.partition,
          o.offset,
        ]),
      ).toEqual([
        [0, 0],
        [2, 0],
      ]);
      expect((await fetchAll(server.url, 'lost', 0)).map((r) => r.value)).toEqual(['a']);
      expect((await fetchAll(server.url, 'lost', 2)).map((r) => r.value)).toEqual(['b']);
    });

    it('refuses a request that replays some of its partitions but not others, naming them', async () => {
      await createTopic(server.url, 'half-replayed', 3);
      const { producerId, producerEpoch } = await initProducer();
      const first = await send('half-replayed', {
        records: [{ value: 'a', partition: 0 }],
        producer: { id: producerId, epoch: producerEpoch, sequence: 0 },
      });
      expect(first.status).toBe(200);
      const before = await snapshot(server);
      // Partition 0's batch was committed; partition 2's at the same sequence never was.
      const mixed = await send('half-replayed', {
        records: [
          { value: 'a', partition: 0 },
          { value: 'b', partition: 2 },
        ],
        producer: { id: producerId, epoch: producerEpoch, sequence: { '0': 0, '2': 0 } },
      });
      expect(mixed.status).toBe(409);
      expect(mixed.body.error).toMatchObject({
        code: 'OUT_OF_ORDER_SEQUENCE',
        topic: 'half-replayed',
        replayedPartitions: [0],
      });
      expect(await snapshot(server)).toEqual(before);
    });

    it('refuses every sequence gap, and a refused batch writes nothing', async () => {
      await createTopic(server.url, 'gaps', 1);
      const { producerId, producerEpoch } = await initProducer();
      const producer = (sequence: number) => ({ id: producerId, epoch: producerEpoch, sequence });
      const firstGap = await send('gaps', { records: [{ value: 1 }], producer: producer(1) });
      expect(firstGap.body.error).toMatchObject({
        code: 'OUT_OF_ORDER_SEQUENCE',
        expectedSequence: 0,
      });
      expect(
        (await send('gaps', { records: [{ value: 1 }, { value: 2 }], producer: producer(0) }))
          .status,
      ).toBe(200);
      const before = await snapshot(server);
      for (const sequence of [3, 4, 10, 1_000_000, 1]) {
        const response = await send('gaps', {
          records: [{ value: 'x' }],
          producer: producer(sequence),
        });
        expect(response.status).toBe(409);
        expect(response.body.error).toMatchObject({
          code: 'OUT_OF_ORDER_SEQUENCE',
          expectedSequence: 2,
          sequence,
        });
      }
      expect(await snapshot(server)).toEqual(before);
      expect(
        (await send('gaps', { records: [{ value: 3 }], producer: producer(2) })).body.offsets[0]
          .offset,
      ).toBe(2);
    });

    it('fences the older instance of a transactionalId: nothing it sends afterwards is readable', async () => {
      await createTopic(server.url, 'fenced', 1);
      const first = await initProducer('billing-1');
      const asFirst = (sequence: number, value: string) =>
        send('fenced', {
          records: [{ value }],
          producer: { id: first.producerId, epoch: first.producerEpoch, sequence },
        });
      expect((await asFirst(0, 'from first')).status).toBe(200);

      const second = await initProducer('billing-1');
      expect(second.producerId).toBe(first.producerId);
      expect(second.producerEpoch).toBe(first.producerEpoch + 1);
      for (const [sequence, value] of [
        [1, 'zombie'],
        [0, 'zombie replaying'],
        [2, 'zombie again'],
      ] as const) {
        const response = await asFirst(sequence, value);
        expect(response.status).toBe(409);
        expect(response.body.error).toMatchObject({
          code: 'PRODUCER_FENCED',
          currentEpoch: second.producerEpoch,
        });
      }
      const fresh = await send('fenced', {
        records: [{ value: 'from second' }],
        producer: { id: second.producerId, epoch: second.producerEpoch, sequence: 0 },
      });
      expect(fresh.status).toBe(200);
      expect((await fetchAll(server.url, 'fenced', 0)).map((r) => r.value)).toEqual([
        'from first',
        'from second',
      ]);
    });

    it('keeps producer state across a restart and forgets it after 7 idle days', async () => {
      await createTopic(server.url, 'restart', 1);
      const { producerId, producerEpoch } = await initProducer();
      const body = {
        records: [{ value: 'once' }],
        producer: { id: producerId, epoch: producerEpoch, sequence: 0 },
      };
      const original = await send('restart', body);
      const restarted = await startServer(backend, { stores: server.stores, now: () => now });
      try {
        const replay = await call(restarted.url, 'POST', '/v1/topics/restart/records', body);
        expect(replay.body.offsets).toEqual(original.body.offsets);
        now += 7 * day + 1;
        const expired = await call(restarted.url, 'POST', '/v1/topics/restart/records', {
          records: [{ value: 'late' }],
          producer: { id: producerId, epoch: producerEpoch, sequence: 1 },
        });
        expect(expired.status).toBe(404);
        expect(expired.body.error.code).toBe('UNKNOWN_PRODUCER_ID');
      } finally {
        await restarted.stop();
      }
    });

    it('is idempotent across partitions in one request: a replay returns every original offset', async () => {
      await createTopic(server.url, 'multi-idem', 4);
      const { producerId, producerEpoch } = await initProducer();
      const body = {
        records: [0, 1, 2, 3, 0, 2].map((partition, i) => ({ value: i, partition })),
        producer: {
          id: producerId,
          epoch: producerEpoch,
          sequence: { '0': 0, '1': 0, '2': 0, '3': 0 },
        },
      };
      const first = await send('multi-idem', body);
      const replay = await send('multi-idem', body);
      expect(replay.body.offsets).toEqual(first.body.offsets);
      const next = await send('multi-idem', {
        records: [{ value: 'n', partition: 0 }],
        producer: { id: producerId, epoch: producerEpoch, sequence: { '0': 2 } },
      });
      expect(next.body.offsets[0]).toMatchObject({ partition: 0, offset: 2 });
      const highWatermarks = (
        await call(server.url, 'GET', '/v1/topics/multi-idem')
      ).body.partitions.map((p: { highWatermark: number }) => p.highWatermark);
      expect(highWatermarks).toEqual([3, 1, 2, 1]);
    });

    it('takes idempotence parameters from the query for NDJSON', async () => {
      await createTopic(server.url, 'ndjson-idem', 1);
      const { producerId, producerEpoch } = await initProducer();
      const query = `?producerId=${producerId}&producerEpoch=${producerEpoch}&sequence=0`;
      const post = () =>
        call(
          server.url,
          'POST',
          `/v1/topics/ndjson-idem/records${query}`,
          '{"value":1}\n{"value":2}\n',
          {
            'content-type': 'application/x-ndjson',
          },
        );
      const first = await post();
      expect((await post()).body.offsets).toEqual(first.body.offsets);
      expect(await fetchAll(server.url, 'ndjson-idem', 0)).toHaveLength(2);
    });

    it('lets exactly one of many concurrent writers win each expected offset', async () => {
      await createTopic(server.url, 'cas', 1);
      const wins = new Map<number, number>();
      let mismatches = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, writer) => {
          let expectedOffset = 0;
          while (expectedOffset < 40) {
            const response = await send(
              'cas',
              { records: [{ value: `w${writer}@${expectedOffset}` }] },
              `?expectedOffset=${expectedOffset}`,
            );
            if (response.status === 200) {
              expect(response.body.offsets[0].offset).toBe(expectedOffset);
              wins.set(expectedOffset, (wins.get(expectedOffset) ?? 0) + 1);
              expectedOffset++;
            } else {
              expect(response.body.error.code).toBe('OFFSET_MISMATCH');
              expect(response.body.error.nextOffset).toBeGreaterThan(expectedOffset);
              mismatches++;
              expectedOffset = response.body.error.nextOffset;
            }
          }
        }),
      );
      expect([...wins.keys()].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, i) => i),
      );
      expect([...wins.values()].every((n) => n === 1)).toBe(true);
      expect(mismatches).toBeGreaterThan(0);
      const log = await fetchAll(server.url, 'cas', 0);
      expect(log.map((r) => r.value)).toEqual(
        log.map((r) => expect.stringMatching(new RegExp(`@${r.offset}$`))),
      );
    });

    it('fences writers with an older leader epoch once a writer takes the partition', async () => {
      await createTopic(server.url, 'led', 2);
      await send('led', { records: [{ value: 'before', partition: 0 }] });
      const taken = await call(server.url, 'POST', '/v1/topics/led/partitions/0/leader');
      expect(taken.body).toEqual({ topic: 'led', partition: 0, leaderEpoch: 1 });

      const without = await send('led', { records: [{ value: 'no epoch', partition: 0 }] });
      expect(without.body.error).toMatchObject({ code: 'FENCED_LEADER_EPOCH', leaderEpoch: 1 });
      expect(
        (await send('led', { records: [{ value: 'leader 1', partition: 0 }], leaderEpoch: 1 }))
          .status,
      ).toBe(200);
      // Other partitions are not affected.
      expect((await send('led', { records: [{ value: 'free', partition: 1 }] })).status).toBe(200);

      const retaken = await call(server.url, 'POST', '/v1/topics/led/partitions/0/leader');
      expect(retaken.body.leaderEpoch).toBe(2);
      const zombie = await send('led', {
        records: [{ value: 'old leader', partition: 0 }],
        leaderEpoch: 1,
      });
      expect(zombie.body.error).toMatchObject({
        code: 'FENCED_LEADER_EPOCH',
        leaderEpoch: 2,
        requestedLeaderEpoch: 1,
      });
      const future = await send(
        'led',
        { records: [{ value: 'future', partition: 0 }] },
        '?leaderEpoch=3',
      );
      expect(future.body.error.code).toBe('UNKNOWN_LEADER_EPOCH');
      expect(
        (await send('led', { records: [{ value: 'leader 2', partition: 0 }] }, '?leaderEpoch=2'))
          .status,
      ).toBe(200);

      const description = (await call(server.url, 'GET', '/v1/topics/led')).body;
      expect(description.partitions.map((p: { leaderEpoch: number }) => p.leaderEpoch)).toEqual([
        2, 0,
      ]);
      expect((await fetchAll(server.url, 'led', 0)).map((r) => r.value)).toEqual([
        'before',
        'leader 1',
        'leader 2',
      ]);
    });

    it.each([
      [
        'a single sequence for several partitions',
        {
          records: [
            { value: 1, partition: 0 },
            { value: 2, partition: 1 },
          ],
          producer: { id: 1, epoch: 0, sequence: 0 },
        },
        '',
        'INVALID_REQUEST',
      ],
      [
        'sequences missing a partition',
        {
          records: [
            { value: 1, partition: 0 },
            { value: 2, partition: 1 },
          ],
          producer: { id: 1, epoch: 0, sequence: { '0': 0 } },
        },
        '',
        'INVALID_REQUEST',
      ],
      [
        'sequences naming an untouched partition',
        {
          records: [{ value: 1, partition: 0 }],
          producer: { id: 1, epoch: 0, sequence: { '0': 0, '1': 0 } },
        },
        '',
        'INVALID_REQUEST',
      ],
      [
        'two sequences for one partition, its number written two ways',
        {
          records: [{ value: 1, partition: 0 }],
          producer: { id: 1, epoch: 0, sequence: { '0': 0, '00': 5 } },
        },
        '',
        'INVALID_REQUEST',
      ],
      [
        'a negative sequence',
        { records: [{ value: 1 }], producer: { id: 1, epoch: 0, sequence: -1 } },
        '',
        'INVALID_REQUEST',
      ],
      [
        'half the producer in the query',
        { records: [{ value: 1 }] },
        '?producerId=1&sequence=0',
        'INVALID_REQUEST',
      ],
      [
        'an unknown producer',
        { records: [{ value: 1 }], producer: { id: 999_999, epoch: 0, sequence: 0 } },
        '',
        'UNKNOWN_PRODUCER_ID',
      ],
      [
        'expectedOffset over several partitions',
        {
          records: [
            { value: 1, partition: 0 },
            { value: 2, partition: 1 },
          ],
        },
        '?expectedOffset=0',
        'INVALID_REQUEST',
      ],
      [
        'a leader epoch in body and query',
        { records: [{ value: 1, partition: 0 }], leaderEpoch: 0 },
        '?leaderEpoch=0',
        'INVALID_REQUEST',
      ],
      [
        'a wrong expected offset',
        { records: [{ value: 1, partition: 0 }] },
        '?expectedOffset=7',
        'OFFSET_MISMATCH',
      ],
    ])('refuses %s, changing nothing', async (_, body, query, code) => {
      await call(server.url, 'POST', '/v1/topics', { name: 'strict', partitions: 2 });
      const before = await snapshot(server);
      const response = await send('strict', body, query);
      expect(response.body.error.code).toBe(code);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(await snapshot(server)).toEqual(before);
    });

    it('refuses a malformed transactionalId', async () => {
      const response = await call(server.url, 'POST', '/v1/producers', {
        transactionalId: 'has space',
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_REQUEST');
    });
  },
);
