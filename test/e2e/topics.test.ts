import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkPrefix, partitionPk } from '../../functions/core/keys.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

describe.each(backends)('topics admin API ($name)', (backend) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  it('creates a topic and describes it with Kafka defaults and partition state', async () => {
    const created = await call(server.url, 'POST', '/v1/topics', {
      name: 'orders',
      partitions: 6,
      config: { 'retention.ms': '3600000', 'cleanup.policy': 'compact' },
    });
    expect(created.status).toBe(201);
    expect(created.body.name).toBe('orders');
    expect(created.body.topicId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.partitions).toHaveLength(6);
    expect(created.body.partitions[5]).toEqual({
      partition: 5,
      logStartOffset: 0,
      highWatermark: 0,
      leaderEpoch: 0,
      sizeBytes: 0,
      // A compacted topic's partitions also say how far compaction got.
      cleanedUpTo: 0,
      dirtyRatio: 0,
    });
    expect(created.body.config).toEqual({
      'retention.ms': '3600000',
      'retention.bytes': '-1',
      'cleanup.policy': 'compact',
      'max.message.bytes': '1048576',
      'message.timestamp.type': 'CreateTime',
      'min.cleanable.dirty.ratio': '0.5',
      'min.compaction.lag.ms': '0',
      'max.compaction.lag.ms': '9223372036854775807',
      'delete.retention.ms': '86400000',
    });
    const described = await call(server.url, 'GET', '/v1/topics/orders');
    expect(described.body).toEqual(created.body);
  });

  it('lists topics', async () => {
    await createTopic(server.url, 'listed.a', 2);
    await createTopic(server.url, 'listed_b', 1);
    const list = await call(server.url, 'GET', '/v1/topics');
    expect(list.status).toBe(200);
    const names = list.body.topics.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(['listed.a', 'listed_b']));
    expect(list.body.topics.find((t: { name: string }) => t.name === 'listed.a').partitions).toBe(
      2,
    );
  });

  it('refuses a duplicate with 409 and keeps the original', async () => {
    await createTopic(server.url, 'dup', 2);
    const again = await call(server.url, 'POST', '/v1/topics', { name: 'dup', partitions: 9 });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TOPIC_ALREADY_EXISTS');
    expect((await call(server.url, 'GET', '/v1/topics/dup')).body.partitions).toHaveLength(2);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['illegal character', 'orders/eu'],
    ['space', 'my topic'],
    ['250 characters', 'a'.repeat(250)],
  ])('refuses an invalid name (%s) with INVALID_TOPIC', async (_, name) => {
    const response = await call(server.url, 'POST', '/v1/topics', { name, partitions: 1 });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('INVALID_TOPIC');
  });

  it('accepts the longest legal name', async () => {
    await createTopic(server.url, 'x'.repeat(249), 1);
  });

  it.each([
    [{ 'retention.ms': 'soon' }],
    [{ 'retention.ms': '-2' }],
    [{ 'cleanup.policy': 'shred' }],
    [{ 'max.message.bytes': '0' }],
    [{ 'max.message.bytes': String(16 * 1024 * 1024) }],
    [{ 'message.timestamp.type': 'WallClock' }],
    [{ 'segment.bytes': '1024' }],
  ])(
    'refuses invalid or unknown config %j with INVALID_CONFIG, creating nothing',
    async (config) => {
      const response = await call(server.url, 'POST', '/v1/topics', {
        name: 'badconfig',
        partitions: 1,
        config,
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_CONFIG');
      expect((await call(server.url, 'GET', '/v1/topics/badconfig')).status).toBe(404);
    },
  );

  it('names the config a mistyped name most likely meant', async () => {
    await createTopic(server.url, 'typo', 1);
    const patched = await call(server.url, 'PATCH', '/v1/topics/typo/config', {
      'retention.mss': '5',
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error).toMatchObject({
      code: 'INVALID_CONFIG',
      message: "Unknown topic config 'retention.mss' (did you mean 'retention.ms'?).",
      config: 'retention.mss',
    });
  });

  it('refuses a config named __proto__ as the unknown config it is, on create and on patch', async () => {
    // As text: an object literal's __proto__ would set its prototype, not send a member.
    const created = await call(
      server.url,
      'POST',
      '/v1/topics',
      '{"name": "protoconfig", "partitions": 1, "config": {"__proto__": "1"}}',
    );
    expect(created.status).toBe(400);
    expect(created.body.error).toMatchObject({
      code: 'INVALID_CONFIG',
      message: "Unknown topic config '__proto__'.",
      config: '__proto__',
    });
    expect((await call(server.url, 'GET', '/v1/topics/protoconfig')).status).toBe(404);

    await createTopic(server.url, 'protopatch', 1);
    const before = (await call(server.url, 'GET', '/v1/topics/protopatch')).body;
    for (const patch of ['{"__proto__": "1"}', '{"__proto__": null}', '{"__proto__": {}}']) {
      const patched = await call(server.url, 'PATCH', '/v1/topics/protopatch/config', patch);
      expect(patched.status, patch).toBe(400);
      expect(patched.body.error.code, patch).toBe('INVALID_CONFIG');
      expect(patched.body.error.message).toBe("Unknown topic config '__proto__'.");
    }
    expect((await call(server.url, 'GET', '/v1/topics/protopatch')).body).toEqual(before);
  });

  it.each([0, -1, 1001, 1.5])(
    'refuses partition count %s with INVALID_PARTITIONS',
    async (partitions) => {
      const response = await call(server.url, 'POST', '/v1/topics', {
        name: 'badparts',
        partitions,
      });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toMatch(/INVALID_PARTITIONS|INVALID_REQUEST/);
      expect((await call(server.url, 'GET', '/v1/topics/badparts')).status).toBe(404);
    },
  );

  it('alters config as a merge patch: values set, null restores the default', async () => {
    await createTopic(server.url, 'alter', 1, {
      'retention.ms': '1000',
      'retention.bytes': '2048',
    });
    const patched = await call(server.url, 'PATCH', '/v1/topics/alter/config', {
      'retention.ms': 86_400_000,
      'retention.bytes': null,
      'message.timestamp.type': 'LogAppendTime',
    });
    expect(patched.status).toBe(200);
    expect(patched.body.config['retention.ms']).toBe('86400000');
    expect(patched.body.config['retention.bytes']).toBe('-1');
    expect(patched.body.config['message.timestamp.type']).toBe('LogAppendTime');
  });

  it('refuses a bad config patch as a whole', async () => {
    await createTopic(server.url, 'alter2', 1);
    const before = (await call(server.url, 'GET', '/v1/topics/alter2')).body;
    const patched = await call(server.url, 'PATCH', '/v1/topics/alter2/config', {
      'retention.ms': '5000',
      'cleanup.policy': 'never',
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error.code).toBe('INVALID_CONFIG');
    expect((await call(server.url, 'GET', '/v1/topics/alter2')).body).toEqual(before);
  });

  it('adds partitions, never removes them, and new partitions take records', async () => {
    await createTopic(server.url, 'grow', 3);
    const grown = await call(server.url, 'POST', '/v1/topics/grow/partitions', { count: 5 });
    expect(grown.status).toBe(200);
    expect(grown.body.partitions).toHaveLength(5);
    const shrink = await call(server.url, 'POST', '/v1/topics/grow/partitions', { count: 4 });
    expect(shrink.status).toBe(400);
    expect(shrink.body.error.code).toBe('INVALID_PARTITIONS');
    const same = await call(server.url, 'POST', '/v1/topics/grow/partitions', { count: 5 });
    expect(same.body.error.code).toBe('INVALID_PARTITIONS');
    const [ack] = await produce(server.url, 'grow', [{ value: 'new', partition: 4 }]);
    expect(ack).toMatchObject({ partition: 4, offset: 0 });
  });

  it('deletes a topic with its data; a topic created again under the name starts empty', async () => {
    await createTopic(server.url, 'doomed', 2);
    await produce(server.url, 'doomed', [
      { value: 1, partition: 0 },
      { value: 2, partition: 1 },
    ]);
    const { topicId } = (await call(server.url, 'GET', '/v1/topics/doomed')).body;

    const deleted = await call(server.url, 'DELETE', '/v1/topics/doomed');
    expect(deleted.status).toBe(204);
    expect((await call(server.url, 'GET', '/v1/topics/doomed')).body.error.code).toBe(
      'TOPIC_NOT_FOUND',
    );
    const fetched = await call(
      server.url,
      'GET',
      '/v1/topics/doomed/partitions/0/records?offset=0',
    );
    expect(fetched.body.error.code).toBe('TOPIC_NOT_FOUND');
    // The data goes with the next maintenance pass, but for the partition heads the delete
    // marked, which go once no produce begun before the delete can still be under way.
    expect((await call(server.url, 'POST', '/v1/admin/maintenance')).status).toBe(200);
    expect((await server.stores.segments.list(chunkPrefix(topicId))).objects).toEqual([]);
    for (const p of [0, 1]) {
      const left = await server.stores.metadata.query(partitionPk(topicId, p));
      expect(left.map((i) => [i.sk, i.data.deleted])).toEqual([['head', true]]);
    }

    await createTopic(server.url, 'doomed', 2);
    const again = (await call(server.url, 'GET', '/v1/topics/doomed')).body;
    expect(again.topicId).not.toBe(topicId);
    expect(again.partitions.map((p: { highWatermark: number }) => p.highWatermark)).toEqual([0, 0]);
    expect(await fetchAll(server.url, 'doomed', 0)).toEqual([]);
  });

  it('answers 404 for an unknown topic on every topic route', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/topics/ghost', undefined],
      ['DELETE', '/v1/topics/ghost', undefined],
      ['PATCH', '/v1/topics/ghost/config', { 'retention.ms': '1' }],
      ['POST', '/v1/topics/ghost/partitions', { count: 2 }],
      ['GET', '/v1/topics/ghost/partitions/0/offsets?spec=latest', undefined],
    ] as const) {
      const response = await call(server.url, method, path, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.error.code).toBe('TOPIC_NOT_FOUND');
    }
  });

  it('answers unknown routes with NOT_FOUND and wrong methods with METHOD_NOT_ALLOWED', async () => {
    const missing = await call(server.url, 'GET', '/v2/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    const wrong = await call(server.url, 'PUT', '/v1/topics');
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe('METHOD_NOT_ALLOWED');
  });
});
