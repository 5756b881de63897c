/**
 * A representative slice of the HTTP end-to-end suites, run against a deployed stack: the
 * Lambda bundle behind API Gateway, on DynamoDB and S3 as CloudFormation made them, with
 * authentication on, and a maintenance pass run by the deployed state machine. The suites'
 * own helpers drive it, in the harness's deployed mode (`useDeployedApi`), sending the admin
 * key on every call.
 *
 * Run by `npm run test:localstack` after `npm run deploy:local`; against AWS, set
 * TRIBUTARY_URL (the ApiUrl output) and TRIBUTARY_API_KEY yourself and run
 * `npx vitest run --config test/localstack/vitest.config.ts`. Names carry a random suffix:
 * a deployed stack keeps what earlier runs made.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fetchAll, produce } from '../support/api.ts';
import { join, owned } from '../support/groups.ts';
import { call, useDeployedApi } from '../support/server.ts';

const deployedUrl = process.env.TRIBUTARY_URL;
const apiKey = process.env.TRIBUTARY_API_KEY;
if (!deployedUrl || !apiKey) {
  throw new Error(
    'Set TRIBUTARY_URL and TRIBUTARY_API_KEY (npm run test:localstack does it from the deployed stack)',
  );
}
const url = useDeployedApi(deployedUrl, { authorization: `Bearer ${apiKey}` });
const suffix = randomUUID().slice(0, 8);
const topic = `deployed-${suffix}`;
const group = `deployed-${suffix}`;

describe(`the deployed API at ${url}`, () => {
  beforeAll(async () => {
    await createTopic(url, topic, 3);
  });
  afterAll(async () => {
    await call(url, 'DELETE', `/v1/groups/${group}`);
    await call(url, 'DELETE', `/v1/topics/${topic}`);
  });

  it('answers its health check without a key, and refuses other requests without one', async () => {
    const health = await fetch(`${url}/v1/health`);
    expect(health.status).toBe(200);
    const anonymous = await fetch(`${url}/v1/topics`);
    expect(anonymous.status).toBe(401);
    const refused = await call(url, 'GET', '/v1/topics', undefined, {
      authorization: 'Bearer not-a-key',
    });
    expect(refused.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('produces JSON and NDJSON, and fetches them back in order', async () => {
    const offsets = await produce(url, topic, [
      {
        key: 'alice',
        value: { clicked: 'buy' },
        partition: 0,
        headers: [{ name: 'trace', value: 'abc' }],
      },
      { key: 'bob', value: { clicked: 'view' }, partition: 0 },
    ]);
    expect(offsets.map((o) => [o.partition, o.offset])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    const ndjson = await call(
      url,
      'POST',
      `/v1/topics/${topic}/records`,
      '{"key":"carol","value":1,"partition":0}\n{"value":"no key","partition":0}\n',
      { 'content-type': 'application/x-ndjson' },
    );
    expect(ndjson.status, JSON.stringify(ndjson.body)).toBe(200);
    const records = await fetchAll(url, topic, 0);
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [0, 'alice', { clicked: 'buy' }],
      [1, 'bob', { clicked: 'view' }],
      [2, 'carol', 1],
      [3, null, 'no key'],
    ]);
    expect(records[0]?.headers).toEqual([{ name: 'trace', value: 'abc' }]);
  });

  it('looks offsets up: earliest and latest', async () => {
    const spec = async (s: string) =>
      (await call(url, 'GET', `/v1/topics/${topic}/partitions/0/offsets?spec=${s}`)).body;
    expect(await spec('earliest')).toMatchObject({ partition: 0, offset: 0 });
    expect(await spec('latest')).toMatchObject({ partition: 0, offset: 4 });
  });

  it('answers a retried idempotent produce with the original offsets, writing once', async () => {
    const init = await call(url, 'POST', '/v1/producers');
    expect(init.status, JSON.stringify(init.body)).toBe(200);
    const { producerId, producerEpoch } = init.body;
    const body = {
      records: [{ key: 'order-7', value: { amount: 42 }, partition: 1 }],
      producer: { id: producerId, epoch: producerEpoch, sequence: 0 },
    };
    const first = await call(url, 'POST', `/v1/topics/${topic}/records`, body);
    const retry = await call(url, 'POST', `/v1/topics/${topic}/records`, body);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(retry.body.offsets).toEqual(first.body.offsets);
    expect(await fetchAll(url, topic, 1)).toHaveLength(1);
  });

  it('runs a maintenance pass: on AWS an execution that GET follows to its report', async () => {
    const started = await call(url, 'POST', '/v1/admin/maintenance', {});
    // A local server (npm start) runs the pass inside the request and answers its report.
    if (started.status === 200) {
      expect(started.body.report).toMatchObject({ passId: expect.any(String), failures: 0 });
      return;
    }
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ id: expect.any(String), status: 'RUNNING' });
    const { id } = started.body;
    // An execution of the deployed state machine: a few Lambda invocations, seconds.
    const deadline = Date.now() + 120_000;
    let run = await call(url, 'GET', `/v1/admin/maintenance/${id}`);
    while (run.status === 200 && run.body.status === 'RUNNING' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      run = await call(url, 'GET', `/v1/admin/maintenance/${id}`);
    }
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({
      id,
      status: 'SUCCEEDED',
      stoppedAt: expect.any(Number),
      report: { passId: expect.any(String), failures: 0 },
    });
    const unknown = await call(url, 'GET', '/v1/admin/maintenance/not-a-run');
    expect(unknown.status).toBe(404);
  }, 180_000);

  it('runs a consumer group: join, poll, commit, lag', async () => {
    await produce(url, topic, [{ value: 'for the group', partition: 2 }]);
    const member = await join(url, group, { topics: [topic], autoOffsetReset: 'earliest' });
    expect(owned(member, topic)).toEqual([0, 1, 2]);
    const polled = await call(
      url,
      'GET',
      `/v1/groups/${group}/members/${member.memberId}/records?maxRecords=100`,
    );
    expect(polled.status, JSON.stringify(polled.body)).toBe(200);
    const seen = polled.body.records.map(
      (r: { partition: number; offset: number }) => `${r.partition}:${r.offset}`,
    );
    expect(seen.sort()).toEqual(['0:0', '0:1', '0:2', '0:3', '1:0', '2:0']);
    const commit = await call(url, 'POST', `/v1/groups/${group}/offsets`, {
      memberId: member.memberId,
      generation: member.generation,
      offsets: [
        { topic, partition: 0, offset: 4 },
        { topic, partition: 1, offset: 1 },
        { topic, partition: 2, offset: 1 },
      ],
    });
    expect(commit.status, JSON.stringify(commit.body)).toBe(200);
    const offsets = (await call(url, 'GET', `/v1/groups/${group}/offsets`)).body.offsets;
    expect(offsets.map((o: { partition: number; lag: number }) => [o.partition, o.lag])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    const left = await call(url, 'DELETE', `/v1/groups/${group}/members/${member.memberId}`);
    expect(left.status).toBe(204);
  });
});
