import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkSized, createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { join, type MemberView } from '../support/groups.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('transactions on $name', (backend) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  let n = 0;
  /** A fresh input topic with records, an output topic, a member owning the input. */
  async function setup(inputRecords = 10, outputPartitions = 2) {
    const id = `${++n}`;
    const input = `in-${id}`;
    const output = `out-${id}`;
    const group = `g-${id}`;
    await createTopic(server.url, input, 1);
    await createTopic(server.url, output, outputPartitions);
    if (inputRecords > 0) {
      await produce(
        server.url,
        input,
        Array.from({ length: inputRecords }, (_, i) => ({ key: `k${i}`, value: i })),
      );
    }
    const producer = await initProducer(`tx-${id}`);
    const member = await join(server.url, group, { topics: [input], autoOffsetReset: 'earliest' });
    return { input, output, group, producer, member };
  }

  async function initProducer(transactionalId: string) {
    const answer = await call(server.url, 'POST', '/v1/producers', { transactionalId });
    expect(answer.status).toBe(200);
    return answer.body as { producerId: number; producerEpoch: number };
  }

  const transact = (body: unknown, query = '') =>
    call(server.url, 'POST', `/v1/transactions${query}`, body);

  const offsetsOf = async (group: string) =>
    (await call(server.url, 'GET', `/v1/groups/${group}/offsets`)).body.offsets as {
      topic: string;
      partition: number;
      committedOffset: number | null;
    }[];

  const highWatermarks = async (topic: string, partitions: number) =>
    Promise.all(
      Array.from(
        { length: partitions },
        async (_, p) =>
          (await call(server.url, 'GET', `/v1/topics/${topic}/partitions/${p}/offsets?spec=latest`))
            .body.offset,
      ),
    );

  const commitOf = (member: MemberView, group: string, topic: string, offset: number) => ({
    group,
    memberId: member.memberId,
    generation: member.generation,
    offsets: [{ topic, partition: 0, offset }],
  });

  it('makes the records visible and moves the offsets together, and answers where each record landed', async () => {
    const { input, output, group, producer, member } = await setup();
    const answer = await transact({
      producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 0 },
      records: [
        { topic: output, key: 'k1', value: { doubled: 2 } },
        { topic: output, partition: 1, value: 'second', headers: [{ name: 'h', value: 'v' }] },
        { topic: output, partition: 1, value: 'third', timestamp: 1234 },
      ],
      offsets: commitOf(member, group, input, 3),
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.committed).toBe(1);
    const [first, second, third] = answer.body.offsets;
    // k1's partition is its murmur2 hash's; the others follow it on partition 1.
    const ahead = first.partition === 1 ? 1 : 0;
    expect(first).toMatchObject({ topic: output, offset: 0 });
    expect(second).toMatchObject({ topic: output, partition: 1, offset: ahead });
    expect(third).toMatchObject({
      topic: output,
      partition: 1,
      offset: ahead + 1,
      timestamp: 1234,
    });
    const p1 = await fetchAll(server.url, output, 1);
    expect(p1.map((r) => r.value)).toEqual(
      ahead ? [{ doubled: 2 }, 'second', 'third'] : ['second', 'third'],
    );
    expect(p1.find((r) => r.value === 'second')?.headers).toEqual([{ name: 'h', value: 'v' }]);
    expect(await offsetsOf(group)).toMatchObject([
      { topic: input, partition: 0, committedOffset: 3 },
    ]);
  });

  it('answers an exact retry with the original result and writes nothing', async () => {
    const { input, output, group, producer, member } = await setup();
    const body = {
      producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 0 },
      records: [
        { topic: output, value: 'a' },
        { topic: output, value: chunkSized('b') },
        { topic: output, key: 'x', value: 'c' },
      ],
      offsets: commitOf(member, group, input, 5),
    };
    const first = await transact(body);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const before = await highWatermarks(output, 2);
    // Even after the group moved on: the retry is of a transaction that landed.
    await join(server.url, group, { topics: [input] });
    const again = await transact(body);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await highWatermarks(output, 2)).toEqual(before);

    // The same sequence with other contents is not a retry.
    const different = await transact({ ...body, records: [{ topic: output, value: 'z' }] });
    expect(different.status).toBe(409);
    expect(different.body.error.code).toBe('OUT_OF_ORDER_SEQUENCE');
    // Nor is a sequence that skips one.
    const skipping = await transact({
      ...body,
      producer: { ...body.producer, sequence: 2 },
      offsets: undefined,
    });
    expect(skipping.status).toBe(409);
    expect(skipping.body.error).toMatchObject({
      code: 'OUT_OF_ORDER_SEQUENCE',
      expectedSequence: 1,
    });
    expect(await highWatermarks(output, 2)).toEqual(before);
  });

  it('refuses a zombie: an older producer epoch, or a member of an older generation', async () => {
    const { input, output, group, producer, member } = await setup();
    const ok = await transact({
      producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 0 },
      records: [{ topic: output, partition: 0, value: 'first' }],
      offsets: commitOf(member, group, input, 1),
    });
    expect(ok.status).toBe(200);
    // A new instance with the same transactional id fences the old one.
    const successor = await initProducer(`tx-${n}`);
    expect(successor.producerId).toBe(producer.producerId);
    const zombie = await transact({
      producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 1 },
      records: [{ topic: output, partition: 0, value: 'zombie' }],
      offsets: commitOf(member, group, input, 2),
    });
    expect(zombie.status).toBe(409);
    expect(zombie.body.error.code).toBe('PRODUCER_FENCED');
    // The new instance numbers its transactions from 0 again.
    const fresh = { id: successor.producerId, epoch: successor.producerEpoch, sequence: 0 };

    // A rebalance: the old generation can no longer commit, so its records never show.
    const other = await join(server.url, group, { topics: [input] });
    expect(other.generation).toBeGreaterThan(member.generation);
    const stale = await transact({
      producer: fresh,
      records: [{ topic: output, partition: 0, value: 'stale' }],
      offsets: commitOf(member, group, input, 2),
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('ILLEGAL_GENERATION');

    expect((await fetchAll(server.url, output, 0)).map((r) => r.value)).toEqual(['first']);
    expect(await offsetsOf(group)).toMatchObject([{ committedOffset: 1 }]);
    // Refused transactions used no sequence: the next one is still 0.
    const next = await transact({
      producer: fresh,
      records: [{ topic: output, partition: 0, value: 'next' }],
    });
    expect(next.status, JSON.stringify(next.body)).toBe(200);
  });

  it('leaves nothing visible and no offset moved when refused for any reason', async () => {
    const { input, output, group, producer, member } = await setup();
    const id = { id: producer.producerId, epoch: producer.producerEpoch };
    const good = await transact({
      producer: { ...id, sequence: 0 },
      records: [{ topic: output, partition: 0, value: 'kept' }],
      offsets: commitOf(member, group, input, 6),
    });
    expect(good.status).toBe(200);
    const before = await highWatermarks(output, 2);
    const records = [
      { topic: output, partition: 0, value: 'no' },
      { topic: output, partition: 1, value: chunkSized('no') },
    ];
    const refusals: [unknown, number, string][] = [
      // The committed offset would go back.
      [{ records, offsets: commitOf(member, group, input, 2) }, 409, 'STALE_COMMIT'],
      // A partition the member does not own.
      [
        {
          records,
          offsets: {
            ...commitOf(member, group, input, 7),
            offsets: [{ topic: output, partition: 0, offset: 1 }],
          },
        },
        409,
        'PARTITION_NOT_ASSIGNED',
      ],
      // A topic that does not exist, among ones that do.
      [{ records: [...records, { topic: 'nowhere', value: 1 }] }, 404, 'TOPIC_NOT_FOUND'],
      // A partition that does not exist.
      [{ records: [{ topic: output, partition: 9, value: 1 }] }, 404, 'PARTITION_NOT_FOUND'],
      // A malformed record.
      [{ records: [...records, { topic: output }] }, 400, 'INVALID_RECORD'],
      [{ records: [...records, { value: 1 }] }, 400, 'INVALID_RECORD'],
      // Nothing to do.
      [{ records: [] }, 400, 'EMPTY_BATCH'],
    ];
    for (const [body, status, code] of refusals) {
      const refused = await transact({ producer: { ...id, sequence: 1 }, ...(body as object) });
      expect(refused.status, JSON.stringify(refused.body)).toBe(status);
      expect(refused.body.error.code).toBe(code);
    }
    expect(await highWatermarks(output, 2)).toEqual(before);
    expect(await offsetsOf(group)).toMatchObject([{ committedOffset: 6 }]);
    // None of them used the sequence.
    const next = await transact({ producer: { ...id, sequence: 1 }, records });
    expect(next.status, JSON.stringify(next.body)).toBe(200);
  });

  it('refuses a transaction that would not fit one storage transaction, saying how much fits', async () => {
    const { output, producer } = await setup(0, 50);
    const body = {
      producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 0 },
      records: Array.from({ length: 50 }, (_, partition) => ({
        topic: output,
        partition,
        value: 1,
      })),
    };
    const refused = await transact(body);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'INVALID_REQUEST',
      items: 1 + 1 + 2 * 50,
      limit: 100,
      partitions: 50,
      topics: 1,
    });
    expect(refused.body.error.message).toMatch(/at most 100/);
    expect(await highWatermarks(output, 50)).toEqual(Array(50).fill(0));
    // 49 partitions fit: 1 topic + 98 + the producer.
    const fits = await transact({ ...body, records: body.records.slice(0, 49) });
    expect(fits.status, JSON.stringify(fits.body)).toBe(200);
  });

  it('refuses a producer without a transactionalId, and an unknown one', async () => {
    const { output } = await setup(0);
    const plain = (await call(server.url, 'POST', '/v1/producers', {})).body;
    const refused = await transact({
      producer: { id: plain.producerId, epoch: plain.producerEpoch, sequence: 0 },
      records: [{ topic: output, value: 1 }],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/transactionalId/);
    const unknown = await transact({
      producer: { id: 999_999, epoch: 0, sequence: 0 },
      records: [{ topic: output, value: 1 }],
    });
    expect(unknown.body.error.code).toBe('UNKNOWN_PRODUCER_ID');
    expect(await highWatermarks(output, 2)).toEqual([0, 0]);
  });

  it('refuses a malformed topic or group name as such, before judging the sequence', async () => {
    const { output, input, group, producer, member } = await setup(1);
    // Sequence 5 is out of order too: the names are the request's first mistake.
    const at = { id: producer.producerId, epoch: producer.producerEpoch, sequence: 5 };
    const badTopic = await transact({ producer: at, records: [{ topic: 'bad/name', value: 1 }] });
    expect(badTopic.status).toBe(400);
    expect(badTopic.body.error).toMatchObject({ code: 'INVALID_TOPIC', topic: 'bad/name' });
    const badGroup = await transact({
      producer: at,
      records: [{ topic: output, value: 1 }],
      offsets: { ...commitOf(member, group, input, 1), group: 'bad group' },
    });
    expect(badGroup.status).toBe(400);
    expect(badGroup.body.error).toMatchObject({ code: 'INVALID_GROUP', group: 'bad group' });
    const badOffsetTopic = await transact({
      producer: at,
      offsets: commitOf(member, group, '..', 1),
    });
    expect(badOffsetTopic.status).toBe(400);
    expect(badOffsetTopic.body.error.code).toBe('INVALID_TOPIC');
    expect(await highWatermarks(output, 2)).toEqual([0, 0]);
    expect((await offsetsOf(group)).map((o) => o.committedOffset)).toEqual([null]);
  });

  it('reads keys and values as ?format= says, as produce does', async () => {
    const { output, producer } = await setup(0);
    const answer = await transact(
      {
        producer: { id: producer.producerId, epoch: producer.producerEpoch, sequence: 0 },
        records: [{ topic: output, partition: 0, key: 'a2V5', value: 'AAEC' }],
      },
      '?format=base64',
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const [record] = await fetchAll(server.url, output, 0, 0, 'base64');
    expect(record).toMatchObject({ key: 'a2V5', value: 'AAEC' });
  });
});
