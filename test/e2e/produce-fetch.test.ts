import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../sdk/src/partitioner.ts';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

const utf8 = new TextEncoder();

describe.each(backends)('produce and fetch ($name)', (backend) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(backend);
  });
  afterAll(() => server.close());

  it('acknowledges offsets in request order and reads the records back from any offset', async () => {
    await createTopic(server.url, 'rt', 1, { 'retention.ms': '-1' });
    const first = await produce(server.url, 'rt', [
      {
        key: 'user-1',
        value: { clicked: 'buy' },
        headers: [{ name: 'trace', value: 'abc' }],
        timestamp: 1_700_000_000_000,
      },
      { value: [1, 'two', null, { three: 3.5 }] },
    ]);
    const second = await produce(server.url, 'rt', [{ key: 'k', value: 'third' }]);
    expect(first.map((a) => a.offset)).toEqual([0, 1]);
    expect(first[0]?.timestamp).toBe(1_700_000_000_000);
    expect(second).toEqual([{ partition: 0, offset: 2, timestamp: expect.any(Number) }]);

    const all = await fetchAll(server.url, 'rt', 0);
    expect(all).toEqual([
      {
        offset: 0,
        timestamp: 1_700_000_000_000,
        key: 'user-1',
        value: { clicked: 'buy' },
        headers: [{ name: 'trace', value: 'abc' }],
      },
      {
        offset: 1,
        timestamp: first[1]?.timestamp,
        key: null,
        value: [1, 'two', null, { three: 3.5 }],
        headers: [],
      },
      { offset: 2, timestamp: second[0]?.timestamp, key: 'k', value: 'third', headers: [] },
    ]);
    const fromMiddle = await call(server.url, 'GET', '/v1/topics/rt/partitions/0/records?offset=1');
    expect(fromMiddle.body.records.map((r: { offset: number }) => r.offset)).toEqual([1, 2]);
    expect(fromMiddle.body).toMatchObject({ nextOffset: 3, highWatermark: 3, logStartOffset: 0 });
  });

  it('honours maxRecords and maxBytes, always making progress', async () => {
    await createTopic(server.url, 'limits', 1);
    await produce(
      server.url,
      'limits',
      Array.from({ length: 10 }, (_, i) => ({ value: 'x'.repeat(100 + i) })),
    );
    const two = await call(
      server.url,
      'GET',
      '/v1/topics/limits/partitions/0/records?offset=3&maxRecords=2',
    );
    expect(two.body.records.map((r: { offset: number }) => r.offset)).toEqual([3, 4]);
    expect(two.body.nextOffset).toBe(5);
    const tiny = await call(
      server.url,
      'GET',
      '/v1/topics/limits/partitions/0/records?offset=0&maxBytes=1',
    );
    expect(tiny.body.records).toHaveLength(1);
    expect(tiny.body.nextOffset).toBe(1);
    const some = await call(
      server.url,
      'GET',
      '/v1/topics/limits/partitions/0/records?offset=0&maxBytes=350',
    );
    expect(some.body.records.length).toBe(3);
  });

  it('round-trips every byte exactly in base64 format, keys and headers included', async () => {
    await createTopic(server.url, 'binary', 1);
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64');
    const key = Buffer.from([0, 255, 1, 254]).toString('base64');
    await produce(
      server.url,
      'binary',
      [
        {
          key,
          value: allBytes,
          headers: [
            { name: 'bin', value: allBytes },
            { name: 'nil', value: null },
          ],
        },
        { key: null, value: '' },
        { value: null },
      ],
      '?format=base64',
    );
    const records = await fetchAll(server.url, 'binary', 0, 0, 'base64');
    expect(records.map((r) => [r.key, r.value, r.headers])).toEqual([
      [
        key,
        allBytes,
        [
          { name: 'bin', value: allBytes },
          { name: 'nil', value: null },
        ],
      ],
      [null, '', []],
      [null, null, []],
    ]);
  });

  it('stores text as UTF-8 and json as compact JSON text, visible across formats', async () => {
    await createTopic(server.url, 'formats', 1);
    await produce(server.url, 'formats', [{ key: 'clé', value: 'naïve ☕ 𝄞' }], '?format=text');
    await produce(server.url, 'formats', [{ key: 'k', value: { a: [1, 2], b: 'ü' } }]);
    const asText = await fetchAll(server.url, 'formats', 0, 0, 'text');
    expect(asText.map((r) => [r.key, r.value])).toEqual([
      ['clé', 'naïve ☕ 𝄞'],
      ['k', '{"a":[1,2],"b":"ü"}'],
    ]);
    const asBase64 = await fetchAll(server.url, 'formats', 0, 0, 'base64');
    expect(Buffer.from(String(asBase64[0]?.value), 'base64').toString('utf8')).toBe('naïve ☕ 𝄞');
    expect(Buffer.from(String(asBase64[0]?.key), 'base64')).toEqual(Buffer.from('clé'));
  });

  it('refuses to render bytes the requested format cannot carry, and names the way out', async () => {
    await createTopic(server.url, 'notjson', 1);
    await produce(
      server.url,
      'notjson',
      [{ value: Buffer.from([0xff, 0xfe]).toString('base64') }],
      '?format=base64',
    );
    const asJson = await call(
      server.url,
      'GET',
      '/v1/topics/notjson/partitions/0/records?offset=0',
    );
    expect(asJson.status).toBe(422);
    expect(asJson.body.error).toMatchObject({ code: 'RECORD_NOT_DECODABLE', offset: 0 });
    expect(asJson.body.error.message).toContain('format=base64');
  });

  it('names the header whose value cannot be rendered, in a fetch and in a group poll', async () => {
    await createTopic(server.url, 'badheader', 1);
    const binary = Buffer.from([0xff, 0xfe]).toString('base64');
    const ok = Buffer.from('{"n":1}').toString('base64');
    await produce(
      server.url,
      'badheader',
      [
        {
          value: ok,
          headers: [
            { name: 'trace', value: ok },
            { name: 'blob', value: binary },
          ],
        },
      ],
      '?format=base64',
    );
    const fetched = await call(
      server.url,
      'GET',
      '/v1/topics/badheader/partitions/0/records?offset=0',
    );
    expect(fetched.status).toBe(422);
    expect(fetched.body.error).toMatchObject({
      code: 'RECORD_NOT_DECODABLE',
      offset: 0,
      header: 'blob',
    });
    expect(fetched.body.error.message).toContain('The value of header "blob" of the record');
    const member = (
      await call(server.url, 'POST', '/v1/groups/badheader-readers/members', {
        topics: ['badheader'],
        autoOffsetReset: 'earliest',
      })
    ).body;
    const polled = await call(
      server.url,
      'GET',
      `/v1/groups/badheader-readers/members/${member.memberId}/records`,
    );
    expect(polled.status).toBe(422);
    expect(polled.body.error).toMatchObject({ topic: 'badheader', partition: 0, header: 'blob' });
  });

  it('accepts NDJSON, one record per line, blank lines ignored', async () => {
    await createTopic(server.url, 'ndjson', 1);
    const body = '{"key":"a","value":1}\n\n{"key":"b","value":{"n":2}}\r\n{"value":"three"}\n';
    const response = await call(server.url, 'POST', '/v1/topics/ndjson/records', body, {
      'content-type': 'application/x-ndjson',
    });
    expect(response.status).toBe(200);
    expect(response.body.offsets.map((o: { offset: number }) => o.offset)).toEqual([0, 1, 2]);
    const records = await fetchAll(server.url, 'ndjson', 0);
    expect(records.map((r) => [r.key, r.value])).toEqual([
      ['a', 1],
      ['b', { n: 2 }],
      [null, 'three'],
    ]);
  });

  it("puts keyed records where Kafka's default partitioner would, and an explicit partition wins", async () => {
    await createTopic(server.url, 'keyed', 7);
    const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
    const acks = await produce(
      server.url,
      'keyed',
      keys.map((key) => ({ key, value: key })),
    );
    for (const [i, key] of keys.entries()) {
      expect(acks[i]?.partition).toBe(partitionForKey(utf8.encode(key), 7));
    }
    const [explicit] = await produce(server.url, 'keyed', [
      { key: 'customer-0', value: 0, partition: 6 },
    ]);
    expect(explicit?.partition).toBe(6);
  });

  it('sends all unkeyed records of one request to one partition, and spreads requests', async () => {
    await createTopic(server.url, 'spread', 4);
    const used = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const acks = await produce(server.url, 'spread', [{ value: 1 }, { value: 2 }, { value: 3 }]);
      expect(new Set(acks.map((a) => a.partition)).size).toBe(1);
      used.add(acks[0]?.partition ?? -1);
    }
    expect(used.size).toBeGreaterThan(1);
  });

  it('commits a request across partitions as one: every record is readable at its acknowledged offset', async () => {
    await createTopic(server.url, 'multi', 3);
    const acks = await produce(server.url, 'multi', [
      { value: 'p0-a', partition: 0 },
      { value: 'p2-a', partition: 2 },
      { value: 'p0-b', partition: 0 },
      { value: 'p1-a', partition: 1 },
    ]);
    expect(acks.map((a) => [a.partition, a.offset])).toEqual([
      [0, 0],
      [2, 0],
      [0, 1],
      [1, 0],
    ]);
    const description = (await call(server.url, 'GET', '/v1/topics/multi')).body;
    expect(description.partitions.map((p: { highWatermark: number }) => p.highWatermark)).toEqual([
      2, 1, 1,
    ]);
    expect((await fetchAll(server.url, 'multi', 0)).map((r) => r.value)).toEqual(['p0-a', 'p0-b']);
  });

  it('uses the append time for LogAppendTime topics', async () => {
    await createTopic(server.url, 'appendtime', 1, { 'message.timestamp.type': 'LogAppendTime' });
    const before = Date.now();
    const [ack] = await produce(server.url, 'appendtime', [{ value: 1, timestamp: 5 }]);
    expect(ack?.timestamp).toBeGreaterThanOrEqual(before);
    const [record] = await fetchAll(server.url, 'appendtime', 0);
    expect(record?.timestamp).toBe(ack?.timestamp);
  });

  it('answers acks=0 with 202 and writes the records asynchronously', async () => {
    await createTopic(server.url, 'fireforget', 1);
    const response = await call(server.url, 'POST', '/v1/topics/fireforget/records?acks=0', {
      records: [{ value: 'a' }, { value: 'b' }],
    });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ accepted: 2 });
    const waited = await call(
      server.url,
      'GET',
      '/v1/topics/fireforget/partitions/0/records?offset=0&waitMs=10000',
    );
    const records =
      waited.body.records.length === 2
        ? waited.body.records
        : await fetchAll(server.url, 'fireforget', 0);
    expect(records.map((r: { value: unknown }) => r.value)).toEqual(['a', 'b']);
  });

  it('reads back every large request whole when many arrive at once, acks=0 among them', async () => {
    // Bodies and chunks of 64 KiB and more are read and written in memory that is lent and
    // used again by later requests: none may see another's bytes, even after answering.
    await createTopic(server.url, 'large', 3, { 'retention.ms': '-1' });
    const records = (request: number) =>
      Array.from({ length: 90 }, (_, i) => ({
        // Requests 0-3 go to one partition; the rest spread over all three (one chunk of
        // three batches).
        ...(request < 4 ? { partition: request % 3 } : { key: `k${i}` }),
        value: `${request}:${i}:`.padEnd(1000, String.fromCharCode(97 + (request % 26))),
      }));
    const requests = Array.from({ length: 12 }, (_, request) => records(request));
    const answers = await Promise.all(
      requests.map((batch, request) =>
        call(server.url, 'POST', `/v1/topics/large/records${request % 4 === 3 ? '?acks=0' : ''}`, {
          records: batch,
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(
      requests.map((_, request) => (request % 4 === 3 ? 202 : 200)),
    );
    const sent = requests.flat().map((r) => r.value);
    const stored = async () =>
      (await Promise.all([0, 1, 2].map((p) => fetchAll(server.url, 'large', p)))).flatMap(
        (partition) => partition.map((r) => r.value),
      );
    let read = await stored();
    for (let waited = 0; read.length < sent.length && waited < 10_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      read = await stored();
    }
    expect(read.sort()).toEqual(sent.sort());
  });

  it('at the high watermark returns empty at once, or waits for a record with waitMs', async () => {
    await createTopic(server.url, 'tail', 1);
    const empty = await call(server.url, 'GET', '/v1/topics/tail/partitions/0/records?offset=0');
    expect(empty.body).toEqual({ records: [], nextOffset: 0, highWatermark: 0, logStartOffset: 0 });

    const waiting = call(
      server.url,
      'GET',
      '/v1/topics/tail/partitions/0/records?offset=0&waitMs=15000',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await produce(server.url, 'tail', [{ value: 'late' }]);
    const woke = await waiting;
    expect(woke.body.records.map((r: { value: unknown }) => r.value)).toEqual(['late']);

    const timedOut = await call(
      server.url,
      'GET',
      '/v1/topics/tail/partitions/0/records?offset=1&waitMs=200',
    );
    expect(timedOut.body).toMatchObject({ records: [], nextOffset: 1, highWatermark: 1 });
  });

  it('ends a wait with TOPIC_NOT_FOUND when the topic is deleted meanwhile', async () => {
    await createTopic(server.url, 'going', 1);
    const started = Date.now();
    const waiting = call(
      server.url,
      'GET',
      '/v1/topics/going/partitions/0/records?offset=0&waitMs=20000',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await call(server.url, 'DELETE', '/v1/topics/going')).status).toBe(204);
    const ended = await waiting;
    expect(ended.status).toBe(404);
    expect(ended.body.error).toMatchObject({ code: 'TOPIC_NOT_FOUND', topic: 'going' });
    // Within the wait's pauses, not at its end.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('finds the first record of the greatest timestamp, wherever it is in the log', async () => {
    await createTopic(server.url, 'newest', 2, { 'retention.ms': '-1' });
    const spec = async (partition: number) =>
      (
        await call(
          server.url,
          'GET',
          `/v1/topics/newest/partitions/${partition}/offsets?spec=max-timestamp`,
        )
      ).body;
    // None yet: no offset, as Kafka answers -1.
    expect(await spec(0)).toMatchObject({ offset: null, timestamp: null });
    await produce(server.url, 'newest', [
      { value: 'a', timestamp: 5000, partition: 0 },
      { value: 'b', timestamp: 9000, partition: 0 },
      { value: 'c', timestamp: 9000, partition: 0 },
    ]);
    await produce(server.url, 'newest', [
      { value: 'd', timestamp: 7000, partition: 0 },
      { value: 'e', timestamp: 9000, partition: 0 },
    ]);
    await produce(server.url, 'newest', [{ value: 'f', timestamp: 1000, partition: 0 }]);
    // Not the last record, nor the last batch: the first offset holding 9000.
    expect(await spec(0)).toMatchObject({ offset: 1, timestamp: 9000 });
    await produce(server.url, 'newest', [
      { value: 'g', timestamp: 8000, partition: 0 },
      { value: 'h', timestamp: 9001, partition: 0 },
    ]);
    expect(await spec(0)).toMatchObject({ offset: 7, timestamp: 9001 });
    expect(await spec(1)).toMatchObject({ offset: null, timestamp: null });
  });

  it('refuses offsets outside the log with OFFSET_OUT_OF_RANGE carrying both bounds', async () => {
    await createTopic(server.url, 'range', 1);
    await produce(server.url, 'range', [{ value: 1 }, { value: 2 }]);
    const past = await call(server.url, 'GET', '/v1/topics/range/partitions/0/records?offset=3');
    expect(past.status).toBe(416);
    expect(past.body.error).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      offset: 3,
      logStartOffset: 0,
      highWatermark: 2,
    });
  });

  it('lists offsets: earliest, latest and by timestamp as Kafka does', async () => {
    // Timestamps from 1970 would be past the default 7-day retention.
    await createTopic(server.url, 'times', 1, { 'retention.ms': '-1' });
    await produce(server.url, 'times', [
      { value: 'a', timestamp: 1000 },
      { value: 'b', timestamp: 3000 },
    ]);
    await produce(server.url, 'times', [
      { value: 'c', timestamp: 2000 },
      { value: 'd', timestamp: 4000 },
    ]);
    const spec = async (s: string) =>
      (await call(server.url, 'GET', `/v1/topics/times/partitions/0/offsets?spec=${s}`)).body;
    expect(await spec('earliest')).toEqual({
      topic: 'times',
      partition: 0,
      offset: 0,
      timestamp: null,
    });
    expect(await spec('latest')).toEqual({
      topic: 'times',
      partition: 0,
      offset: 4,
      timestamp: null,
    });
    expect(await spec('timestamp:0')).toMatchObject({ offset: 0, timestamp: 1000 });
    expect(await spec('timestamp:1500')).toMatchObject({ offset: 1, timestamp: 3000 });
    expect(await spec('timestamp:3500')).toMatchObject({ offset: 3, timestamp: 4000 });
    expect(await spec('timestamp:4001')).toMatchObject({ offset: null, timestamp: null });
    expect(await spec('max-timestamp')).toEqual({
      topic: 'times',
      partition: 0,
      offset: 3,
      timestamp: 4000,
    });
    const bad = await call(
      server.url,
      'GET',
      '/v1/topics/times/partitions/0/offsets?spec=yesterday',
    );
    expect(bad.body.error.message).toContain('max-timestamp');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_REQUEST');
  });
});
