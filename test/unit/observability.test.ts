import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp, deferBeforeResponse } from '../../functions/app.ts';
import type { Handler } from '../../functions/http/handler.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import type { MetricName, Metrics } from '../../functions/http/metrics.ts';
import { lambdaObservability } from '../../functions/observability.ts';
import { embedded, type OpenBackend } from '../support/backends.ts';

const event = (method: string, path: string, body?: unknown, query = ''): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers: { 'content-type': 'application/json' },
    ...(query && { queryStringParameters: Object.fromEntries(new URLSearchParams(query)) }),
    requestContext: { http: { method }, requestId: 'r-1' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    isBase64Encoded: false,
  }) as unknown as APIGatewayProxyEventV2; // only the fields the handler reads

/** The Embedded Metric Format documents `run` writes to stdout, parsed. */
function emfWrittenBy(run: () => void) {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('_aws'))
    .map((l) => JSON.parse(l));
}

describe('metrics the deployment graphs and alarms on', () => {
  let stores: OpenBackend;
  let app: Handler;
  const counted: [MetricName, number, Record<string, string> | undefined][] = [];
  beforeAll(async () => {
    stores = await embedded.open();
    const metrics: Metrics = {
      count: (name, value = 1, dims) => counted.push([name, value, dims && { ...dims }]),
    };
    app = createApp({
      ...stores,
      log: silentLogger,
      metrics,
      cacheBytes: 1 << 20,
      defer: deferBeforeResponse(silentLogger),
    });
  });
  afterAll(() => stores.close());

  it('counts requests, records, bytes, and errors by code', async () => {
    await app(event('POST', '/v1/topics', { name: 'm', partitions: 1 }));
    counted.length = 0;
    await app(event('POST', '/v1/topics/m/records', { records: [{ value: 1 }, { value: 2 }] }));
    await app(event('GET', '/v1/topics/m/partitions/0/records', undefined, 'offset=0'));
    await app(event('GET', '/v1/topics/nope'));
    expect(counted.filter(([n]) => n === 'Requests')).toHaveLength(3);
    expect(counted).toContainEqual(['Records', 2, { operation: 'produce' }]);
    expect(counted).toContainEqual(['Records', 2, { operation: 'fetch' }]);
    expect(counted.some(([n, v, d]) => n === 'Bytes' && v > 0 && d?.operation === 'produce')).toBe(
      true,
    );
    expect(counted).toContainEqual(['ClientErrors', 1, undefined]);
    expect(counted).toContainEqual(['Errors', 1, { code: 'TOPIC_NOT_FOUND' }]);
  });

  it('writes them in Lambda as CloudWatch Embedded Metric Format under the configured namespace', () => {
    const emf = emfWrittenBy(() => {
      const { counters, publish } = lambdaObservability({
        POWERTOOLS_METRICS_NAMESPACE: 'TributaryTest',
      });
      counters.count('Requests');
      counters.count('Errors', 1, { code: 'FORBIDDEN' });
      publish();
    });
    const names = emf.flatMap((m) =>
      m._aws.CloudWatchMetrics.flatMap((c: { Metrics: { Name: string }[] }) =>
        c.Metrics.map((x) => x.Name),
      ),
    );
    expect(names.sort()).toEqual(['Errors', 'Requests']);
    expect(emf.every((m) => m._aws.CloudWatchMetrics[0].Namespace === 'TributaryTest')).toBe(true);
    expect(emf.find((m) => m.Errors === 1)?.code).toBe('FORBIDDEN');
  });

  it('writes what one invocation counts under the same dimensions as one line, once', () => {
    const emf = emfWrittenBy(() => {
      const { counters, publish } = lambdaObservability({});
      for (const round of [1, 2]) {
        counters.count('Requests');
        counters.count('Records', 2 * round, { operation: 'produce' });
        counters.count('Bytes', 100 * round, { operation: 'produce' });
        publish();
      }
      publish(); // nothing counted since: nothing written
    });
    const produce = emf.filter((m) => m.operation === 'produce');
    expect(produce.map((m) => [m.Records, m.Bytes])).toEqual([
      [2, 100],
      [4, 200],
    ]);
    expect(emf.filter((m) => m.Requests === 1)).toHaveLength(2);
    expect(emf).toHaveLength(4);
  });

  it('refuses an unknown log level at start', () => {
    expect(() => lambdaObservability({ TRIBUTARY_LOG_LEVEL: 'LOUD' })).toThrow(
      /TRIBUTARY_LOG_LEVEL/,
    );
  });
});
