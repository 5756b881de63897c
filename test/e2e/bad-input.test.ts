import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce, snapshot } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

/**
 * Every way a client can get a request wrong: a clear 4xx with the documented error shape,
 * and nothing changed — no record, no offset, no segment object, no topic.
 */
describe.each(backends)('bad input changes nothing ($name)', (backend) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(backend);
    await createTopic(server.url, 'events', 3, { 'max.message.bytes': '1000' });
    await produce(server.url, 'events', [{ value: 'seed', partition: 0 }]);
  });
  afterAll(() => server.close());

  const json = { 'content-type': 'application/json' };
  const ndjson = { 'content-type': 'application/x-ndjson' };
  const records = '/v1/topics/events/records';
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  /** Over DynamoDB's 1,024-byte sort key, and far over every name's 249 characters. */
  const long = 'x'.repeat(1_025);
  const commit = (topic: string) => ({ offsets: [{ topic, partition: 0, offset: 1 }] });
  const acl = (resourceName: string) => ({
    principal: 'p',
    permission: 'ALLOW',
    operation: 'READ',
    resourceType: 'TOPIC',
    resourceName,
  });

  const cases: [string, string, string, string | object, Record<string, string>, number, string][] =
    [
      [
        'a record over max.message.bytes',
        'POST',
        records,
        { records: [{ value: 'ok', partition: 1 }, { value: 'x'.repeat(1001) }] },
        json,
        400,
        'RECORD_TOO_LARGE',
      ],
      ['an empty batch', 'POST', records, { records: [] }, json, 400, 'EMPTY_BATCH'],
      ['an empty NDJSON body', 'POST', records, '\n\n', ndjson, 400, 'EMPTY_BATCH'],
      [
        'an unknown topic',
        'POST',
        '/v1/topics/nothing/records',
        { records: [{ value: 1 }] },
        json,
        404,
        'TOPIC_NOT_FOUND',
      ],
      [
        'an unknown partition',
        'POST',
        records,
        {
          records: [
            { value: 1, partition: 0 },
            { value: 2, partition: 3 },
          ],
        },
        json,
        404,
        'PARTITION_NOT_FOUND',
      ],
      [
        'malformed JSON',
        'POST',
        records,
        '{"records": [{"value": 1}',
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a malformed NDJSON line',
        'POST',
        records,
        '{"value": 1}\n{"value": \n',
        ndjson,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an NDJSON line that is not a record',
        'POST',
        records,
        '{"value": 1}\n[1, 2]\n',
        ndjson,
        400,
        'INVALID_RECORD',
      ],
      [
        'a record value beyond the range of a double',
        'POST',
        records,
        '{"records": [{"value": {"amount": 1e400}}]}',
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'an NDJSON header value beyond the range of a double',
        'POST',
        records,
        '{"value": 1}\n{"value": 2, "headers": [{"name": "h", "value": -2e308}]}\n',
        ndjson,
        400,
        'INVALID_RECORD',
      ],
      [
        'a transaction record beyond the range of a double',
        'POST',
        '/v1/transactions',
        '{"producer": {"id": 1, "epoch": 0, "sequence": 0}, "records": [{"topic": "events", "value": [1e309]}]}',
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'malformed base64',
        'POST',
        `${records}?format=base64`,
        { records: [{ value: 'aGVsbG8=' }, { value: 'not base64!' }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a malformed base64 key',
        'POST',
        `${records}?format=base64`,
        { records: [{ key: '@@', value: 'aGVsbG8=' }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a missing value',
        'POST',
        records,
        { records: [{ key: 'k' }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a number as key',
        'POST',
        records,
        { records: [{ key: 42, value: 1 }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a non-string text value',
        'POST',
        `${records}?format=text`,
        { records: [{ value: { a: 1 } }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a string partition',
        'POST',
        records,
        { records: [{ value: 1, partition: '1' }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a negative partition',
        'POST',
        records,
        { records: [{ value: 1, partition: -1 }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a fractional timestamp',
        'POST',
        records,
        { records: [{ value: 1, timestamp: 1.5 }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'headers that are not a list',
        'POST',
        records,
        { records: [{ value: 1, headers: { a: 'b' } }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a header without a name',
        'POST',
        records,
        { records: [{ value: 1, headers: [{ value: 'b' }] }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'an unknown record field',
        'POST',
        records,
        { records: [{ value: 1, vaule: 2 }] },
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'records that are not a list',
        'POST',
        records,
        { records: { value: 1 } },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a body that is not an object',
        'POST',
        records,
        '[{"value": 1}]',
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unknown format',
        'POST',
        `${records}?format=avro`,
        { records: [{ value: 1 }] },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unknown acks',
        'POST',
        `${records}?acks=2`,
        { records: [{ value: 1 }] },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unknown query parameter',
        'POST',
        `${records}?partition=1`,
        { records: [{ value: 1 }] },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an unsupported content type',
        'POST',
        records,
        'value=1',
        { 'content-type': 'application/x-www-form-urlencoded' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'a fetch without offset',
        'GET',
        '/v1/topics/events/partitions/0/records',
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a fetch with a negative offset',
        'GET',
        '/v1/topics/events/partitions/0/records?offset=-1',
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a fetch with maxRecords 0',
        'GET',
        '/v1/topics/events/partitions/0/records?offset=0&maxRecords=0',
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a fetch waiting too long',
        'GET',
        '/v1/topics/events/partitions/0/records?offset=0&waitMs=60000',
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a fetch from a non-numeric partition',
        'GET',
        '/v1/topics/events/partitions/one/records?offset=0',
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a fetch from an unknown partition',
        'GET',
        '/v1/topics/events/partitions/3/records?offset=0',
        '',
        {},
        404,
        'PARTITION_NOT_FOUND',
      ],
      [
        'a topic with a wrong type',
        'POST',
        '/v1/topics',
        { name: 'x', partitions: '3' },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a topic with an unknown field',
        'POST',
        '/v1/topics',
        { name: 'x', partitions: 3, replication: 3 },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'partitions without count',
        'POST',
        '/v1/topics/events/partitions',
        {},
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a record value nested 5,000 deep',
        'POST',
        records,
        `{"records":[{"value":${nested(5_000)}}]}`,
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'an NDJSON record nested 5,000 deep',
        'POST',
        records,
        `{"value":1}\n{"value":${nested(5_000)}}\n`,
        ndjson,
        400,
        'INVALID_RECORD',
      ],
      [
        'a topic config nested 5,000 deep',
        'POST',
        '/v1/topics',
        `{"name":"deep","config":{"retention.ms":${nested(5_000)}}}`,
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a header name with an unpaired surrogate',
        'POST',
        records,
        '{"records":[{"value":1,"headers":[{"name":"\\ud800","value":1}]}]}',
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a text key with an unpaired surrogate',
        'POST',
        `${records}?format=text`,
        '{"records":[{"key":"\\udc00","value":"v"}]}',
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a topic name over the key limit',
        'GET',
        `/v1/topics/${long}`,
        '',
        {},
        400,
        'INVALID_TOPIC',
      ],
      [
        'a produce to a topic name over the key limit',
        'POST',
        `/v1/topics/${long}/records`,
        { records: [{ value: 1 }] },
        json,
        400,
        'INVALID_TOPIC',
      ],
      [
        'a fetch from a topic name over the key limit',
        'GET',
        `/v1/topics/${long}/partitions/0/records?offset=0`,
        '',
        {},
        400,
        'INVALID_TOPIC',
      ],
      [
        'a delete of a malformed topic name',
        'DELETE',
        `/v1/topics/${long}`,
        '',
        {},
        400,
        'INVALID_TOPIC',
      ],
      [
        'a commit to a topic name over the key limit',
        'POST',
        '/v1/groups/g/offsets',
        commit(long),
        json,
        400,
        'INVALID_TOPIC',
      ],
      [
        'a commit to a topic name with an unpaired surrogate',
        'POST',
        '/v1/groups/g/offsets',
        JSON.stringify(commit('\ud800')),
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an offset reset of a topic name with an unpaired surrogate',
        'POST',
        '/v1/groups/g/offsets/reset',
        { topic: 'a\udfff', to: 'earliest' },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an offset reset of a topic name over the key limit',
        'POST',
        '/v1/groups/g/offsets/reset',
        { topic: long, to: 'earliest' },
        json,
        400,
        'INVALID_TOPIC',
      ],
      [
        'an ACL resource name with an unpaired surrogate',
        'POST',
        '/v1/admin/acls',
        acl('\ud800'),
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an ACL resource name too long for its key in UTF-8',
        'POST',
        '/v1/admin/acls',
        acl('é'.repeat(249)),
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'an ACL listing for a principal over the key limit',
        'GET',
        `/v1/admin/acls?principal=${long}`,
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a key deletion for a principal over the key limit',
        'DELETE',
        `/v1/admin/keys/${long}`,
        '',
        {},
        400,
        'INVALID_REQUEST',
      ],
      [
        'a static member id with a space',
        'POST',
        '/v1/groups/g/members',
        { topics: ['events'], instanceId: 'host 1' },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'more records than one request carries',
        'POST',
        records,
        { records: Array.from({ length: 50_001 }, () => ({ value: 1 })) },
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'more NDJSON records than one request carries',
        'POST',
        records,
        '{"value":1}\n'.repeat(50_001),
        ndjson,
        400,
        'INVALID_REQUEST',
      ],
      ['a path beginning with //', 'GET', '//', '', {}, 404, 'NOT_FOUND'],
      [
        'a route behind //x (not the route itself)',
        'DELETE',
        '//x/v1/topics/events',
        '',
        {},
        404,
        'NOT_FOUND',
      ],
      [
        'a transaction record with a member named __proto__',
        'POST',
        '/v1/transactions',
        '{"producer": {"id": 1, "epoch": 0, "sequence": 0}, "records": [{"topic": "events", "value": 1, "__proto__": {}}]}',
        json,
        400,
        'INVALID_RECORD',
      ],
      [
        'a producer sequence for a partition named __proto__',
        'POST',
        records,
        '{"records": [{"value": 1}], "producer": {"id": 1, "epoch": 0, "sequence": {"0": 0, "__proto__": 0}}}',
        json,
        400,
        'INVALID_REQUEST',
      ],
      [
        'a config patch that is not an object',
        'PATCH',
        '/v1/topics/events/config',
        '"retention.ms"',
        json,
        400,
        'INVALID_REQUEST',
      ],
    ];

  it.each(cases)('%s', async (_, method, path, body, headers, status, code) => {
    const before = await snapshot(server);
    const payload =
      method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      ...(payload !== undefined && { body: payload }),
    });
    const answer = await response.json();
    expect(response.status).toBe(status);
    expect(answer.error.code).toBe(code);
    expect(typeof answer.error.message).toBe('string');
    expect(answer.error.message.length).toBeGreaterThan(10);
    expect(await snapshot(server)).toEqual(before);
  });

  it('refuses a compressed body with 415, asking for it uncompressed; a request without a body is not refused for the header', async () => {
    const before = await snapshot(server);
    const created = '{"name": "zipped", "partitions": 1}';
    const produced = '{"records": [{"value": "zipped"}]}';
    for (const [path, body, encoding] of [
      ['/v1/topics', gzipSync(created), 'gzip'],
      [records, gzipSync(produced), 'gzip'],
      [records, deflateSync(produced), 'deflate'],
      [records, brotliCompressSync(produced), 'br'],
      // Said compressed and sent plain: still not read as if the header were absent.
      [records, Buffer.from(produced), 'GZIP'],
      [records, Buffer.from(produced), 'identity, gzip'],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { ...json, 'content-encoding': encoding },
        body,
      });
      const answer = await response.json();
      expect(response.status, `${path} ${encoding}`).toBe(415);
      expect(answer.error).toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        contentEncoding: encoding,
      });
      expect(answer.error.message).toContain(`Content-Encoding '${encoding}'`);
      expect(answer.error.message).toContain('send the body uncompressed');
    }
    expect(await snapshot(server)).toEqual(before);

    const identity = await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      headers: { ...json, 'content-encoding': 'identity' },
      body: '{"name": "plain", "partitions": 1}',
    });
    expect(identity.status).toBe(201);
    for (const [method, path] of [
      ['GET', '/v1/topics/plain'],
      ['DELETE', '/v1/topics/plain'],
    ]) {
      const bodiless = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-encoding': 'gzip' },
      });
      expect(bodiless.status, `${method} ${path}`).toBeLessThan(300);
    }
  });

  it('names the offending record of a produce request', async () => {
    const response = await call(server.url, 'POST', records, {
      records: [{ value: 1 }, { value: 2 }, { value: 3, partition: 'x' }],
    });
    expect(response.body.error).toMatchObject({ code: 'INVALID_RECORD', index: 2 });
    expect(response.body.error.message).toContain('records[2].partition');
  });

  it('refuses a body that is not UTF-8 rather than store replacement characters', async () => {
    const before = await snapshot(server);
    /** The text with `bytes` in place of its `?`: 0xff, a lone byte of a pair, a surrogate. */
    const withBytes = (text: string, bytes: number[]) => {
      const at = text.indexOf('?');
      return Buffer.concat([
        Buffer.from(text.slice(0, at)),
        Buffer.from(bytes),
        Buffer.from(text.slice(at + 1)),
      ]);
    };
    for (const bytes of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80]]) {
      for (const [path, text, headers] of [
        [records, '{"records": [{"value": "a?b", "partition": 1}]}', json],
        [`${records}?format=text`, '{"records": [{"value": "a?b", "partition": 1}]}', json],
        [records, '{"value": 1}\n{"key": "?", "value": 2}\n', ndjson],
        ['/v1/topics', '{"name": "?", "partitions": 1}', json],
        [
          '/v1/groups/g/offsets',
          '{"offsets": [{"topic": "events", "partition": 0, "offset": 1, "metadata": "?"}]}',
          json,
        ],
      ] as const) {
        const response = await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers,
          body: withBytes(text, bytes),
        });
        const answer = await response.json();
        expect(response.status, `${path} ${bytes}`).toBe(400);
        expect(answer.error.code).toBe('INVALID_REQUEST');
        expect(answer.error.message).toContain('UTF-8');
      }
    }
    expect(await snapshot(server)).toEqual(before);
  });

  it('takes record timestamps up to 2^52 - 1 ms, so that one batch holds any of them', async () => {
    const latest = 2 ** 52 - 1;
    const written = await produce(server.url, 'events', [
      { value: 'epoch', partition: 2, timestamp: 0 },
      { value: 'far', partition: 2, timestamp: latest },
    ]);
    expect(written.map((w) => w.timestamp)).toEqual([0, latest]);
    const before = await snapshot(server);
    for (const [path, body, code, field] of [
      [
        records,
        {
          records: [
            { value: 1, partition: 2, timestamp: 0 },
            { value: 2, partition: 2, timestamp: Number.MAX_SAFE_INTEGER },
          ],
        },
        'INVALID_RECORD',
        'records[1].timestamp',
      ],
      [
        records,
        { records: [{ value: 1, timestamp: latest + 1 }] },
        'INVALID_RECORD',
        'records[0].timestamp',
      ],
      [
        '/v1/transactions',
        {
          producer: { id: 1, epoch: 0, sequence: 0 },
          records: [{ topic: 'events', value: 1, timestamp: latest + 1 }],
        },
        'INVALID_RECORD',
        'records[0].timestamp',
      ],
    ] as const) {
      const response = await call(server.url, 'POST', path, body);
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error).toMatchObject({ code, field });
    }
    expect(await snapshot(server)).toEqual(before);
  });

  it('refuses a body on a route that takes none, rather than ignore what it asks', async () => {
    await createTopic(server.url, 'bodiless', 1);
    const joined = await call(server.url, 'POST', '/v1/groups/bodiless-g/members', {
      topics: ['bodiless'],
    });
    const member = `/v1/groups/bodiless-g/members/${joined.body.memberId}`;
    await call(server.url, 'POST', '/v1/admin/keys', { principal: 'bodiless-p' });
    await call(server.url, 'POST', '/v1/topics/bodiless/subscriptions', {
      name: 's',
      target: { type: 'lambda', function: 'f' },
    });
    const before = await snapshot(server);
    // In an order each can succeed in, one after another.
    const routes = [
      ['POST', '/v1/topics/bodiless/partitions/0/leader'],
      ['POST', `${member}/heartbeat`],
      ['DELETE', member],
      ['DELETE', '/v1/groups/bodiless-g'],
      ['DELETE', '/v1/topics/bodiless/subscriptions/s'],
      ['DELETE', '/v1/topics/bodiless'],
      ['DELETE', '/v1/admin/keys/bodiless-p'],
    ] as const;
    for (const [method, path] of routes) {
      for (const body of ['{"ifEmpty": true}', '[]', 'not json']) {
        const response = await call(server.url, method, path, body);
        expect(response.status, `${method} ${path} ${body}`).toBe(400);
        expect(response.body.error.code).toBe('INVALID_REQUEST');
      }
    }
    expect(await snapshot(server)).toEqual(before);
    // No body, or an empty object, is none.
    for (const [method, path] of routes) {
      const body = path.endsWith('heartbeat') || path.endsWith('leader') ? '{}' : undefined;
      const response = await call(server.url, method, path, body);
      expect(response.status, `${method} ${path}`).toBeLessThan(300);
    }
  });

  it('names the record holding a number beyond a double, rather than store it as null', async () => {
    const response = await call(
      server.url,
      'POST',
      records,
      '{"records":[{"value":1},{"value":{"n":[0, 1e400]}}]}',
    );
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'INVALID_RECORD',
      index: 1,
      field: 'records[1].value.n[1]',
    });
  });

  it('names the record nested too deep, and where in it', async () => {
    const response = await call(
      server.url,
      'POST',
      records,
      `{"records":[{"value":1},{"value":{"a":${nested(5_000)}}}]}`,
    );
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'INVALID_RECORD', index: 1, limit: 100 });
    expect(response.body.error.field).toMatch(/^records\[1\]\.value\.a\[0\]\[0\]/);
  });

  it('shows a stored value too deep for format=json as text, refusing json with 422', async () => {
    const deep = nested(400); // within the topic's max.message.bytes
    const [stored] = await produce(
      server.url,
      'events',
      [{ value: deep, partition: 2 }],
      '?format=text',
    );
    const at = `/v1/topics/events/partitions/2/records?offset=${stored?.offset}&maxRecords=1`;
    const asJson = await call(server.url, 'GET', `${at}&format=json`);
    expect(asJson.status).toBe(422);
    expect(asJson.body.error.code).toBe('RECORD_NOT_DECODABLE');
    const asText = await call(server.url, 'GET', `${at}&format=text`);
    expect(asText.body.records[0].value).toBe(deep);
  });

  it('refuses to show a stored number beyond a double as JSON, rather than show null', async () => {
    // Written as text, the bytes are kept as sent; JSON.parse would read them as Infinity,
    // which JSON shows as null: a tombstone, to a reader of a compacted topic.
    const [stored] = await produce(
      server.url,
      'events',
      [{ value: '{"amount": 1e400}', partition: 2 }],
      '?format=text',
    );
    const at = `/v1/topics/events/partitions/2/records?offset=${stored?.offset}&maxRecords=1`;
    const asJson = await call(server.url, 'GET', `${at}&format=json`);
    expect(asJson.status, JSON.stringify(asJson.body)).toBe(422);
    expect(asJson.body.error.code).toBe('RECORD_NOT_DECODABLE');
    const asText = await call(server.url, 'GET', `${at}&format=text`);
    expect(asText.body.records[0].value).toBe('{"amount": 1e400}');
  });

  it('answers a request node:http cannot parse in the error shape, a HEAD without a body', async () => {
    const raw = async (text: string) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
      socket.end(text);
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
      return { status: head.split(' ')[1], body };
    };
    const before = await snapshot(server);
    for (const request of [
      'FUZZ /v1/topics HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /v1 topics HTTP/1.1\r\nhost: x\r\n\r\n',
      `GET /v1/topics?x=${'x'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
    ]) {
      const answer = await raw(request);
      expect(answer.status, request.slice(0, 30)).toBe('400');
      expect(JSON.parse(answer.body).error.code).toBe('INVALID_REQUEST');
    }
    const head = await raw(`HEAD /v1/topics?x=${'x'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    expect(head).toEqual({ status: '400', body: '' });
    expect(await snapshot(server)).toEqual(before);
  });

  it('answers a request before refusing unreadable bytes sent after it on its connection', async () => {
    /** The statuses and bodies of every answer on one connection, in order. */
    const answers = async (text: string) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
      // Not ended: a client that half-closes is answered nothing (node:http's allowHalfOpen).
      socket.write(text);
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      const all = Buffer.concat(chunks).toString('utf8');
      return [...all.matchAll(/HTTP\/1\.1 (\d+)[\s\S]*?\r\n\r\n(\{[^\r]*?\}(?=HTTP\/|$))/g)].map(
        ([, status, body = '']) => ({ status, body: JSON.parse(body) }),
      );
    };
    const body = JSON.stringify({ records: [{ value: 'then garbage', partition: 1 }] });
    const produceRequest = (connection: string) =>
      `POST ${records} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: ${connection}\r\n\r\n${body}`;
    for (const [connection, after, statuses] of [
      // Bytes after a request that closes the connection are no request: they go unanswered.
      ['close', 'garbage', ['200']],
      // An unreadable request after it is refused once the first is answered.
      ['keep-alive', 'garbage\r\n\r\n', ['200', '400']],
    ] as const) {
      const before = await call(
        server.url,
        'GET',
        '/v1/topics/events/partitions/1/offsets?spec=latest',
      );
      const got = await answers(`${produceRequest(connection)}${after}`);
      expect(
        got.map((a) => a.status),
        connection,
      ).toEqual(statuses);
      // The record the answer acknowledges is the one written, and it is the only one.
      expect(got[0]?.body.offsets).toEqual([
        expect.objectContaining({ partition: 1, offset: before.body.offset }),
      ]);
      if (statuses.length > 1) expect(got[1]?.body.error.code).toBe('INVALID_REQUEST');
      const latest = await call(
        server.url,
        'GET',
        '/v1/topics/events/partitions/1/offsets?spec=latest',
      );
      expect(latest.body.offset).toBe(before.body.offset + 1);
    }
  });

  it('keeps an error answer small, whatever the request gave it to echo', async () => {
    const before = await snapshot(server);
    const huge = 'x'.repeat(2_000_000);
    const answers = [
      await call(server.url, 'POST', '/v1/groups/g/offsets', {
        memberId: huge,
        generation: 1,
        offsets: [{ topic: 'events', partition: 0, offset: 1 }],
      }),
      await call(server.url, 'PATCH', '/v1/topics/events/config', { [huge]: '1' }),
      await call(server.url, 'POST', '/v1/groups/g/offsets/reset', { topic: 'events', to: huge }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(JSON.stringify(answer.body).length).toBeLessThan(4_000);
    }
    expect(await snapshot(server)).toEqual(before);
  });

  it('refuses a body over 6 MB with 413 before reading it all', async () => {
    const before = await snapshot(server);
    const big = JSON.stringify({ records: [{ value: 'x'.repeat(6_000_001) }] });
    const response = await call(server.url, 'POST', records, big);
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await snapshot(server)).toEqual(before);
  });

  it('refuses a request touching more partitions than one commit can hold', async () => {
    await createTopic(server.url, 'wide', 40);
    const before = await snapshot(server);
    const response = await call(server.url, 'POST', '/v1/topics/wide/records', {
      records: Array.from({ length: 40 }, (_, partition) => ({ value: partition, partition })),
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'TOO_MANY_PARTITIONS', limit: 32 });
    expect(await snapshot(server)).toEqual(before);
  });
});
