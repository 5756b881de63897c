import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, deferBeforeResponse } from '../../functions/app.ts';
import { silentLogger } from '../../functions/http/logger.ts';
import { toApiGatewayResult } from '../../functions/http/responses.ts';
import { embedded, type OpenBackend } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

/**
 * HEAD is GET without the body (RFC 9110): the same status and headers, Content-Length
 * included, wherever GET is served, so `curl -I` and health checks that use HEAD work.
 */
describe('HEAD', () => {
  const adminKey = 'head-test-admin-key';
  let server: RunningServer;
  let secured: RunningServer;
  beforeAll(async () => {
    server = await startServer(embedded);
    secured = await startServer(embedded, { adminKey });
    const created = await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'heads', partitions: 2 }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await Promise.all([server.close(), secured.close()]);
  });

  /** GET and HEAD of one path, with HEAD's body read as bytes. */
  async function both(url: string, path: string, headers: Record<string, string> = {}) {
    const get = await fetch(`${url}${path}`, { headers });
    const getBody = Buffer.from(await get.arrayBuffer());
    const head = await fetch(`${url}${path}`, { method: 'HEAD', headers });
    const headBody = Buffer.from(await head.arrayBuffer());
    return { get, getBody, head, headBody };
  }

  it("answers with GET's status, headers and length, and no body", async () => {
    for (const path of ['/v1/health', '/v1/topics', '/v1/topics/heads', '/v1/openapi.json']) {
      const { get, getBody, head, headBody } = await both(server.url, path);
      expect(get.status, path).toBe(200);
      expect(head.status, path).toBe(200);
      expect(headBody.length, path).toBe(0);
      expect(head.headers.get('content-length'), path).toBe(String(getBody.length));
      expect(head.headers.get('content-type'), path).toBe(get.headers.get('content-type'));
      expect(head.headers.get('x-request-id'), path).toBeTruthy();
    }
  });

  it('reads records as GET would, without sending them', async () => {
    const produced = await fetch(`${server.url}/v1/topics/heads/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: 'a', partition: 1 }] }),
    });
    expect(produced.status).toBe(200);
    const { get, getBody, head, headBody } = await both(
      server.url,
      '/v1/topics/heads/partitions/1/records?offset=0',
    );
    expect(get.status).toBe(200);
    expect(head.status).toBe(200);
    expect(headBody.length).toBe(0);
    expect(head.headers.get('content-length')).toBe(String(getBody.length));
  });

  it("answers errors with the error's status and length, and no body", async () => {
    const missing = await both(server.url, '/v1/topics/nowhere');
    expect(missing.get.status).toBe(404);
    expect(missing.head.status).toBe(404);
    expect(missing.headBody.length).toBe(0);
    expect(missing.head.headers.get('content-length')).toBe(String(missing.getBody.length));

    const unauthenticated = await both(secured.url, '/v1/topics');
    expect(unauthenticated.get.status).toBe(401);
    expect(unauthenticated.head.status).toBe(401);
    expect(unauthenticated.headBody.length).toBe(0);
    const authorized = await both(secured.url, '/v1/topics', {
      authorization: `Bearer ${adminKey}`,
    });
    expect(authorized.head.status).toBe(200);
  });

  it('is 405 where no GET is served, and listed beside GET in Allow', async () => {
    const refused = await fetch(`${server.url}/v1/producers`, { method: 'HEAD' });
    expect(refused.status).toBe(405);
    expect(refused.headers.get('allow')).toBe('POST, OPTIONS');
    expect((await refused.arrayBuffer()).byteLength).toBe(0);

    const options = await fetch(`${server.url}/v1/topics/heads`, { method: 'OPTIONS' });
    expect(options.headers.get('allow')).toBe('GET, HEAD, DELETE, OPTIONS');
    const put = await fetch(`${server.url}/v1/topics/heads`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect((await put.json()).error.allow).toEqual(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
  });
});

describe('HEAD through API Gateway', () => {
  let stores: OpenBackend;
  beforeAll(async () => {
    stores = await embedded.open();
  });
  afterAll(() => stores.close());

  it('gives API Gateway no body, and the length GET would have', async () => {
    const app = createApp({
      ...stores,
      log: silentLogger,
      cacheBytes: 1 << 20,
      defer: deferBeforeResponse(silentLogger),
    });
    const event = (method: string) =>
      ({
        version: '2.0',
        routeKey: '$default',
        rawPath: '/v1/health',
        rawQueryString: '',
        headers: {},
        requestContext: { http: { method }, requestId: 'r-1' },
        isBase64Encoded: false,
      }) as unknown as APIGatewayProxyEventV2; // only the fields the handler reads
    const get = toApiGatewayResult(await app(event('GET')));
    const head = toApiGatewayResult(await app(event('HEAD')));
    expect(get.statusCode).toBe(200);
    expect(head.statusCode).toBe(200);
    expect(head.body).toBeUndefined();
    expect(head.headers?.['content-length']).toBe(String(Buffer.byteLength(get.body ?? '')));
    expect(head.headers?.['content-type']).toBe(get.headers?.['content-type']);
  });
});
