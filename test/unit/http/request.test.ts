import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bodyBytes, type HttpEvent, jsonBody } from '../../../functions/http/request.ts';
import { codeOf } from '../../support/errors.ts';

/** A request as API Gateway hands it to Lambda: a binary body arrives base64-encoded. */
const lambdaEvent = (headers: Record<string, string>, body?: Buffer): HttpEvent =>
  ({
    version: '2.0',
    routeKey: '$default',
    rawPath: '/v1/topics',
    rawQueryString: '',
    headers,
    requestContext: { http: { method: 'POST' }, requestId: 'r-1' },
    ...(body && { body: body.toString('base64'), isBase64Encoded: true }),
  }) as unknown as HttpEvent; // only the fields the handler reads

describe('request bodies in a Lambda event', () => {
  const json = { 'content-type': 'application/json' };
  const text = '{"name": "t"}';

  it.each(['gzip', 'br', 'deflate', 'x-gzip', 'Gzip', 'identity, gzip'])(
    'refuses a body sent with content-encoding %s: 415, send it uncompressed',
    (encoding) => {
      const event = lambdaEvent({ ...json, 'content-encoding': encoding }, gzipSync(text));
      expect(codeOf(() => bodyBytes(event))).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(() => jsonBody(event, z.object({ name: z.string() }))).toThrow(
        /send the body uncompressed/,
      );
    },
  );

  it.each(['identity', 'IDENTITY', ' identity ', ''])(
    'reads a body sent with content-encoding %j as it is',
    (encoding) => {
      const event = lambdaEvent({ ...json, 'content-encoding': encoding }, Buffer.from(text));
      expect(jsonBody(event, z.object({ name: z.string() }))).toEqual({ name: 't' });
    },
  );

  it('does not refuse a request without a body for the header alone', () => {
    expect(bodyBytes(lambdaEvent({ 'content-encoding': 'gzip' })).byteLength).toBe(0);
  });
});
