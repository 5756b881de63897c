import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../support/backends.ts';
import { type RunningServer, startServer } from '../support/server.ts';

/**
 * CORS as a browser sees it: preflights answered without a key, the allow headers on
 * every answer to an allowed origin (errors too, so a page can read them), and nothing
 * for an origin that is not allowed. The browser test (test/sdk/package.test.ts) drives a
 * real Chromium through it.
 */
describe('CORS', () => {
  const app = 'https://app.example.com';
  const adminKey = 'cors-test-admin-key';
  let listed: RunningServer;
  let open: RunningServer;
  let closed: RunningServer;
  beforeAll(async () => {
    listed = await startServer(embedded, { corsOrigins: [app], adminKey });
    open = await startServer(embedded, { corsOrigins: ['*'] });
    closed = await startServer(embedded);
  });
  afterAll(async () => {
    await Promise.all([listed.close(), open.close(), closed.close()]);
  });

  const preflight = (url: string, origin: string, path = '/v1/topics') =>
    fetch(`${url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  it('answers a preflight from an allowed origin without a key, naming the methods and headers', async () => {
    const answer = await preflight(listed.url, app);
    expect(answer.status).toBe(204);
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      headers[name] = value;
    });
    expect(headers).toMatchObject({
      allow: 'GET, HEAD, POST, OPTIONS',
      'access-control-allow-origin': app,
      'access-control-allow-methods': 'GET, HEAD, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '7200',
      vary: 'origin',
    });
  });

  it('sets the allow headers on answers to an allowed origin, errors included', async () => {
    const refused = await fetch(`${listed.url}/v1/topics`, { headers: { origin: app } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(app);
    expect(refused.headers.get('access-control-expose-headers')).toContain('x-request-id');
    const created = await fetch(`${listed.url}/v1/topics`, {
      method: 'POST',
      headers: {
        origin: app,
        authorization: `Bearer ${adminKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'cors' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(app);
  });

  it('gives an origin it does not allow no CORS headers, so the browser refuses the page', async () => {
    for (const url of [listed.url, closed.url]) {
      const answer = await preflight(url, 'https://evil.example.com');
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
      const read = await fetch(`${url}/v1/health`, {
        headers: { origin: 'https://evil.example.com' },
      });
      expect(read.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it("allows every origin with '*', without varying on it", async () => {
    const answer = await preflight(open.url, 'http://localhost:5173');
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('vary')).toBeNull();
  });

  it('answers OPTIONS with Allow, and 405 with Allow, for any route path', async () => {
    const options = await fetch(`${closed.url}/v1/topics/t/records`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('POST, OPTIONS');
    const wrong = await fetch(`${closed.url}/v1/topics/t/records`, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, OPTIONS');
    expect((await wrong.json()).error).toMatchObject({
      code: 'METHOD_NOT_ALLOWED',
      allow: ['POST', 'OPTIONS'],
    });
    expect((await fetch(`${closed.url}/nowhere`, { method: 'OPTIONS' })).status).toBe(404);
  });
});
