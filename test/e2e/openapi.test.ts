/**
 * docs/openapi.yaml cannot drift from the API: it is a valid OpenAPI 3.1 document, it has
 * an operation for every route of the handler's route table and none other, its error
 * codes are the shared list, and real answers of the local server — successes and
 * errors, on both storage backends — are validated against it by openapi-backend.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DeploymentTargetPolicy } from '../../functions/adapters/target-policy.ts';
import { routes } from '../../functions/http/handler.ts';
import { errorCodes } from '../../sdk/src/error-codes.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

const specPath = join(import.meta.dirname, '../../docs/openapi.yaml');
type Spec = {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, { enum?: string[]; allOf?: unknown[] }> };
};
const loadSpec = async (): Promise<Spec> => parse(await readFile(specPath, 'utf8'));

const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

describe('docs/openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const spec = await loadSpec();
    const validator = new Validator();
    const result = await validator.validate(structuredClone(spec));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(validator.version).toBe('3.1');
  });

  it('describes every route the handler serves, and no other', async () => {
    const { paths } = await loadSpec();
    const served = routes.map((route) => `${route.method} ${route.path}`);
    const missing = served.filter((key) => {
      const [method = '', path = ''] = key.split(' ');
      return paths[path]?.[method.toLowerCase()] === undefined;
    });
    expect(
      missing,
      `routes with no operation in docs/openapi.yaml (add paths['<path>'].<method> for each): ${missing.join(', ')}`,
    ).toEqual([]);
    const described = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => httpMethods.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    const extra = described.filter((key) => !served.includes(key));
    expect(
      extra,
      `operations in docs/openapi.yaml that no route serves: ${extra.join(', ')}`,
    ).toEqual([]);
  });

  it('lists every error code, each under its HTTP status', async () => {
    const { schemas } = (await loadSpec()).components;
    expect(schemas.ErrorCode?.enum).toEqual(Object.keys(errorCodes));
    const byStatus = new Map<number, string[]>();
    for (const [code, { status }] of Object.entries(errorCodes)) {
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of byStatus) {
      const [, narrowing] = schemas[`Error${status}`]?.allOf ?? [];
      const listed = (
        narrowing as { properties: { error: { properties: { code: { enum: string[] } } } } }
      )?.properties.error.properties.code.enum;
      expect(listed, `components.schemas.Error${status}`).toEqual(codes);
    }
  });
});

describe.each(backends)('real answers match docs/openapi.yaml ($name)', (backend) => {
  const adminKey = 'openapi-test-admin-key';
  const admin = { authorization: `Bearer ${adminKey}` };
  let server: RunningServer;
  let api: OpenAPIBackend;
  /** Every status each operation was seen to answer with. */
  const seen = new Map<string, Set<number>>();

  beforeAll(async () => {
    server = await startServer(backend, {
      adminKey,
      // As npm start allows: webhooks to this machine. No dispatcher runs, so none is called.
      targets: new DeploymentTargetPolicy({
        allowedFunctions: undefined,
        rules: { allowLoopback: true },
      }),
    });
    // quick: the document is checked as OpenAPI 3.1 above; openapi-backend's own check
    // knows OpenAPI 3.0 only.
    api = new OpenAPIBackend({ definition: specPath, quick: true });
    await api.init();
  });
  afterAll(() => server.close());

  /**
   * Sends a request and checks its answer against the operation the description gives
   * for it: a status the operation lists, the documented content type and body, and the
   * x-request-id header. Resolves with the parsed body.
   */
  async function check(
    method: string,
    target: string,
    options: { body?: unknown; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<{ status: number; body: unknown; headers: Headers }> {
    const headers: Record<string, string> = { ...admin, ...options.headers };
    const init: RequestInit = { method, headers };
    if (options.raw !== undefined) init.body = options.raw;
    else if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${server.url}${target}`, init);
    const text = await response.text();
    const url = new URL(target, server.url);
    const operation: Operation | undefined = api.matchOperation({
      method,
      path: url.pathname,
      headers,
      query: Object.fromEntries(url.searchParams),
    });
    const what = `${method} ${target} → ${response.status} ${text.slice(0, 300)}`;
    expect(operation, `no operation in docs/openapi.yaml for ${what}`).toBeDefined();
    if (!operation) throw new Error('unreachable');
    const documented = operation.responses?.[String(response.status)];
    expect(documented, `${operation.operationId} does not document status ${what}`).toBeDefined();
    expect(response.headers.get('x-request-id'), what).toBeTruthy();
    let body: unknown;
    if (text === '') {
      expect(
        (documented as { content?: unknown }).content,
        `${what}: the description promises a body`,
      ).toBeUndefined();
    } else {
      expect(response.headers.get('content-type'), what).toBe('application/json');
      body = JSON.parse(text);
      const { errors } = api.validateResponse(body, operation, response.status);
      expect(errors ?? [], `${what}\n${JSON.stringify(errors, null, 2)}`).toEqual([]);
    }
    const statuses = seen.get(operation.operationId ?? '') ?? new Set<number>();
    statuses.add(response.status);
    seen.set(operation.operationId ?? '', statuses);
    return { status: response.status, body, headers: response.headers };
  }

  // biome-ignore lint/suspicious/noExplicitAny: the scenario reads answers field by field.
  const bodyOf = async (pending: Promise<{ body: unknown }>): Promise<any> => (await pending).body;

  it('for every route, its successes and its errors', async () => {
    // Service
    await check('GET', '/');
    await check('GET', '/v1');
    await check('GET', '/v1/health');
    expect(await bodyOf(check('GET', '/v1/openapi.json'))).toEqual(await loadSpec());
    await check('GET', '/v1?unknown=1');

    // Topics
    await check('POST', '/v1/topics', { body: { name: 'oa', partitions: 2 } });
    await check('POST', '/v1/topics', { body: { name: 'oa' } });
    await check('POST', '/v1/topics', { body: { name: 'oa.bin' } });
    // A compacted topic's partitions also say how far compaction got.
    await check('POST', '/v1/topics', {
      body: { name: 'oa.log', config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': 0 } },
    });
    await check('POST', '/v1/topics', { body: { nmae: 'x' } });
    await check('POST', '/v1/topics', { body: { name: 'x' }, headers: { authorization: '' } });
    await check('POST', '/v1/topics', { raw: 'name=x', headers: { 'content-type': 'text/plain' } });
    await check('GET', '/v1/topics');
    await check('GET', '/v1/topics/oa');
    await check('GET', '/v1/topics/missing');
    await check('PATCH', '/v1/topics/oa/config', { body: { 'retention.ms': '86400000' } });
    await check('PATCH', '/v1/topics/oa/config', { body: { 'retention.ms': 'soon' } });
    await check('POST', '/v1/topics/oa/partitions', { body: { count: 3 } });
    await check('POST', '/v1/topics/oa/partitions', { body: { count: 1 } });

    // Subscriptions
    const hook = await bodyOf(
      check('POST', '/v1/topics/oa/subscriptions', {
        body: {
          name: 'oa-hook',
          target: {
            type: 'http',
            url: 'http://127.0.0.1:9/oa',
            headers: { authorization: 'Bearer oa' },
          },
          startingPosition: 'TRIM_HORIZON',
          maxRecordAgeMs: 60_000,
          onFailure: { topic: 'oa.log' },
          filter: { value: { n: [{ numeric: ['>', 0] }] } },
        },
      }),
    );
    expect(hook.secret).toMatch(/^whsec_/);
    const lambda = { type: 'lambda', function: 'oa-fn' };
    await check('POST', '/v1/topics/oa/subscriptions', {
      body: {
        name: 'oa-fn',
        target: lambda,
        startingPosition: 'AT_TIMESTAMP',
        startingPositionTimestamp: 1,
      },
    });
    await check('POST', '/v1/topics/oa/subscriptions', { body: { name: 'oa-fn', target: lambda } });
    await check('POST', '/v1/topics/oa/subscriptions', {
      body: { name: 'oa-private', target: { type: 'http', url: 'https://10.0.0.7/' } },
    });
    await check('GET', '/v1/topics/oa/subscriptions');
    await check('GET', '/v1/topics/missing/subscriptions');
    await check('GET', '/v1/topics/oa/subscriptions/oa-hook');
    await check('GET', '/v1/topics/oa/subscriptions/oa-none');
    const rotated = await bodyOf(
      check('PATCH', '/v1/topics/oa/subscriptions/oa-hook', {
        body: { enabled: false, filter: null, rotateSecret: true },
      }),
    );
    expect(rotated.secret).not.toBe(hook.secret);
    await check('PATCH', '/v1/topics/oa/subscriptions/oa-fn', { body: { rotateSecret: true } });
    await check('DELETE', '/v1/topics/oa/subscriptions/oa-hook');
    await check('DELETE', '/v1/topics/oa/subscriptions/oa-hook');

    // Records
    const produced = await bodyOf(
      check('POST', '/v1/topics/oa/records', {
        body: {
          records: [
            { key: 'k', value: { n: 1 }, headers: [{ name: 'h', value: 'v' }], partition: 0 },
            { value: null, partition: 0 },
          ],
        },
      }),
    );
    expect(produced.offsets).toHaveLength(2);
    await check('POST', '/v1/topics/oa/records?acks=0', { body: { records: [{ value: 1 }] } });
    await check('POST', '/v1/topics/oa/records', {
      raw: '{"value": "a", "partition": 1}\n{"value": "b", "partition": 1}\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    await check('POST', '/v1/topics/oa/records', { body: { records: [] } });
    await check('POST', '/v1/topics/oa/records', { body: { records: [{ vaule: 1 }] } });
    await check('POST', '/v1/topics/oa/records?expectedOffset=99', {
      body: { records: [{ value: 1, partition: 1 }] },
    });
    await check('POST', '/v1/topics/oa/records', {
      body: { records: [{ value: 1, partition: 9 }] },
    });
    // Bytes that are not UTF-8: fetched as JSON they are not decodable (422).
    await check('POST', '/v1/topics/oa.bin/records?format=base64', {
      body: { records: [{ value: '/w==' }] },
    });
    await check('GET', '/v1/topics/oa/partitions/0/records?offset=0');
    await check('GET', '/v1/topics/oa/partitions/1/records?offset=0&format=text&maxRecords=1');
    await check('GET', '/v1/topics/oa/partitions/0/records?offset=99');
    await check('GET', '/v1/topics/oa/partitions/0/records');
    await check('GET', '/v1/topics/oa.bin/partitions/0/records?offset=0');
    await check('GET', '/v1/topics/oa/partitions/0/offsets?spec=earliest');
    await check('GET', '/v1/topics/oa/partitions/0/offsets?spec=timestamp:1');
    await check('GET', '/v1/topics/oa/partitions/0/offsets?spec=max-timestamp');
    await check('GET', '/v1/topics/oa/partitions/2/offsets?spec=timestamp:1');
    await check('GET', '/v1/topics/oa/partitions/7/offsets?spec=latest');
    await check('POST', '/v1/topics/oa/partitions/1/leader');
    await check('POST', '/v1/topics/oa/records', {
      body: { records: [{ value: 1, partition: 1 }], leaderEpoch: 0 },
    });

    // Producers
    const producer = await bodyOf(check('POST', '/v1/producers', { body: {} }));
    await check('POST', '/v1/producers', { body: { transactionalId: 'oa-1' } });
    await check('POST', '/v1/producers', { body: { transactionalid: 'oa-1' } });
    await check('POST', '/v1/topics/oa/records', {
      body: {
        records: [{ value: 1, partition: 0 }],
        producer: { id: producer.producerId, epoch: 0, sequence: 3 },
      },
    });

    // Groups
    const member = await bodyOf(
      check('POST', '/v1/groups/oa-g/members', {
        body: { topics: ['oa', 'oa-later'], autoOffsetReset: 'earliest' },
      }),
    );
    expect(member.unknownTopics).toEqual(['oa-later']);
    const memberPath = `/v1/groups/oa-g/members/${member.memberId}`;
    await check('POST', '/v1/groups/oa-g/members', { body: { topics: 'oa' } });
    await check('POST', `${memberPath}/heartbeat`);
    await check('POST', '/v1/groups/oa-g/members/nobody/heartbeat');
    const polled = await bodyOf(check('GET', `${memberPath}/records?maxRecords=2`));
    expect(polled.records.length).toBeGreaterThan(0);
    await check('GET', `${memberPath}/records?cursor=${polled.cursor}&maxRecords=0`);
    await check('POST', '/v1/groups/oa-g/offsets', {
      body: {
        memberId: member.memberId,
        generation: member.generation,
        offsets: [{ topic: 'oa', partition: 0, offset: 1 }],
      },
    });
    await check('POST', '/v1/groups/oa-g/offsets', {
      body: {
        memberId: member.memberId,
        generation: member.generation + 5,
        offsets: [{ topic: 'oa', partition: 0, offset: 1 }],
      },
    });
    // Transactions: records and offsets together, a retry, a fenced and a malformed one.
    const transactional = await bodyOf(
      check('POST', '/v1/producers', { body: { transactionalId: 'oa-tx' } }),
    );
    const transaction = {
      producer: { id: transactional.producerId, epoch: transactional.producerEpoch, sequence: 0 },
      records: [{ topic: 'oa', key: 'k', value: { n: 1 } }],
      offsets: {
        group: 'oa-g',
        memberId: member.memberId,
        generation: member.generation,
        offsets: [{ topic: 'oa', partition: 0, offset: 2 }],
      },
    };
    await check('POST', '/v1/transactions', { body: transaction });
    await check('POST', '/v1/transactions', { body: transaction });
    await check('POST', '/v1/transactions', {
      body: { ...transaction, producer: { ...transaction.producer, epoch: 0, sequence: 9 } },
    });
    await check('POST', '/v1/transactions', { body: { ...transaction, records: [{ value: 1 }] } });
    await check('GET', '/v1/groups/oa-g/offsets');
    await check('GET', '/v1/groups/no-such-group/offsets');
    await check('GET', '/v1/groups');
    await check('GET', '/v1/groups/oa-g');
    await check('GET', '/v1/groups/no-such-group');
    await check('POST', '/v1/groups/oa-g/offsets/reset', { body: { topic: 'oa', to: 'earliest' } });
    await check('DELETE', '/v1/groups/oa-g');
    await check('DELETE', memberPath);
    await check('POST', '/v1/groups/oa-g/offsets/reset', { body: { topic: 'oa', to: 'latest' } });
    await check('POST', '/v1/groups/oa-g/offsets/reset', { body: { topic: 'gone', to: '0' } });
    await check('DELETE', '/v1/groups/oa-g');

    // Keys, ACLs and maintenance
    const { key } = await bodyOf(
      check('POST', '/v1/admin/keys', { body: { principal: 'oa-user' } }),
    );
    await check('GET', '/v1/admin/keys');
    const acl = {
      principal: 'oa-user',
      permission: 'ALLOW',
      operation: 'READ',
      resourceType: 'TOPIC',
      resourceName: 'oa',
    };
    await check('POST', '/v1/admin/acls', { body: acl });
    await check('POST', '/v1/admin/acls', { body: { ...acl, permission: 'MAYBE' } });
    await check('GET', '/v1/admin/acls?principal=oa-user');
    await check('GET', '/v1/topics', { headers: { authorization: `Bearer ${key}` } });
    await check('DELETE', '/v1/topics/oa', { headers: { authorization: `Bearer ${key}` } });
    await check('DELETE', '/v1/admin/acls', { body: acl });
    await check('DELETE', '/v1/admin/acls', { body: acl });
    await check('DELETE', '/v1/admin/keys/oa-user');
    await check('DELETE', '/v1/admin/keys/oa-user');
    const { report } = await bodyOf(check('POST', '/v1/admin/maintenance'));
    await check('GET', `/v1/admin/maintenance/${report.passId}`);
    await check('GET', '/v1/admin/maintenance/no-such-run');
    await check('DELETE', '/v1/topics/oa');
    await check('DELETE', '/v1/topics/oa');

    // Every operation was seen to succeed at least once.
    const unexercised = api
      .getOperations()
      .map((o) => o.operationId ?? '')
      .filter((id) => ![...(seen.get(id) ?? [])].some((status) => status < 300));
    expect(
      unexercised,
      `operations no request above exercised successfully (add one): ${unexercised.join(', ')}`,
    ).toEqual([]);
  });
});
