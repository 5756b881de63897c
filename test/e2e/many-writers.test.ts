import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headKey, partitionPk } from '../../functions/core/keys.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { Random } from '../support/random.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';
import { failingWhen, marksHeadDeleted } from '../support/storage.ts';

/**
 * Several API processes over one store, as several Lambda instances are: each remembers
 * partition heads and topics between requests, and what one remembers goes stale the
 * moment another writes. Stale memory may cost a retry, never a wrong offset.
 */
describe.each(backends)('several API instances over one store ($name)', (backend) => {
  let a: RunningServer;
  let b: RunningServer;
  beforeAll(async () => {
    a = await startServer(backend);
    b = await startServer(backend, { stores: a.stores });
  });
  afterAll(async () => {
    await b.stop();
    await a.close();
  });

  it('keeps offsets dense when instances take turns on one partition', async () => {
    await createTopic(a.url, 'shared', 1);
    const offsets: number[] = [];
    for (let i = 0; i < 20; i++) {
      const server = i % 3 === 0 ? b : a;
      const acks = await produce(server.url, 'shared', [{ value: i }, { value: i }]);
      offsets.push(...acks.map((ack) => ack.offset));
    }
    expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect((await fetchAll(b.url, 'shared', 0)).map((r) => r.offset)).toEqual(offsets);
  });

  it('produces into a topic deleted and created again by another instance, never the old one', async () => {
    await createTopic(a.url, 'reborn', 2);
    await produce(a.url, 'reborn', [{ value: 'old', partition: 1 }]);
    expect((await call(b.url, 'DELETE', '/v1/topics/reborn')).status).toBe(204);
    await createTopic(b.url, 'reborn', 2);

    const [ack] = await produce(a.url, 'reborn', [{ value: 'new', partition: 1 }]);
    expect(ack?.offset).toBe(0);
    expect((await fetchAll(b.url, 'reborn', 1)).map((r) => r.value)).toEqual(['new']);
  });

  it('refuses to produce into a topic another instance deleted', async () => {
    await createTopic(a.url, 'gone', 1);
    await produce(a.url, 'gone', [{ value: 1 }]);
    expect((await call(b.url, 'DELETE', '/v1/topics/gone')).status).toBe(204);
    const response = await call(a.url, 'POST', '/v1/topics/gone/records', {
      records: [{ value: 2 }],
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('TOPIC_NOT_FOUND');
  });

  it('refuses to produce into a partition never written to, of a topic another instance deleted', async () => {
    await createTopic(a.url, 'vanished', 2);
    const { topicId } = (await call(a.url, 'GET', '/v1/topics/vanished')).body;
    await produce(a.url, 'vanished', [{ value: 1, partition: 0 }]);
    expect((await call(b.url, 'DELETE', '/v1/topics/vanished')).status).toBe(204);
    // a still remembers the topic; partition 1 has no head yet for it to remember.
    const response = await call(a.url, 'POST', '/v1/topics/vanished/records', {
      records: [{ value: 2, partition: 1 }],
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('TOPIC_NOT_FOUND');
    const left = await a.stores.metadata.query(partitionPk(topicId, 1));
    expect(left.map((i) => [i.sk, i.data.nextOffset, i.data.deleted])).toEqual([['head', 0, true]]);
  });

  it('finishes a delete that failed half-way before calling the topic gone', async () => {
    await createTopic(a.url, 'half-deleted', 2);
    const { topicId } = (await call(a.url, 'GET', '/v1/topics/half-deleted')).body;
    await produce(a.url, 'half-deleted', [{ value: 1, partition: 0 }]);
    // An instance that dies right after the delete's first write, before marking the heads.
    const dying = await startServer(backend, {
      stores: { ...a.stores, metadata: failingWhen(a.stores.metadata, marksHeadDeleted) },
    });
    try {
      expect((await call(dying.url, 'DELETE', '/v1/topics/half-deleted')).status).toBe(500);
    } finally {
      await dying.stop();
    }
    const heads = () => a.stores.metadata.getMany([0, 1].map((p) => headKey(topicId, p)));
    expect((await heads()).map((h) => h?.data.deleted)).toEqual([undefined, undefined]);

    // The delete sent again finds the topic gone and finishes the job before saying so.
    const again = await call(b.url, 'DELETE', '/v1/topics/half-deleted');
    expect(again.status).toBe(404);
    expect((await heads()).map((h) => h?.data.deleted)).toEqual([true, true]);
    const response = await call(a.url, 'POST', '/v1/topics/half-deleted/records', {
      records: [{ value: 2, partition: 0 }],
    });
    expect(response.body.error.code).toBe('TOPIC_NOT_FOUND');
  });

  it('acknowledges nothing into a deleted topic once its delete answered, under concurrent produce', async () => {
    const seed = Number(process.env.TRIBUTARY_TEST_SEED ?? 20_261_202);
    const random = new Random(seed);
    const partitions = 4;
    await createTopic(a.url, 'churned', partitions);
    type Ack = { value: string; partition: number; offset: number; sentAt: number };
    const acks: Ack[] = [];
    let deleteAnsweredAt = Number.POSITIVE_INFINITY;
    let stop = false;
    // Writers on a, which remembers the topic and its heads; b deletes and re-creates it.
    const writer = async (id: number) => {
      for (let n = 0; !stop; n++) {
        const value = `${id}-${n}`;
        const partition = random.int(partitions);
        const sentAt = performance.now();
        const response = await call(a.url, 'POST', '/v1/topics/churned/records', {
          records: [{ value, partition }],
        });
        if (response.status === 200) {
          acks.push({ value, partition, offset: response.body.offsets[0].offset, sentAt });
        } else {
          expect(response.body.error.code, JSON.stringify(response.body)).toBe('TOPIC_NOT_FOUND');
        }
      }
    };
    const writers = Array.from({ length: 4 }, (_, id) => writer(id));
    await new Promise((resolve) => setTimeout(resolve, 50 + random.int(150)));
    expect((await call(b.url, 'DELETE', '/v1/topics/churned')).status).toBe(204);
    deleteAnsweredAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, random.int(100)));
    await createTopic(b.url, 'churned', partitions);
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop = true;
    await Promise.all(writers);

    // Every record acknowledged for a request sent after the delete answered is in the new
    // topic, at the offset acknowledged; none went into the deleted one.
    const after = acks.filter((ack) => ack.sentAt > deleteAnsweredAt);
    expect(after.length, `seed ${seed}`).toBeGreaterThan(0);
    for (let partition = 0; partition < partitions; partition++) {
      const found = new Map(
        (await fetchAll(b.url, 'churned', partition)).map((r) => [String(r.value), r.offset]),
      );
      for (const ack of after.filter((x) => x.partition === partition)) {
        expect(found.get(ack.value), `${ack.value} (seed ${seed})`).toBe(ack.offset);
      }
    }
  });

  it('sees partitions another instance added', async () => {
    await createTopic(a.url, 'widened', 1);
    await produce(a.url, 'widened', [{ value: 1 }]);
    expect((await call(b.url, 'POST', '/v1/topics/widened/partitions', { count: 3 })).status).toBe(
      200,
    );
    const [ack] = await produce(a.url, 'widened', [{ value: 2, partition: 2 }]);
    expect(ack).toMatchObject({ partition: 2, offset: 0 });
  });
});
