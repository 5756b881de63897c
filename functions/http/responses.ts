import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ErrorCode, errorCodes } from '../../sdk/src/error-codes.ts';
import { isTributaryError } from '../core/errors.ts';
import { StorageUnavailableError } from '../core/ports/metadata-store.ts';
import type { Logger } from './logger.ts';

/**
 * What the handler answers: API Gateway's result, but for a body that may be bytes (a
 * fetch's records), which the local server sends as they are and Lambda as text
 * ({@link toApiGatewayResult}).
 */
export type HttpResponse = Omit<APIGatewayProxyStructuredResultV2, 'body'> & {
  body?: string | Buffer;
};

/** The result API Gateway takes: a body of bytes (always UTF-8 JSON here) as text. */
export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  const { body, ...rest } = response;
  if (body === undefined) return rest;
  return { ...rest, body: typeof body === 'string' ? body : body.toString('utf8') };
}

export function json(statusCode: number, body: unknown): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/** A body already serialized as JSON. */
export function rawJson(statusCode: number, body: string): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}

/** A body already serialized as JSON, in UTF-8. */
export function jsonBytes(statusCode: number, body: Buffer): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}

export const noContent = (): HttpResponse => ({ statusCode: 204 });

/**
 * What an error echoes of the request (a member id, a config name, a value) is cut short,
 * so the answer stays small whatever was sent: 6 MB echoed twice would be past Lambda's
 * response limit.
 */
const maxMessageLength = 1_000;
const maxDetailLength = 300;
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * The one place errors become HTTP. A TributaryError carries its stable code and details;
 * storage throttling and outages are retryable 429/503; anything else is a 500 whose
 * internals stay in the log, under the request id the client is given.
 */
/** The stable code an error is answered with. */
export function errorCodeOf(error: unknown): ErrorCode {
  if (isTributaryError(error)) return error.code;
  if (error instanceof StorageUnavailableError) {
    return error.throttled ? 'THROTTLED' : 'STORAGE_UNAVAILABLE';
  }
  return 'INTERNAL';
}

export function errorResponse(error: unknown, requestId: string, log: Logger): HttpResponse {
  const code = errorCodeOf(error);
  const { status, description } = errorCodes[code];
  if (status >= 500) log.error('request failed', { requestId, code, error });
  if (isTributaryError(error)) {
    // The code and message first, as a person reads them; details never replace either.
    const body: Record<string, unknown> = { code, message: cut(error.message, maxMessageLength) };
    for (const [name, value] of Object.entries(error.details)) {
      if (!(name in body))
        body[name] = typeof value === 'string' ? cut(value, maxDetailLength) : value;
    }
    return json(status, { error: body });
  }
  // Storage outages and unexpected errors: internals stay in the log, under the request id.
  const message =
    code === 'INTERNAL'
      ? `An unexpected error occurred; it is logged under request id ${requestId}.`
      : `${description} (request ${requestId})`;
  return json(status, { error: { code, message, requestId } });
}
