import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

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
