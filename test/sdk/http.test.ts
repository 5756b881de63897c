import { describe, expect, it } from 'vitest';
import { type FetchLike, Tributary, TributaryError } from '../../sdk/src/index.ts';
import { failure } from './failure.ts';

/**
 * A fetch that answers from a script, one entry per call, recording each request. These
 * tests are about the client's reaction to answers no healthy local server gives (5xx
 * without a body, codes from a newer server), so they script the answers.
 */
function scripted(...script: (() => Response | Promise<Response>)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init });
    const next = script.shift();
    if (!next) throw new Error(`unexpected call ${url}`);
    return next();
  };
  return { fetch, calls };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
const error = (status: number, code: string, details: Record<string, unknown> = {}) =>
  json(
    status,
    { error: { code, message: `${code} happened`, ...details } },
    {
      'x-request-id': `req-${code}`,
    },
  );
const networkFailure = () => () => Promise.reject(new TypeError('fetch failed'));
const topicList = json(200, { topics: [] });

const client = (fetch: FetchLike, extra: { apiKey?: string; maxAttempts?: number } = {}) =>
  new Tributary({
    url: 'http://tributary.test/prod',
    fetch,
    retry: { maxAttempts: extra.maxAttempts ?? 4, initialDelayMs: 1, maxDelayMs: 2 },
    ...(extra.apiKey !== undefined && { apiKey: extra.apiKey }),
  });

describe('requests', () => {
  it('send the API key as a bearer token, under the base path', async () => {
    const { fetch, calls } = scripted(topicList, topicList);
    await client(fetch, { apiKey: 'trb_secret' }).topics.list();
    await client(fetch).topics.list();
    expect(calls[0]?.url).toBe('http://tributary.test/prod/v1/topics');
    expect(new Headers(calls[0]?.init.headers).get('authorization')).toBe('Bearer trb_secret');
    expect(new Headers(calls[1]?.init.headers).get('authorization')).toBeNull();
  });

  it('percent-encode names in paths', async () => {
    const { fetch, calls } = scripted(error(404, 'TOPIC_NOT_FOUND'));
    await failure(client(fetch).topics.describe('a/b c'));
    expect(calls[0]?.url).toBe('http://tributary.test/prod/v1/topics/a%2Fb%20c');
  });
});

describe('typed errors', () => {
  it('carry the code, status, details and request id of the error body', async () => {
    const { fetch } = scripted(
      error(416, 'OFFSET_OUT_OF_RANGE', { offset: 9, logStartOffset: 0, highWatermark: 2 }),
    );
    const e = await failure(client(fetch).fetch({ topic: 'orders', partition: 1, offset: 9 }));
    expect(e).toBeInstanceOf(TributaryError);
    expect(e).toMatchObject({
      name: 'TributaryError',
      code: 'OFFSET_OUT_OF_RANGE',
      status: 416,
      retryable: false,
      requestId: 'req-OFFSET_OUT_OF_RANGE',
      message: 'OFFSET_OUT_OF_RANGE happened',
      details: { offset: 9, logStartOffset: 0, highWatermark: 2 },
    });
    expect(TributaryError.is(e, 'OFFSET_OUT_OF_RANGE')).toBe(true);
    expect(TributaryError.is(e, 'TOPIC_NOT_FOUND')).toBe(false);
  });

  it('keep a code this SDK does not know, as not retryable, and do not retry it', async () => {
    const { fetch, calls } = scripted(error(503, 'SOMETHING_NEWER'));
    const e = await failure(client(fetch).topics.list());
    expect(e).toMatchObject({ code: 'SOMETHING_NEWER', status: 503, retryable: false });
    expect(calls).toHaveLength(1);
  });

  it('take the request id from the body of a 5xx, where the server names it', async () => {
    const { fetch } = scripted(
      json(500, { error: { code: 'INTERNAL', message: 'logged', requestId: 'abc-123' } }),
    );
    const e = await failure(client(fetch).topics.list());
    expect(e).toMatchObject({ code: 'INTERNAL', requestId: 'abc-123', retryable: false });
    expect(e.details).toEqual({});
  });

  it('name an answer that is not Tributary’s, and do not retry a 4xx one', async () => {
    const { fetch, calls } = scripted(
      () => new Response('<html>Not Found</html>', { status: 404 }),
    );
    const e = await failure(client(fetch).topics.list());
    expect(e.code).toBe('UNEXPECTED_RESPONSE');
    expect(e.message).toContain('is the URL a Tributary API?');
    expect(calls).toHaveLength(1);
  });
});

describe('the retry policy, driven by the codes’ data', () => {
  it('retries a retryable code until it succeeds, resending the same body', async () => {
    const { fetch, calls } = scripted(
      error(503, 'COMMIT_CONFLICT'),
      error(429, 'THROTTLED'),
      json(200, { offsets: [{ partition: 0, offset: 7, timestamp: 1 }] }),
    );
    const acks = await client(fetch).produce({
      topic: 'orders',
      records: [{ value: 1 }],
      producer: { id: 1, epoch: 0, sequence: 0 },
    });
    expect(acks).toEqual([{ topic: 'orders', partition: 0, offset: 7, timestamp: 1 }]);
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((c) => c.init.body)).size).toBe(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { fetch, calls } = scripted(
      ...Array.from({ length: 3 }, () => error(503, 'STORAGE_UNAVAILABLE')),
    );
    const e = await failure(client(fetch, { maxAttempts: 3 }).topics.list());
    expect(e).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(calls).toHaveLength(3);
  });

  it('never retries with retry: false', async () => {
    const { fetch, calls } = scripted(error(503, 'COMMIT_CONFLICT'));
    const tributary = new Tributary({ url: 'http://tributary.test', fetch, retry: false });
    await failure(tributary.topics.list());
    expect(calls).toHaveLength(1);
  });

  it('retries a 5xx without a Tributary body (a gateway) and a network error on a read', async () => {
    const { fetch, calls } = scripted(
      () => new Response('', { status: 502 }),
      json(504, { message: 'Endpoint request timed out' }),
      networkFailure(),
      topicList,
    );
    expect(await client(fetch).topics.list()).toEqual([]);
    expect(calls).toHaveLength(4);
  });

  it('reports UNAVAILABLE and NETWORK_ERROR as retryable when attempts run out', async () => {
    const gateway = scripted(() => new Response('', { status: 503 }));
    expect(await failure(client(gateway.fetch, { maxAttempts: 1 }).topics.list())).toMatchObject({
      code: 'UNAVAILABLE',
      status: 503,
      retryable: true,
    });
    const network = scripted(networkFailure());
    expect(await failure(client(network.fetch, { maxAttempts: 1 }).topics.list())).toMatchObject({
      code: 'NETWORK_ERROR',
      status: undefined,
      retryable: true,
    });
  });

  it('does not resend a request that may have landed unless resending is harmless', async () => {
    // A plain produce whose answer was lost: resending could write the records twice.
    const { fetch, calls } = scripted(networkFailure());
    const e = await failure(client(fetch).produce({ topic: 'orders', records: [{ value: 1 }] }));
    expect(e.code).toBe('NETWORK_ERROR');
    expect(calls).toHaveLength(1);
  });

  it('resends every request whose connection was refused: it never reached the server', async () => {
    const refused = () => () =>
      Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }));
    const { fetch, calls } = scripted(refused(), json(201, { name: 'orders' }));
    await client(fetch).topics.create({ name: 'orders' });
    expect(calls).toHaveLength(2);
  });

  it('times an attempt out, as TIMEOUT', async () => {
    const hang: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const tributary = new Tributary({
      url: 'http://tributary.test',
      fetch: hang,
      timeoutMs: 20,
      retry: false,
    });
    expect(await failure(tributary.topics.list())).toMatchObject({
      code: 'TIMEOUT',
      retryable: true,
    });
  });

  it('stops at once when the caller aborts, as ABORTED', async () => {
    const hang: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const controller = new AbortController();
    const tributary = new Tributary({ url: 'http://tributary.test', fetch: hang });
    const pending = failure(
      tributary.fetch({ topic: 'orders', partition: 0, offset: 0, signal: controller.signal }),
    );
    controller.abort();
    expect(await pending).toMatchObject({ code: 'ABORTED', retryable: false });
  });
});
