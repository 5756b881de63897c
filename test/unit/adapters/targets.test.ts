import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaTarget } from '../../../functions/adapters/aws/lambda-target.ts';
import { parseFunction, refusedAddress } from '../../../functions/adapters/target-policy.ts';
import { sign, WebhookTarget } from '../../../functions/adapters/webhook-target.ts';
import { streamScope } from '../../../functions/dispatch/stream.ts';
import { verifySignature } from '../../../sdk/src/subscriptions.ts';
import { lambdaClientFor } from '../../support/dispatch.ts';
import { type LambdaServer, startLambdaServer, Throttled } from '../../support/lambda-server.ts';

const request = (target: { type: 'lambda'; function: string } | { type: 'http'; url: string }) => ({
  target: target.type === 'http' ? { ...target, headers: {} } : target,
  body: '{"records":{}}',
  subscription: { topic: 't', name: 's' },
  secret: 'whsec_test',
  timeoutMs: 300,
});

describe('the Lambda adapter, through the real client against a server speaking the Invoke API', () => {
  let lambda: LambdaServer;
  let target: LambdaTarget;
  beforeAll(async () => {
    lambda = await startLambdaServer({
      ok: { handler: async () => ({ batchItemFailures: [{ itemIdentifier: '3' }] }) },
      throws: {
        handler: async () => {
          throw new TypeError('bad input');
        },
      },
      slow: { handler: () => new Promise((resolve) => setTimeout(resolve, 2_000)), timeoutMs: 100 },
      hangs: { handler: () => new Promise((resolve) => setTimeout(resolve, 1_000)) },
      busy: {
        handler: async () => {
          throw new Throttled();
        },
      },
    });
    target = new LambdaTarget(lambdaClientFor(lambda));
  });
  afterAll(() => lambda.close());

  it.each([
    ['ok', { kind: 'ok', body: '{"batchItemFailures":[{"itemIdentifier":"3"}]}' }],
    ['throws', { kind: 'failed', error: 'throws failed: TypeError: bad input' }],
    [
      'slow',
      { kind: 'failed', error: expect.stringContaining('Task timed out after 0.10 seconds') },
    ],
    ['hangs', { kind: 'failed', error: 'hangs did not answer within 300 ms' }],
    [
      'busy',
      {
        kind: 'unavailable',
        throttled: true,
        error: expect.stringContaining('TooManyRequestsException'),
      },
    ],
    [
      'missing',
      {
        kind: 'unavailable',
        throttled: false,
        error: expect.stringContaining('ResourceNotFoundException'),
      },
    ],
  ])('%s → %j', async (name, outcome) => {
    expect(await target.deliver(request({ type: 'lambda', function: name }))).toEqual(outcome);
  });

  it('refuses a payload over 6 MB as Lambda does', async () => {
    const outcome = await target.deliver({
      ...request({ type: 'lambda', function: 'ok' }),
      body: JSON.stringify({ big: 'x'.repeat(6_300_000) }),
      timeoutMs: 5_000,
    });
    expect(outcome).toMatchObject({
      kind: 'rejected',
      error: expect.stringContaining('RequestTooLargeException'),
    });
  });
});

describe('the webhook adapter', () => {
  let status = 200;
  let hits = 0;
  let url = '';
  let received: IncomingHttpHeaders = {};
  const server = createServer((req, res) => {
    hits++;
    received = req.headers;
    req.resume();
    req.on('end', () =>
      res.writeHead(status).end(status === 200 ? '{"batchItemFailures":[]}' : 'no'),
    );
  });
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => server.close());

  it.each([
    [200, 'ok'],
    [429, 'unavailable'],
    [503, 'failed'],
    // Credentials mid-rotation, a receiver's timeout, a conflict: retried, as EventBridge's
    // API destinations retry them.
    [401, 'failed'],
    [407, 'failed'],
    [408, 'failed'],
    [409, 'failed'],
    [400, 'rejected'],
    [403, 'rejected'],
    [404, 'rejected'],
    [301, 'rejected'],
  ])('answers %d as %s', async (code, kind) => {
    status = code;
    const local = new WebhookTarget({ rules: { allowLoopback: true } });
    expect((await local.deliver(request({ type: 'http', url }))).kind).toBe(kind);
  });

  it('sends the headers a subscription gives, user-agent too, beside its own', async () => {
    status = 200;
    const local = new WebhookTarget({ rules: { allowLoopback: true } });
    for (const name of ['user-agent', 'User-Agent']) {
      const target = {
        type: 'http' as const,
        url,
        headers: { [name]: 'orders-sync/2', 'x-api-key': 'k' },
      };
      expect((await local.deliver({ ...request({ type: 'http', url }), target })).kind).toBe('ok');
      expect(received).toMatchObject({
        'user-agent': 'orders-sync/2',
        'x-api-key': 'k',
        'content-type': 'application/json',
        'tributary-subscription': 't/s',
      });
    }
    await local.deliver(request({ type: 'http', url }));
    expect(received['user-agent']).toBe('Tributary');
  });

  it('answers a header node:http will not send as an outcome, not a throw, and sends nothing', async () => {
    const before = hits;
    const local = new WebhookTarget({ rules: { allowLoopback: true } });
    for (const value of ['price in €', 'bell\u0007']) {
      const target = { type: 'http' as const, url, headers: { 'x-note': value } };
      const outcome = await local.deliver({ ...request({ type: 'http', url }), target });
      expect(outcome).toMatchObject({
        kind: 'unavailable',
        error: expect.stringContaining('Invalid character in header content'),
      });
    }
    expect(hits).toBe(before);
  });

  it('refuses, without connecting, a name that now resolves to a private or metadata address', async () => {
    const before = hits;
    for (const address of ['10.1.2.3', '169.254.169.254', '127.0.0.1']) {
      const inAws = new WebhookTarget({
        rules: { allowLoopback: false },
        resolve: async () => [address],
      });
      const outcome = await inAws.deliver(
        request({ type: 'http', url: url.replace('127.0.0.1', 'hooks.example.com') }),
      );
      expect(outcome).toMatchObject({
        kind: 'unavailable',
        error: expect.stringContaining('not a public address'),
      });
    }
    const literal = new WebhookTarget({ rules: { allowLoopback: false } });
    expect((await literal.deliver(request({ type: 'http', url }))).kind).toBe('unavailable');
    expect(hits).toBe(before);
  });

  it('signs t.body with HMAC-SHA256, as the SDK verifies it', async () => {
    const header = sign('whsec_test', 1_700_000_000_000, '{"a":1}');
    expect(header).toMatch(/^t=1700000000000,v1=[0-9a-f]{64}$/);
    expect(
      await verifySignature({
        secret: 'whsec_test',
        header,
        body: '{"a":1}',
        now: 1_700_000_000_500,
      }),
    ).toBe(true);
  });
});

describe('address rules and function names', () => {
  it.each([
    ['8.8.8.8', false, undefined],
    ['10.0.0.1', true, 'private'],
    ['172.16.5.4', true, 'private'],
    ['192.168.1.1', true, 'private'],
    ['100.64.0.1', true, 'carrierGradeNat'],
    ['169.254.169.254', true, 'linkLocal'],
    ['127.0.0.1', false, 'loopback'],
    ['::1', false, 'loopback'],
    ['::ffff:10.0.0.1', true, 'private'],
    ['fe80::1', true, 'linkLocal'],
    ['fd12::1', true, 'uniqueLocal'],
    ['0.0.0.0', true, 'unspecified'],
    ['2606:4700::1111', false, undefined],
    // IPv4-compatible (deprecated), which ipaddr.js calls unicast: outside 2000::/3.
    ['::7f00:1', true, 'not a global unicast'],
    ['::a00:1', true, 'not a global unicast'],
  ])('%s: refused in AWS (%s)', (address, refusedLocally, range) => {
    const inAws = refusedAddress(address, { allowLoopback: false });
    if (range === undefined) expect(inAws).toBeUndefined();
    else expect(inAws).toContain(range);
    expect(refusedAddress(address, { allowLoopback: true }) !== undefined).toBe(refusedLocally);
  });

  it('reads names, partial ARNs and full ARNs with qualifiers', () => {
    expect(parseFunction('fn')).toMatchObject({ name: 'fn', qualifier: undefined });
    expect(parseFunction('fn:live')).toMatchObject({ name: 'fn', qualifier: 'live' });
    expect(parseFunction('123456789012:function:fn')).toMatchObject({
      name: 'fn',
      account: '123456789012',
    });
    expect(parseFunction('arn:aws:lambda:eu-west-1:123456789012:function:fn:7')).toMatchObject({
      name: 'fn',
      qualifier: '7',
      region: 'eu-west-1',
      account: '123456789012',
    });
  });
});

describe('stream batches', () => {
  it('wake the partitions whose heads changed, and nothing else', () => {
    const record = (pk: string, sk: string) => ({
      dynamodb: { Keys: { pk: { S: pk }, sk: { S: sk } } },
    });
    const scope = streamScope({
      Records: [
        record('log#t1#0', 'head'),
        record('log#t1#3', 'head'),
        record('log#t2#1', 'head'),
        record('log#t1#0', 'head'),
        record('log#t1#0', 'b#0000000000000007'),
        record('group#g', 'state'),
      ],
    });
    expect(scope).toEqual({
      kind: 'partitions',
      partitions: new Map([
        ['t1', new Set([0, 3])],
        ['t2', new Set([1])],
      ]),
    });
  });
});
