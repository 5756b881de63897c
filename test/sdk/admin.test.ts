import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Acl, Tributary } from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

const adminKey = 'sdk-admin-key-for-tests';

/** Administration through the SDK, on a server with auth on, as a deployed stack runs. */
describe.each(backends)('SDK administration ($name)', (backend) => {
  let server: RunningServer;
  let admin: Tributary;

  beforeAll(async () => {
    server = await startServer(backend, { adminKey });
    admin = new Tributary({ url: server.url, apiKey: adminKey });
  });
  afterAll(() => server.close());

  it('creates, lists, describes, configures, grows and deletes topics', async () => {
    const created = await admin.topics.create({
      name: 'orders',
      partitions: 2,
      config: { 'retention.ms': '604800000', 'cleanup.policy': 'compact' },
    });
    expect(created.partitions.map((p) => p.partition)).toEqual([0, 1]);
    expect(created.config['cleanup.policy']).toBe('compact');
    await admin.topics.create({ name: 'audit' });

    expect((await admin.topics.list()).map((t) => [t.name, t.partitions])).toEqual([
      ['audit', 1],
      ['orders', 2],
    ]);
    const altered = await admin.topics.alterConfig('orders', {
      'retention.ms': 3_600_000,
      'cleanup.policy': null,
    });
    expect(altered.config).toMatchObject({ 'retention.ms': '3600000', 'cleanup.policy': 'delete' });
    const grown = await admin.topics.addPartitions('orders', 4);
    expect(grown.partitions).toHaveLength(4);
    expect((await admin.topics.describe('orders')).topicId).toBe(created.topicId);

    await admin.topics.delete('audit');
    expect(await failure(admin.topics.describe('audit'))).toMatchObject({
      code: 'TOPIC_NOT_FOUND',
      status: 404,
    });
  });

  it('looks offsets up by position and time; takes a partition and writes as its leader', async () => {
    await admin.topics.create({ name: 'ledger', partitions: 2 });
    // Recent timestamps: older ones would be past the default 7-day retention already.
    const t0 = Date.now() - 60_000;
    const acks = await admin.produce({
      topic: 'ledger',
      records: [
        { value: 'a', partition: 0, timestamp: t0 + 1_000 },
        { value: 'b', partition: 0, timestamp: new Date(t0 + 2_000) },
      ],
    });
    expect(acks.map((a) => a.offset)).toEqual([0, 1]);
    expect(await admin.topics.lookupOffset('ledger', 0, 'earliest')).toEqual({
      topic: 'ledger',
      partition: 0,
      offset: 0,
      timestamp: null,
    });
    expect((await admin.topics.lookupOffset('ledger', 0, 'latest')).offset).toBe(2);
    expect(await admin.topics.lookupOffset('ledger', 0, { timestamp: t0 + 1_500 })).toMatchObject({
      offset: 1,
      timestamp: t0 + 2_000,
    });
    expect(
      await admin.topics.lookupOffset('ledger', 0, { timestamp: new Date(t0 + 5_000) }),
    ).toMatchObject({ offset: null, timestamp: null });
    expect(await admin.topics.lookupOffset('ledger', 0, 'max-timestamp')).toMatchObject({
      offset: 1,
      timestamp: t0 + 2_000,
    });

    // Conditional append: only if the next offset is what we saw.
    const mismatch = await failure(
      admin.produce({
        topic: 'ledger',
        records: [{ value: 'c', partition: 0 }],
        expectedOffset: 0,
      }),
    );
    expect(mismatch).toMatchObject({ code: 'OFFSET_MISMATCH', details: { nextOffset: 2 } });
    await admin.produce({
      topic: 'ledger',
      records: [{ value: 'c', partition: 0 }],
      expectedOffset: 2,
    });

    const { leaderEpoch } = await admin.topics.takeLeadership('ledger', 1);
    expect(leaderEpoch).toBe(1);
    expect(
      await failure(admin.produce({ topic: 'ledger', records: [{ value: 'x', partition: 1 }] })),
    ).toMatchObject({ code: 'FENCED_LEADER_EPOCH' });
    await admin.produce({ topic: 'ledger', records: [{ value: 'y', partition: 1 }], leaderEpoch });
    expect(
      await admin.produce({ topic: 'ledger', records: [{ value: 'z', partition: 0 }], acks: 0 }),
    ).toEqual({ accepted: 1 });
  });

  it('lists, describes, resets, commits for and deletes groups — the last three only when empty', async () => {
    await admin.topics.create({ name: 'events', partitions: 2 });
    const t0 = Date.now() - 60_000;
    await admin.produce({
      topic: 'events',
      records: [0, 1, 2, 3].map((i) => ({
        value: i,
        partition: i % 2,
        timestamp: t0 + 1_000 * i,
      })),
    });
    const consumer = admin.consumer({ group: 'readers', topics: ['events'], maxWaitMs: 0 });
    const iterator = consumer[Symbol.asyncIterator]();
    const polled = iterator.next();
    await new Promise<void>((resolve) => {
      const check = () => (consumer.memberId ? resolve() : setTimeout(check, 10));
      check();
    });

    expect(await admin.groups.list()).toEqual([
      { group: 'readers', state: 'Stable', members: 1, generation: 1 },
    ]);
    const described = await admin.groups.describe('readers');
    expect(described.members[0]).toMatchObject({
      memberId: consumer.memberId,
      topics: ['events'],
      assignment: [{ topic: 'events', partitions: [0, 1] }],
    });
    expect(described.members[0]?.instanceId).toMatch(/^tributary-sdk-/);
    expect(
      await failure(admin.groups.resetOffsets('readers', { topic: 'events', to: 'earliest' })),
    ).toMatchObject({ code: 'GROUP_NOT_EMPTY', status: 409 });
    expect(await failure(admin.groups.delete('readers'))).toMatchObject({
      code: 'GROUP_NOT_EMPTY',
    });

    await consumer.close();
    await polled;
    const reset = await admin.groups.resetOffsets('readers', {
      topic: 'events',
      to: { timestamp: t0 + 1_500 },
    });
    expect(reset.map((o) => [o.partition, o.committedOffset, o.lag])).toEqual([
      [0, 1, 1],
      [1, 1, 1],
    ]);
    await admin.groups.resetOffsets('readers', { topic: 'events', to: 'earliest' });
    await admin.groups.commitOffsets('readers', [
      { topic: 'events', partition: 1, offset: 2, metadata: 'by hand' },
    ]);
    expect(
      (await admin.groups.offsets('readers')).map((o) => [o.committedOffset, o.metadata]),
    ).toEqual([
      [0, ''],
      [2, 'by hand'],
    ]);
    await admin.groups.resetOffsets('readers', { topic: 'events', to: { offset: 1 } });
    expect((await admin.groups.offsets('readers')).map((o) => o.committedOffset)).toEqual([1, 1]);

    await admin.groups.delete('readers');
    expect(await failure(admin.groups.describe('readers'))).toMatchObject({
      code: 'GROUP_NOT_FOUND',
    });
  });

  it('issues API keys and grants, lists and removes ACLs; the keys authenticate SDK clients', async () => {
    await admin.topics.create({ name: 'billing-invoices', partitions: 1 });
    const { principal, key } = await admin.keys.create('billing-service');
    expect(principal).toBe('billing-service');
    const billing = new Tributary({ url: server.url, apiKey: key });

    // A known key without an ACL: FORBIDDEN; no key: UNAUTHENTICATED. Neither is retried.
    expect(await failure(billing.topics.describe('billing-invoices'))).toMatchObject({
      code: 'FORBIDDEN',
      status: 403,
      retryable: false,
    });
    const anonymous = new Tributary({ url: server.url });
    expect(await failure(anonymous.topics.list())).toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
      retryable: false,
    });

    const write: Acl = {
      principal: 'billing-service',
      permission: 'ALLOW',
      operation: 'WRITE',
      resourceType: 'TOPIC',
      patternType: 'PREFIXED',
      resourceName: 'billing-',
    };
    expect(await admin.acls.create(write)).toEqual(write);
    const producer = billing.producer();
    const [ack] = await producer.send({ topic: 'billing-invoices', records: [{ value: 1 }] });
    expect(ack?.offset).toBe(0);
    await producer.close();

    expect(await admin.acls.list({ principal: 'billing-service' })).toEqual([write]);
    expect((await admin.acls.list()).length).toBeGreaterThanOrEqual(1);
    expect((await admin.keys.list()).map((k) => k.principal)).toContain('billing-service');

    await admin.acls.delete(write);
    expect(await admin.acls.list({ principal: 'billing-service' })).toEqual([]);
    expect(await failure(admin.acls.delete(write))).toMatchObject({ code: 'ACL_NOT_FOUND' });
    expect(
      await failure(billing.produce({ topic: 'billing-invoices', records: [{ value: 2 }] })),
    ).toMatchObject({ code: 'FORBIDDEN' });

    await admin.keys.delete('billing-service');
    expect(await failure(billing.topics.list())).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await failure(admin.keys.delete('billing-service'))).toMatchObject({
      code: 'KEY_NOT_FOUND',
      status: 404,
    });
  });

  it('answers health', async () => {
    expect(await admin.health()).toEqual({ status: 'ok' });
  });
});
