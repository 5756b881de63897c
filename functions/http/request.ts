import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import { type ErrorDetails, TributaryError } from '../core/errors.ts';
import { type JsonTextProblem, jsonTextProblem, maxJsonDepth, renderPath } from './json-text.ts';
import { type RecordFormat, recordFormats } from './record-format.ts';
import { invalidRequest } from './schema-errors.ts';

/** Lambda refuses invocation payloads over 6 MB; the handler refuses bodies over it first. */
export const maxBodyBytes = 6_000_000;

/**
 * The event the handler takes: API Gateway's HTTP API event (payload 2.0). The local server
 * adds the body's bytes as read from the socket (`rawBody`), which the handler reads rather
 * than `body`, so they are not decoded into text to be encoded back. Those bytes are lent
 * for the call: the server reads the next request into them once the answer is written, so
 * work that goes on after the answer (acks=0) copies what it needs first.
 */
export type HttpEvent = APIGatewayProxyEventV2 & { readonly rawBody?: Buffer };

export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  // API Gateway HTTP APIs lower-case header names.
  return event.headers?.[name];
}

/** The body as bytes, refused when compressed or over the payload limit. */
export function bodyBytes(event: HttpEvent): Buffer {
  const raw = event.rawBody ?? event.body ?? '';
  const bytes = Buffer.isBuffer(raw)
    ? raw
    : event.isBase64Encoded
      ? Buffer.from(raw, 'base64')
      : Buffer.from(raw, 'utf8');
  if (bytes.byteLength > 0) assertNotEncoded(event);
  if (bytes.byteLength > maxBodyBytes) throw payloadTooLarge(bytes.byteLength);
  return bytes;
}

/**
 * Refuses a body sent with a Content-Encoding (gzip, br, …): neither API Gateway nor the
 * local server decompresses it, and read as it is, its bytes would be refused as broken JSON
 * (or, worse, taken). `identity`, which means no encoding, is accepted; a request with no
 * body is not refused for the header alone.
 */
function assertNotEncoded(event: APIGatewayProxyEventV2): void {
  const declared = header(event, 'content-encoding');
  if (declared === undefined) return;
  const codings = declared
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '');
  if (codings.every((coding) => coding === 'identity')) return;
  throw new TributaryError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Encoding '${declared}' is not accepted: send the body uncompressed, without a Content-Encoding header (or with 'identity').`,
    { contentEncoding: declared },
  );
}

/**
 * Refuses a body that is not UTF-8, as JSON text must be (RFC 8259). Decoded anyway, each
 * bad byte would become U+FFFD and be stored in place of what was sent, and an encoded
 * surrogate (ED A0 80) would pass where its escape `\ud800` is refused.
 */
export function assertUtf8(bytes: Buffer): void {
  if (isUtf8(bytes)) return;
  throw new TributaryError(
    'INVALID_REQUEST',
    'The request body is not valid UTF-8, as JSON text must be; send binary data as base64 (format=base64).',
  );
}

export const payloadTooLarge = (size: number) =>
  new TributaryError(
    'PAYLOAD_TOO_LARGE',
    `The request body is ${size} bytes; the limit is ${maxBodyBytes} (6 MB, Lambda's payload limit). Send fewer records per request.`,
    { size, limit: maxBodyBytes },
  );

export type BodyKind = 'json' | 'ndjson';

/** application/json (also assumed when absent) or application/x-ndjson. */
export function bodyKind(event: APIGatewayProxyEventV2, allowNdjson: boolean): BodyKind {
  const type = (header(event, 'content-type') ?? 'application/json')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  if (type === 'application/json') return 'json';
  if (allowNdjson && (type === 'application/x-ndjson' || type === 'application/jsonl'))
    return 'ndjson';
  throw new TributaryError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type '${type}' is not accepted here; send application/json${allowNdjson ? ' or application/x-ndjson' : ''} (curl: -H 'content-type: application/json').`,
    { contentType: type },
  );
}

/**
 * A JSON body or NDJSON line, parsed. Text that is not JSON, nests deeper than
 * {@link maxJsonDepth} or holds an unpaired surrogate is a 400: INVALID_REQUEST, unless
 * `refuse` answers the problem otherwise (a produce request names the record).
 */
export function parseJson(
  text: string,
  where = 'The request body',
  refuse?: (problem: JsonTextProblem) => TributaryError | undefined,
): unknown {
  const problem = jsonTextProblem(text);
  if (problem) {
    const { message, details } = jsonTextRefusal(problem, where);
    throw refuse?.(problem) ?? new TributaryError('INVALID_REQUEST', message, details);
  }
  try {
    return JSON.parse(text);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TributaryError('INVALID_REQUEST', `${where} is not valid JSON: ${reason}`);
  }
}

/** Why JSON text is refused, naming where in it (after `prefix`, e.g. `line 3`). */
export function jsonTextRefusal(
  problem: JsonTextProblem,
  where: string,
  prefix = '',
): { message: string; details: ErrorDetails } {
  const field = renderPath(problem.path, { prefix });
  const at = field ? ` at ${field}` : '';
  switch (problem.kind) {
    case 'too-deep':
      return {
        message: `${where} nests arrays and objects deeper than ${maxJsonDepth} levels${at}; send deeper data as a string (format=text).`,
        details: { ...(field && { field }), limit: maxJsonDepth },
      };
    case 'lone-surrogate':
      return {
        message: `${where} holds a string with an unpaired UTF-16 surrogate${at} (such as \\ud800 without its pair); strings must be well-formed Unicode.`,
        details: { ...(field && { field }) },
      };
    case 'number-out-of-range':
      return {
        message: `${where} holds a number beyond the range of a double${at} (such as 1e400, which would be read as null); send it as a string.`,
        details: { ...(field && { field }) },
      };
  }
}

/**
 * Refuses a body on a route that takes none, so that what it asks (`{"ifEmpty": true}` on a
 * delete) is not silently ignored. No body, whitespace or `{}` is none.
 */
export function noBody(event: HttpEvent): void {
  const text = bodyBytes(event).toString('utf8').trim();
  if (text === '' || /^\{\s*\}$/.test(text)) return;
  throw new TributaryError(
    'INVALID_REQUEST',
    'This route takes no body; send none (or {}): its request is the method, path and query.',
  );
}

/** A JSON body checked against a schema; the first problem becomes a clear 400. */
export function jsonBody<S extends z.ZodType>(event: HttpEvent, schema: S): z.output<S> {
  bodyKind(event, false);
  const bytes = bodyBytes(event);
  assertUtf8(bytes);
  const text = bytes.toString('utf8');
  const input = text.trim() === '' ? {} : parseJson(text);
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidRequest(parsed.error, schema, input);
  return parsed.data;
}

type Query = Record<string, string | undefined>;

export function queryOf(event: APIGatewayProxyEventV2): Query {
  return event.queryStringParameters ?? {};
}

/** An integer query parameter within bounds, or its default when absent. */
export function intParam(
  query: Query,
  name: string,
  bounds: { min: number; max: number; default?: number },
): number {
  const raw = query[name];
  if (raw === undefined || raw === '') {
    if (bounds.default !== undefined) return bounds.default;
    throw new TributaryError('INVALID_REQUEST', `Query parameter '${name}' is required.`, {
      field: name,
    });
  }
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Query parameter '${name}' must be an integer from ${bounds.min} to ${bounds.max}; got '${raw}'.`,
      { field: name },
    );
  }
  return value;
}

export function formatParam(query: Query): RecordFormat {
  const raw = query.format ?? 'json';
  const format = recordFormats.find((f) => f === raw);
  if (!format) {
    throw new TributaryError(
      'INVALID_REQUEST',
      `Query parameter 'format' must be one of ${recordFormats.join(', ')}; got '${raw}'.`,
      { field: 'format' },
    );
  }
  return format;
}

/** Refuses query parameters the route does not know, so a typo is not silently ignored. */
export function onlyParams(query: Query, allowed: readonly string[]): void {
  for (const name of Object.keys(query)) {
    if (!allowed.includes(name)) {
      throw new TributaryError(
        'INVALID_REQUEST',
        `Unknown query parameter '${name}'; this route takes ${allowed.length ? allowed.join(', ') : 'none'}.`,
        { field: name },
      );
    }
  }
}
