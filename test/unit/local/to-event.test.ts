import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { toApiGatewayEvent } from '../../../functions/local/to-event.ts';

function request(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.headers = headers;
  req.httpVersion = '1.1';
  return req;
}

describe('node:http request → API Gateway HTTP API (payload 2.0) event', () => {
  it('carries path, query, lower-cased headers and a text body as API Gateway does', () => {
    const event = toApiGatewayEvent(
      request('POST', '/v1/topics/t/records?format=text&acks=0', {
        'content-type': 'application/json',
      }),
      Buffer.from('{"records":[]}'),
    );
    expect(event.version).toBe('2.0');
    expect(event.rawPath).toBe('/v1/topics/t/records');
    expect(event.rawQueryString).toBe('format=text&acks=0');
    expect(event.queryStringParameters).toEqual({ format: 'text', acks: '0' });
    expect(event.requestContext.http.method).toBe('POST');
    expect(event.body).toBe('{"records":[]}');
    expect(event.isBase64Encoded).toBe(false);
  });

  it.each([
    ['//', '//', ''],
    ['//x/y', '//x/y', ''],
    ['//x/v1/health?a=1', '//x/v1/health', 'a=1'],
    ['/v1/x/../health', '/v1/x/../health', ''],
    ['/v1/topics/a%2Fb?x=%zz', '/v1/topics/a%2Fb', 'x=%zz'],
    ['http://127.0.0.1:8080/v1/health?a=1', '/v1/health', 'a=1'],
  ])('keeps the path %s as sent: %s', (target, rawPath, rawQueryString) => {
    const event = toApiGatewayEvent(request('GET', target, {}), Buffer.alloc(0));
    expect(event.rawPath).toBe(rawPath);
    expect(event.requestContext.http.path).toBe(rawPath);
    expect(event.rawQueryString).toBe(rawQueryString);
  });

  it('joins repeated query parameters with commas, as API Gateway does', () => {
    const event = toApiGatewayEvent(request('GET', '/x?a=1&a=2', {}), Buffer.alloc(0));
    expect(event.queryStringParameters).toEqual({ a: '1,2' });
    expect(event.body).toBeUndefined();
  });

  it('keeps a query parameter named __proto__, as API Gateway does, so a route can refuse it', () => {
    const event = toApiGatewayEvent(request('GET', '/x?__proto__=1&a=2', {}), Buffer.alloc(0));
    expect(Object.entries(event.queryStringParameters ?? {})).toEqual([
      ['__proto__', '1'],
      ['a', '2'],
    ]);
  });

  it('hands the handler the body as read, making the text only when asked', () => {
    const bytes = Buffer.from('{"records":[{"value":"é"}]}');
    const event = toApiGatewayEvent(
      request('POST', '/x', { 'content-type': 'application/json' }),
      bytes,
    );
    expect(event.rawBody).toBe(bytes);
    expect(event.body).toBe('{"records":[{"value":"é"}]}');
  });

  it('base64-encodes a binary body', () => {
    const event = toApiGatewayEvent(
      request('POST', '/x', { 'content-type': 'application/octet-stream' }),
      Buffer.from([0, 255]),
    );
    expect(event.isBase64Encoded).toBe(true);
    expect(event.body).toBe('AP8=');
  });
});
