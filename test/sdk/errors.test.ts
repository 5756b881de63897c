import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCodes,
  type FetchLike,
  isErrorCode,
  retryableCode,
  Tributary,
  TributaryError,
} from '../../sdk/src/index.ts';
import { backends } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';
import { failure } from './failure.ts';

describe('the code lists', () => {
  it('decide retryable from data: the server’s list, then the SDK’s; unknown codes are not', () => {
    for (const [code, { retryable }] of Object.entries(errorCodes)) {
      expect(retryableCode(code)).toBe(retryable);
      expect(isErrorCode(code)).toBe(true);
    }
    expect(retryableCode('NETWORK_ERROR')).toBe(true);
    expect(retryableCode('INVALID_ARGUMENT')).toBe(false);
    expect(retryableCode('A_CODE_FROM_THE_FUTURE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe.each(backends)('typed errors from the server ($name)', (backend) => {
  let server: RunningServer;
  let tributary: Tributary;
  const requestIds: string[] = [];

  beforeAll(async () => {
    server = await startServer(backend);
    const recording: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      requestIds.push(response.headers.get('x-request-id') ?? '');
      return response;
    };
    tributary = new Tributary({ url: server.url, fetch: recording });
    await tributary.topics.create({ name: 'known', partitions: 2 });
  });
  afterAll(() => server.close());

  it.each([
    ['TOPIC_NOT_FOUND', (t: Tributary) => t.topics.describe('unknown'), {}],
    ['TOPIC_ALREADY_EXISTS', (t: Tributary) => t.topics.create({ name: 'known' }), {}],
    ['INVALID_TOPIC', (t: Tributary) => t.topics.create({ name: 'no spaces allowed' }), {}],
    ['INVALID_PARTITIONS', (t: Tributary) => t.topics.addPartitions('known', 1), {}],
    [
      'INVALID_CONFIG',
      (t: Tributary) => t.topics.alterConfig('known', { 'retention.ms': 'soon' }),
      {},
    ],
    [
      'PARTITION_NOT_FOUND',
      (t: Tributary) => t.fetch({ topic: 'known', partition: 7, offset: 0 }),
      {},
    ],
    [
      'OFFSET_OUT_OF_RANGE',
      (t: Tributary) => t.fetch({ topic: 'known', partition: 0, offset: 5 }),
      { offset: 5, logStartOffset: 0, highWatermark: 0 },
    ],
    ['GROUP_NOT_FOUND', (t: Tributary) => t.groups.describe('nobody'), {}],
    ['INVALID_GROUP', (t: Tributary) => t.groups.offsets('bad group'), {}],
  ] as const)(
    '%s: code, status, retryable and details from the answer',
    async (code, act, details) => {
      const error = await failure(act(tributary));
      expect(error).toBeInstanceOf(TributaryError);
      expect(error.name).toBe('TributaryError');
      expect(error.code).toBe(code);
      expect(error.status).toBe(errorCodes[code].status);
      expect(error.retryable).toBe(errorCodes[code].retryable);
      expect(error.details).toMatchObject(details);
      expect(error.message.length).toBeGreaterThan(10);
      // The id the server logged the request under.
      expect(error.requestId).toBe(requestIds.at(-1));
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it('names the failing record of a produce in its details', async () => {
    await tributary.topics.alterConfig('known', { 'max.message.bytes': 50 });
    const error = await failure(
      tributary.produce({
        topic: 'known',
        records: [
          { value: 'ok', partition: 0 },
          { value: 'x'.repeat(100), partition: 0 },
        ],
      }),
    );
    expect(error).toMatchObject({
      code: 'RECORD_TOO_LARGE',
      status: 400,
      details: { index: 1, maxMessageBytes: 50 },
    });
  });

  it('reports RECORD_NOT_DECODABLE for bytes read in a format that cannot carry them', async () => {
    await tributary.produce({
      topic: 'known',
      records: [{ value: new Uint8Array([0xff, 0xfe]), partition: 1 }],
    });
    const error = await failure(tributary.fetch({ topic: 'known', partition: 1, offset: 0 }));
    expect(error).toMatchObject({ code: 'RECORD_NOT_DECODABLE', status: 422 });
    const [record] = (
      await tributary.fetch({ topic: 'known', partition: 1, offset: 0, format: 'binary' })
    ).records;
    expect(record?.value).toEqual(new Uint8Array([0xff, 0xfe]));
  });

  it('refuses a connection that cannot be made as a retryable NETWORK_ERROR, after retrying', async () => {
    let attempts = 0;
    const counting: FetchLike = (url, init) => {
      attempts++;
      return fetch(url, init);
    };
    const closed = new Tributary({
      url: `http://127.0.0.1:${await unusedPort()}`,
      fetch: counting,
      retry: { maxAttempts: 3, initialDelayMs: 1 },
    });
    expect(await failure(closed.topics.list())).toMatchObject({
      code: 'NETWORK_ERROR',
      status: undefined,
      retryable: true,
      details: { cause: 'ECONNREFUSED' },
    });
    expect(attempts).toBe(3);
  });
});

/** A loopback port nothing listens on. */
async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
