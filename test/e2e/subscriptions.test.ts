import { beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.ts';
import { dispatchSuite } from '../support/dispatch-suite.ts';
import { call } from '../support/server.ts';

const allowed = 'arn:aws:lambda:us-east-1:123456789012:function:order-projector';
const adminKey = 'subscriptions-admin-key-0123456789';
const admin = { authorization: `Bearer ${adminKey}` };

/** The API as deployed in AWS: auth on, webhooks to public addresses only, one allowed function. */
describe.each(backends)('subscriptions API on $name', (backend) => {
  const suite = dispatchSuite(backend, {
    config: { subscriberFunctions: [allowed] },
    rules: { allowLoopback: false },
    adminKey,
  });
  beforeAll(async () => {
    await call(suite.server.url, 'POST', '/v1/topics', { name: 'orders', partitions: 2 }, admin);
    await call(
      suite.server.url,
      'POST',
      '/v1/topics',
      { name: 'orders.dlq', partitions: 1 },
      admin,
    );
  });

  const request = (method: string, path: string, body?: unknown, headers = admin) =>
    call(suite.server.url, method, path, body, headers);
  const lambdaTarget = { type: 'lambda', function: 'order-projector' };
  /** Every subscription item in the store: a refused request must leave them as they were. */
  const stored = async () => {
    const registry = await suite.stores.metadata.query('subscriptions');
    const ids = registry.map((i) => String(i.data.id));
    const owned = await Promise.all(
      ids.map((id) => suite.stores.metadata.query(`subscription#${id}`)),
    );
    return [...registry, ...owned.flat()].map((i) => [i.pk, i.sk, i.version]);
  };

  it('creates, lists, describes, updates and deletes a subscription', async () => {
    const created = await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'projector',
      target: lambdaTarget,
      batchSize: 250,
      onFailure: { topic: 'orders.dlq' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      name: 'projector',
      topic: 'orders',
      target: lambdaTarget,
      batchSize: 250,
      maxBatchingWindowMs: 0,
      maxRetryAttempts: -1,
      maxRecordAgeMs: -1,
      bisectBatchOnFunctionError: false,
      onFailure: { topic: 'orders.dlq' },
      filter: null,
      enabled: true,
      startingPosition: 'LATEST',
      state: 'active',
      lag: 0,
    });
    expect(created.body.secret).toBeUndefined();
    expect(created.body.partitions).toHaveLength(2);

    const list = await request('GET', '/v1/topics/orders/subscriptions');
    expect(list.body.subscriptions.map((s: { name: string }) => s.name)).toEqual(['projector']);

    const paused = await request('PATCH', '/v1/topics/orders/subscriptions/projector', {
      enabled: false,
      maxBatchingWindowMs: 500,
      onFailure: null,
    });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      enabled: false,
      state: 'disabled',
      maxBatchingWindowMs: 500,
      batchSize: 250,
      onFailure: null,
    });

    expect((await request('DELETE', '/v1/topics/orders/subscriptions/projector')).status).toBe(204);
    const gone = await request('GET', '/v1/topics/orders/subscriptions/projector');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('SUBSCRIPTION_NOT_FOUND');
    expect(await stored()).toEqual([]);
  });

  it('refuses bad settings with 400 in the error shape, and writes nothing', async () => {
    await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'kept',
      target: lambdaTarget,
    });
    const before = await stored();
    const cases: [unknown, string, string][] = [
      [{ name: 'x', target: lambdaTarget, batchSize: 0 }, 'INVALID_REQUEST', 'batchSize'],
      [{ name: 'x', target: lambdaTarget, batchSize: 10_001 }, 'INVALID_REQUEST', 'batchSize'],
      [
        { name: 'x', target: lambdaTarget, maxBatchingWindowMs: 300_001 },
        'INVALID_REQUEST',
        'maxBatchingWindowMs',
      ],
      [
        { name: 'x', target: lambdaTarget, maxRecordAgeMs: 1_000 },
        'INVALID_REQUEST',
        'maxRecordAgeMs',
      ],
      [
        { name: 'x', target: lambdaTarget, maxRetryAttempts: -2 },
        'INVALID_REQUEST',
        'maxRetryAttempts',
      ],
      [{ name: 'x', target: { type: 'sqs', queue: 'q' } }, 'INVALID_REQUEST', 'target.type'],
      [{ name: 'x', target: lambdaTarget, surprise: true }, 'INVALID_REQUEST', ''],
      [{ name: 'not valid!', target: lambdaTarget }, 'INVALID_REQUEST', 'name'],
      // Dot segments: a client would send DELETE …/subscriptions/.. as DELETE /v1/topics/orders.
      [{ name: '..', target: lambdaTarget }, 'INVALID_REQUEST', 'name'],
      [{ name: '.', target: lambdaTarget }, 'INVALID_REQUEST', 'name'],
      [
        { name: 'x', target: lambdaTarget, startingPosition: 'AT_TIMESTAMP' },
        'INVALID_SUBSCRIPTION',
        'startingPositionTimestamp',
      ],
      [
        { name: 'x', target: lambdaTarget, filter: { type: ['order'] } },
        'INVALID_SUBSCRIPTION',
        'filter',
      ],
      [
        { name: 'x', target: lambdaTarget, filter: { value: { n: [{ numeric: ['>>', 1] }] } } },
        'INVALID_SUBSCRIPTION',
        'filter.value.n',
      ],
      [
        { name: 'x', target: lambdaTarget, onFailure: { topic: 'orders' } },
        'INVALID_SUBSCRIPTION',
        'onFailure.topic',
      ],
      [
        { name: 'x', target: { type: 'lambda', function: 'someone-elses' } },
        'INVALID_SUBSCRIPTION',
        'target.function',
      ],
      [
        {
          name: 'x',
          target: {
            type: 'http',
            url: 'https://hooks.example.com',
            headers: { 'content-type': 'x' },
          },
        },
        'INVALID_SUBSCRIPTION',
        'target.headers.content-type',
      ],
    ];
    for (const [body, code, field] of cases) {
      const response = await request('POST', '/v1/topics/orders/subscriptions', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code, JSON.stringify(body)).toBe(code);
      expect(response.body.error.message).toEqual(expect.any(String));
      if (field) expect(response.body.error.field, JSON.stringify(body)).toBe(field);
    }
    const badPatch = await request('PATCH', '/v1/topics/orders/subscriptions/kept', {
      batchSize: -1,
    });
    expect(badPatch.status).toBe(400);
    const missingDlq = await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'x',
      target: lambdaTarget,
      onFailure: { topic: 'no-such-topic' },
    });
    expect(missingDlq.status).toBe(404);
    expect(missingDlq.body.error).toMatchObject({
      code: 'TOPIC_NOT_FOUND',
      field: 'onFailure.topic',
    });
    // A dead-letter topic's name is held to the rules of topic names, on create and change.
    for (const dlq of ['', 'bad name!', 'x'.repeat(1_025), '..']) {
      for (const [method, path, body] of [
        ['POST', '/v1/topics/orders/subscriptions', { name: 'x', target: lambdaTarget }],
        ['PATCH', '/v1/topics/orders/subscriptions/kept', {}],
      ] as const) {
        const response = await request(method, path, { ...body, onFailure: { topic: dlq } });
        expect(response.status, `${method} ${dlq.slice(0, 20)}`).toBe(400);
        expect(response.body.error).toMatchObject({
          code: 'INVALID_TOPIC',
          field: 'onFailure.topic',
        });
      }
    }
    const duplicate = await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'kept',
      target: lambdaTarget,
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('SUBSCRIPTION_ALREADY_EXISTS');
    expect(await stored()).toEqual(before);
    await request('DELETE', '/v1/topics/orders/subscriptions/kept');
  });

  it('keeps any filter the matcher takes, whatever numbers and field names it holds', async () => {
    // Numbers past 2^53 or below 1e-130 and an empty field name are all valid patterns,
    // though DynamoDB cannot hold them as numbers and map keys.
    const filters = [
      { value: { id: [12345678901234567000] } },
      { value: { amount: [{ numeric: ['>=', 1e308] }] } },
      { value: { ratio: [{ 'anything-but': [1e-200] }] } },
      { value: { '': ['blank'] } },
    ];
    for (const [i, filter] of filters.entries()) {
      const name = `filtered-${i}`;
      const created = await request('POST', '/v1/topics/orders/subscriptions', {
        name,
        target: lambdaTarget,
        filter,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.filter).toEqual(filter);
      const path = `/v1/topics/orders/subscriptions/${name}`;
      expect((await request('GET', path)).body.filter).toEqual(filter);
      const changed = await request('PATCH', path, { filter: filters[(i + 1) % filters.length] });
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      expect(changed.body.filter).toEqual(filters[(i + 1) % filters.length]);
      expect((await request('DELETE', path)).status).toBe(204);
    }
  });

  it('still changes a subscription whose dead-letter topic was deleted', async () => {
    await request('POST', '/v1/topics', { name: 'gone.dlq', partitions: 1 });
    const created = await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'orphaned',
      target: lambdaTarget,
      onFailure: { topic: 'gone.dlq' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await request('DELETE', '/v1/topics/gone.dlq')).status).toBe(204);

    // Pausing it, or any change that leaves onFailure alone, is not refused for it.
    const paused = await request('PATCH', '/v1/topics/orders/subscriptions/orphaned', {
      enabled: false,
    });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ enabled: false, onFailure: { topic: 'gone.dlq' } });
    // Naming it again is.
    const renamed = await request('PATCH', '/v1/topics/orders/subscriptions/orphaned', {
      onFailure: { topic: 'gone.dlq' },
    });
    expect(renamed.status).toBe(404);
    expect(renamed.body.error).toMatchObject({ code: 'TOPIC_NOT_FOUND', field: 'onFailure.topic' });
    expect((await request('DELETE', '/v1/topics/orders/subscriptions/orphaned')).status).toBe(204);
  });

  it('answers 404 for an unknown topic or subscription', async () => {
    const onTopic = await request('POST', '/v1/topics/nope/subscriptions', {
      name: 'x',
      target: lambdaTarget,
    });
    expect(onTopic.status).toBe(404);
    expect(onTopic.body.error.code).toBe('TOPIC_NOT_FOUND');
    expect((await request('GET', '/v1/topics/nope/subscriptions')).status).toBe(404);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const response = await request(
        method,
        '/v1/topics/orders/subscriptions/none',
        method === 'PATCH' ? {} : undefined,
      );
      expect(response.status, method).toBe(404);
      expect(response.body.error.code).toBe('SUBSCRIPTION_NOT_FOUND');
    }
  });

  it.each([
    ['the instance metadata service', 'https://169.254.169.254/latest/meta-data/'],
    ['a private address', 'https://10.0.0.7/hook'],
    ['a private address in IPv6', 'https://[fd00::1]/hook'],
    ['an IPv4-mapped loopback address', 'https://[::ffff:127.0.0.1]/hook'],
    ['an IPv4-compatible loopback address', 'https://[::127.0.0.1]/hook'],
    ['loopback, in AWS', 'https://127.0.0.1:9999/hook'],
    ['a name that resolves to loopback', 'https://localhost/hook'],
    ['plain http', 'http://hooks.example.com/hook'],
    ['credentials in the URL', 'https://user:pass@hooks.example.com/hook'],
  ])('refuses a webhook to %s', async (_what, url) => {
    const response = await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'hook',
      target: { type: 'http', url },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'INVALID_SUBSCRIPTION',
      field: 'target.url',
    });
  });

  /** A public address as a literal, so nothing is resolved; the subscription is off. */
  const webhook = (headers: unknown) => ({
    name: 'hook',
    target: { type: 'http', url: 'https://93.184.215.14/hook', headers },
    enabled: false,
  });

  it.each([
    ['a space', 'bad header'],
    ['a colon', 'x-api:key'],
    ['a separator', 'x(y)'],
    ['a non-ASCII letter', 'x-clé'],
    ['nothing', ''],
  ])(
    'refuses a webhook header name with %s, naming it and saying what a name may hold',
    async (_what, name) => {
      const before = await stored();
      const response = await request(
        'POST',
        '/v1/topics/orders/subscriptions',
        webhook({ [name]: 'x' }),
      );
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error).toMatchObject({
        code: 'INVALID_SUBSCRIPTION',
        field: `target.headers[${JSON.stringify(name)}]`,
      });
      expect(response.body.error.message).toContain(`${JSON.stringify(name)} is not a header name`);
      expect(response.body.error.message).toContain('RFC 9110');
      expect(response.body.error.message).toContain("!#$%&'*+-.^_`|~");
      expect(await stored()).toEqual(before);
    },
  );

  const lineBreak = 'a header value may not hold a line break (CR or LF) or NUL';
  const printable = 'a header value holds printable ASCII characters, spaces and tabs only';
  it.each([
    ['a line feed', 'a\nInjected: 1', lineBreak],
    ['a carriage return', 'a\rb', lineBreak],
    ['CR LF', 'a\r\nInjected: 1', lineBreak],
    ['NUL', 'a\u0000b', lineBreak],
    ['a control character', 'bell\u0007', printable],
    ['DEL', 'a\u007fb', printable],
    ['a character past Latin-1', 'price in €', printable],
    ['a Latin-1 letter (it would go as one byte)', 'café', printable],
  ])('refuses a webhook header value holding %s, naming the header', async (_what, value, why) => {
    const before = await stored();
    const response = await request(
      'POST',
      '/v1/topics/orders/subscriptions',
      webhook({ 'x-api-key': value }),
    );
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'INVALID_SUBSCRIPTION',
      field: 'target.headers.x-api-key',
      message: `target.headers.x-api-key: ${why}.`,
    });
    expect(await stored()).toEqual(before);
  });

  it('keeps a webhook header and a filter field named __proto__ like any other name', async () => {
    // As text: an object literal's __proto__ would set its prototype, not send a member.
    const created = await request(
      'POST',
      '/v1/topics/orders/subscriptions',
      `{"name": "proto", "enabled": false,
        "target": {"type": "http", "url": "https://93.184.215.14/hook",
                   "headers": {"__proto__": "kept", "x-a": "1"}},
        "filter": {"value": {"__proto__": ["x"], "a": ["y"]}}}`,
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const described = await request('GET', '/v1/topics/orders/subscriptions/proto');
    for (const answer of [created.body, described.body]) {
      expect(Object.keys(answer.target.headers)).toEqual(['__proto__', 'x-a']);
      expect(Object.keys(answer.filter.value)).toEqual(['__proto__', 'a']);
    }
    // As stored, not only as answered (which shows values as ****).
    const registry = await suite.stores.metadata.query('subscriptions');
    const target = registry.find((i) => i.data.name === 'proto')?.data.target;
    expect(Object.entries(Object(target).headers)).toEqual([
      ['__proto__', 'kept'],
      ['x-a', '1'],
    ]);
    const patched = await request(
      'PATCH',
      '/v1/topics/orders/subscriptions/proto',
      '{"filter": {"value": {"__proto__": ["z"]}}}',
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(JSON.stringify(patched.body.filter)).toBe('{"value":{"__proto__":["z"]}}');
    expect((await request('DELETE', '/v1/topics/orders/subscriptions/proto')).status).toBe(204);
  });

  it('needs READ and ALTER on the topic to subscribe, WRITE on the dead-letter topic, DESCRIBE to look', async () => {
    const key = await request('POST', '/v1/admin/keys', { principal: 'svc' });
    const svc = { authorization: `Bearer ${key.body.key}` };
    const allow = (operation: string, resourceName: string) =>
      request('POST', '/v1/admin/acls', {
        principal: 'svc',
        permission: 'ALLOW',
        operation,
        resourceType: 'TOPIC',
        patternType: 'LITERAL',
        resourceName,
      });
    const body = { name: 'svc-sub', target: lambdaTarget, onFailure: { topic: 'orders.dlq' } };
    const attempt = () => request('POST', '/v1/topics/orders/subscriptions', body, svc);
    await allow('READ', 'orders');
    expect((await attempt()).body.error?.code).toBe('FORBIDDEN');
    await allow('ALTER', 'orders');
    const noWrite = await attempt();
    expect(noWrite.status).toBe(403);
    expect(noWrite.body.error.resourceName).toBe('orders.dlq');
    await allow('WRITE', 'orders.dlq');
    expect((await attempt()).status).toBe(201);
    expect(
      (await request('GET', '/v1/topics/orders/subscriptions/svc-sub', undefined, svc)).status,
    ).toBe(200);
    const other = await request('POST', '/v1/admin/keys', { principal: 'reader' });
    const reader = { authorization: `Bearer ${other.body.key}` };
    expect(
      (await request('GET', '/v1/topics/orders/subscriptions', undefined, reader)).status,
    ).toBe(403);
    expect(
      (await request('DELETE', '/v1/topics/orders/subscriptions/svc-sub', undefined, reader))
        .status,
    ).toBe(403);
    expect(
      (await request('DELETE', '/v1/topics/orders/subscriptions/svc-sub', undefined, svc)).status,
    ).toBe(204);
  });
});

/** The local server as `npm start` runs it: auth off, so no route's access list is read. */
describe.each(backends)('subscriptions API with auth off on $name', (backend) => {
  const suite = dispatchSuite(backend);
  const lambdaTarget = { type: 'lambda', function: 'order-projector' };
  const request = (method: string, path: string, body?: unknown) =>
    call(suite.server.url, method, path, body);
  beforeAll(async () => {
    await request('POST', '/v1/topics', { name: 'orders', partitions: 1 });
    await request('POST', '/v1/topics/orders/subscriptions', {
      name: 'kept',
      target: lambdaTarget,
    });
  });

  it('names onFailure.topic when the dead-letter topic name is malformed', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/topics/orders/subscriptions', { name: 'x', target: lambdaTarget }],
      ['PATCH', '/v1/topics/orders/subscriptions/kept', {}],
    ] as const) {
      const response = await request(method, path, { ...body, onFailure: { topic: 'bad name!' } });
      expect(response.status, method).toBe(400);
      expect(response.body.error).toMatchObject({
        code: 'INVALID_TOPIC',
        field: 'onFailure.topic',
      });
    }
  });
});
