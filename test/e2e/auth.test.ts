import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../support/api.ts';
import { backends } from '../support/backends.ts';
import { call, type RunningServer, startServer } from '../support/server.ts';

const adminKey = 'bootstrap-admin-key-for-tests';

/**
 * Authentication and Kafka-style ACLs on the local server, with the same code as the
 * cloud: principals × operations × literal/prefixed resources × allow/deny, every cell
 * checked, and every refusal made before any side effect.
 */
describe.each(backends)('API keys and ACLs ($name)', (backend) => {
  let server: RunningServer;
  const keys = new Map<string, string>();
  const as = (principal: string) => ({ authorization: `Bearer ${keys.get(principal) ?? 'none'}` });
  const admin = { authorization: `Bearer ${adminKey}` };

  const acl = (
    principal: string,
    permission: 'ALLOW' | 'DENY',
    operation: string,
    resourceType: string,
    patternType: 'LITERAL' | 'PREFIXED',
    resourceName: string,
  ) => ({ principal, permission, operation, resourceType, patternType, resourceName });

  beforeAll(async () => {
    server = await startServer(backend, { adminKey });
    for (const name of ['orders', 'orders-eu', 'payments', 'public-feed', 'scratch']) {
      const created = await call(server.url, 'POST', '/v1/topics', { name, partitions: 1 }, admin);
      expect(created.status).toBe(201);
    }
    for (const principal of [
      'nobody',
      'reader',
      'writer',
      'denied',
      'browser',
      'alterer',
      'creator',
      'consumer',
      'keeper',
    ]) {
      const created = await call(server.url, 'POST', '/v1/admin/keys', { principal }, admin);
      expect(created.status).toBe(201);
      expect(created.body.key).toMatch(/^trb_/);
      keys.set(principal, created.body.key);
    }
    for (const rule of [
      acl('reader', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'orders'),
      acl('writer', 'ALLOW', 'WRITE', 'TOPIC', 'PREFIXED', 'orders'),
      acl('denied', 'ALLOW', 'WRITE', 'TOPIC', 'PREFIXED', 'orders'),
      acl('denied', 'DENY', 'WRITE', 'TOPIC', 'LITERAL', 'orders-eu'),
      acl('browser', 'ALLOW', 'DESCRIBE', 'TOPIC', 'LITERAL', '*'),
      acl('*', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'public-feed'),
      acl('alterer', 'ALLOW', 'ALTER', 'TOPIC', 'LITERAL', 'orders'),
      acl('alterer', 'ALLOW', 'DELETE', 'TOPIC', 'LITERAL', 'scratch'),
      acl('creator', 'ALLOW', 'CREATE', 'TOPIC', 'PREFIXED', 'tmp-'),
      acl('consumer', 'ALLOW', 'READ', 'GROUP', 'LITERAL', 'g1'),
      acl('consumer', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'orders'),
      acl('keeper', 'ALLOW', 'ALTER', 'CLUSTER', 'LITERAL', 'cluster'),
    ]) {
      expect((await call(server.url, 'POST', '/v1/admin/acls', rule, admin)).status).toBe(201);
    }
  });
  afterAll(() => server.close());

  const write = (topic: string) =>
    ['POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }] }] as const;
  const read = (topic: string) =>
    ['GET', `/v1/topics/${topic}/partitions/0/records?offset=0`, undefined] as const;
  const describeTopic = (topic: string) => ['GET', `/v1/topics/${topic}`, undefined] as const;
  const alter = (topic: string) =>
    ['PATCH', `/v1/topics/${topic}/config`, { 'retention.ms': '1000000' }] as const;
  const join = (group: string, topic: string) =>
    ['POST', `/v1/groups/${group}/members`, { topics: [topic] }] as const;

  const matrix: [string, readonly [string, string, unknown], number][] = [
    // No ACL: no access.
    ['nobody', write('orders'), 403],
    ['nobody', read('orders'), 403],
    ['nobody', describeTopic('orders'), 403],
    // LITERAL allow: that resource only; READ implies DESCRIBE.
    ['reader', read('orders'), 200],
    ['reader', read('orders-eu'), 403],
    ['reader', describeTopic('orders'), 200],
    ['reader', write('orders'), 403],
    // PREFIXED allow.
    ['writer', write('orders'), 200],
    ['writer', write('orders-eu'), 200],
    ['writer', write('payments'), 403],
    ['writer', read('orders'), 403],
    // DENY wins over ALLOW.
    ['denied', write('orders'), 200],
    ['denied', write('orders-eu'), 403],
    // LITERAL '*': every resource of the type, this operation only.
    ['browser', describeTopic('payments'), 200],
    ['browser', describeTopic('orders-eu'), 200],
    ['browser', read('payments'), 403],
    // Principal '*': everyone.
    ['nobody', read('public-feed'), 200],
    ['writer', read('public-feed'), 200],
    // ALTER, DELETE, CREATE.
    ['alterer', alter('orders'), 200],
    ['alterer', alter('payments'), 403],
    ['alterer', ['DELETE', '/v1/topics/orders', undefined], 403],
    ['alterer', ['DELETE', '/v1/topics/scratch', undefined], 204],
    ['creator', ['POST', '/v1/topics', { name: 'tmp-1', partitions: 1 }], 201],
    ['creator', ['POST', '/v1/topics', { name: 'other', partitions: 1 }], 403],
    // Groups: READ on the group and on each topic.
    ['consumer', join('g1', 'orders'), 200],
    ['consumer', join('g2', 'orders'), 403],
    ['consumer', join('g1', 'payments'), 403],
    ['reader', join('g1', 'orders'), 403],
    // Keys and ACLs: ALTER on the cluster (or the admin).
    ['nobody', ['POST', '/v1/admin/keys', { principal: 'sneaky' }], 403],
    ['keeper', ['POST', '/v1/admin/keys', { principal: 'made-by-keeper' }], 201],
    [
      'nobody',
      ['POST', '/v1/admin/acls', acl('nobody', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', '*')],
      403,
    ],
    // ALTER implies DESCRIBE, as in Kafka.
    ['keeper', ['GET', '/v1/admin/acls', undefined], 200],
    ['reader', ['GET', '/v1/admin/acls', undefined], 403],
  ];

  it.each(matrix)('%s: %j → %i', async (principal, [method, path, body], status) => {
    const before = await snapshot(server, admin);
    const response = await call(server.url, method, path, body, as(principal));
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    if (status === 403) {
      expect(response.body.error).toMatchObject({ code: 'FORBIDDEN', principal });
      expect(await snapshot(server, admin)).toEqual(before);
    }
  });

  it('asks of a transaction WRITE on its topics and its transactional id, and READ on its group', async () => {
    const created = await call(
      server.url,
      'POST',
      '/v1/admin/keys',
      { principal: 'worker' },
      admin,
    );
    keys.set('worker', created.body.key);
    for (const rule of [
      acl('worker', 'ALLOW', 'WRITE', 'TRANSACTIONAL_ID', 'PREFIXED', 'copy-'),
      acl('worker', 'ALLOW', 'WRITE', 'TOPIC', 'LITERAL', 'orders-eu'),
      acl('worker', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'orders'),
      acl('worker', 'ALLOW', 'READ', 'GROUP', 'LITERAL', 'copiers'),
    ]) {
      expect((await call(server.url, 'POST', '/v1/admin/acls', rule, admin)).status).toBe(201);
    }
    const init = (transactionalId: string, principal: string) =>
      call(server.url, 'POST', '/v1/producers', { transactionalId }, as(principal));
    expect((await init('other-1', 'worker')).status).toBe(403);
    const producer = await init('copy-1', 'worker');
    expect(producer.status).toBe(200);
    const member = await call(
      server.url,
      'POST',
      '/v1/groups/copiers/members',
      { topics: ['orders'], autoOffsetReset: 'earliest' },
      as('worker'),
    );
    expect(member.status).toBe(200);
    const transaction = (topic: string, group = 'copiers') => ({
      producer: { id: producer.body.producerId, epoch: producer.body.producerEpoch, sequence: 0 },
      records: [{ topic, value: 'copied' }],
      offsets: {
        group,
        memberId: member.body.memberId,
        generation: member.body.generation,
        offsets: [{ topic: 'orders', partition: 0, offset: 0 }],
      },
    });
    const refusals: [string, unknown][] = [
      ['worker', transaction('payments')], // no WRITE on the topic
      ['worker', transaction('orders-eu', 'other-group')], // no READ on the group
      ['writer', transaction('orders-eu')], // no WRITE on the transactional id, nor the group
    ];
    for (const [principal, body] of refusals) {
      const before = await snapshot(server, admin);
      const refused = await call(server.url, 'POST', '/v1/transactions', body, as(principal));
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', principal });
      expect(await snapshot(server, admin)).toEqual(before);
    }
    const allowed = await call(
      server.url,
      'POST',
      '/v1/transactions',
      transaction('orders-eu'),
      as('worker'),
    );
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
  });

  it("asks READ on a member's topics of whoever polls it, not only of the principal that joined", async () => {
    await call(
      server.url,
      'POST',
      '/v1/topics/payments/records',
      { records: [{ value: 'secret' }] },
      admin,
    );
    // Joined by a principal that may read payments; its id is no secret (describe shows it).
    const theirs = await call(
      server.url,
      'POST',
      '/v1/groups/g1/members',
      { topics: ['payments'], autoOffsetReset: 'earliest' },
      admin,
    );
    expect(theirs.status).toBe(200);
    const described = await call(server.url, 'GET', '/v1/groups/g1', undefined, as('consumer'));
    expect(JSON.stringify(described.body)).toContain(theirs.body.memberId);
    const before = await snapshot(server, admin);
    const stolen = await call(
      server.url,
      'GET',
      `/v1/groups/g1/members/${theirs.body.memberId}/records`,
      undefined,
      as('consumer'),
    );
    expect(stolen.status, JSON.stringify(stolen.body)).toBe(403);
    expect(stolen.body.error).toMatchObject({
      code: 'FORBIDDEN',
      principal: 'consumer',
      operation: 'READ',
      resourceType: 'TOPIC',
      resourceName: 'payments',
    });
    expect(await snapshot(server, admin)).toEqual(before);
    // The consumer polls its own member, of a topic it may read.
    const mine = await call(
      server.url,
      'POST',
      '/v1/groups/g1/members',
      { topics: ['orders'] },
      as('consumer'),
    );
    const polled = await call(
      server.url,
      'GET',
      `/v1/groups/g1/members/${mine.body.memberId}/records`,
      undefined,
      as('consumer'),
    );
    expect(polled.status, JSON.stringify(polled.body)).toBe(200);
  });

  it('answers 401 without a valid key, before anything else', async () => {
    const before = await snapshot(server, admin);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer trb_not-a-key' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: `Bearer ${adminKey}x` },
    ];
    for (const headers of attempts) {
      const response = await call(
        server.url,
        'POST',
        '/v1/topics/orders/records',
        { records: [{ value: 1 }] },
        headers,
      );
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('UNAUTHENTICATED');
    }
    expect((await call(server.url, 'GET', '/v1/topics/nope', undefined, {})).status).toBe(401);
    expect((await call(server.url, 'GET', '/v1/health', undefined, {})).status).toBe(200);
    expect(await snapshot(server, admin)).toEqual(before);
  });

  it('lists only the topics a principal may describe', async () => {
    const listed = await call(server.url, 'GET', '/v1/topics', undefined, as('reader'));
    expect(listed.body.topics.map((t: { name: string }) => t.name).sort()).toEqual([
      'orders',
      'public-feed',
    ]);
  });

  it('revokes a deleted key, and a new key replaces the old one', async () => {
    const created = await call(
      server.url,
      'POST',
      '/v1/admin/keys',
      { principal: 'rotating' },
      admin,
    );
    await call(
      server.url,
      'POST',
      '/v1/admin/acls',
      acl('rotating', 'ALLOW', 'DESCRIBE', 'TOPIC', 'LITERAL', 'orders'),
      admin,
    );
    const old = { authorization: `Bearer ${created.body.key}` };
    expect((await call(server.url, 'GET', '/v1/topics/orders', undefined, old)).status).toBe(200);
    const rotated = await call(
      server.url,
      'POST',
      '/v1/admin/keys',
      { principal: 'rotating' },
      admin,
    );
    expect((await call(server.url, 'GET', '/v1/topics/orders', undefined, old)).status).toBe(401);
    const fresh = { authorization: `Bearer ${rotated.body.key}` };
    expect((await call(server.url, 'GET', '/v1/topics/orders', undefined, fresh)).status).toBe(200);
    expect(
      (await call(server.url, 'DELETE', '/v1/admin/keys/rotating', undefined, admin)).status,
    ).toBe(204);
    expect((await call(server.url, 'GET', '/v1/topics/orders', undefined, fresh)).status).toBe(401);
    const keys = (await call(server.url, 'GET', '/v1/admin/keys', undefined, admin)).body.keys;
    expect(keys.map((k: { principal: string }) => k.principal)).not.toContain('rotating');
    expect(JSON.stringify(keys)).not.toContain('trb_');
  });

  it('removes an ACL, after which its access is gone', async () => {
    const rule = acl('browser', 'ALLOW', 'DESCRIBE', 'TOPIC', 'LITERAL', '*');
    expect((await call(server.url, 'DELETE', '/v1/admin/acls', rule, admin)).status).toBe(204);
    expect(
      (await call(server.url, 'GET', '/v1/topics/payments', undefined, as('browser'))).status,
    ).toBe(403);
    const again = await call(server.url, 'DELETE', '/v1/admin/acls', rule, admin);
    expect(again.body.error.code).toBe('ACL_NOT_FOUND');
    const listed = (
      await call(server.url, 'GET', '/v1/admin/acls?principal=reader', undefined, admin)
    ).body.acls;
    expect(listed).toEqual([acl('reader', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'orders')]);
  });

  it.each([
    ['a reserved principal', '/v1/admin/keys', { principal: 'admin' }],
    ['a malformed principal', '/v1/admin/keys', { principal: 'has space' }],
    [
      'an unknown operation',
      '/v1/admin/acls',
      { ...acl('x', 'ALLOW', 'READ', 'TOPIC', 'LITERAL', 'a'), operation: 'ALL_OF_IT' },
    ],
    ['a prefixed wildcard', '/v1/admin/acls', acl('x', 'ALLOW', 'READ', 'TOPIC', 'PREFIXED', '*')],
  ])('refuses %s with 400', async (_, path, body) => {
    const response = await call(server.url, 'POST', path, body, admin);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('INVALID_REQUEST');
  });
});
