import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorCodes } from '../../sdk/src/error-codes.ts';
import { isTributaryError } from '../core/errors.ts';
import { StorageUnavailableError } from '../core/ports/metadata-store.ts';
import type { Logger } from './logger.ts';

export type HttpResponse = APIGatewayProxyStructuredResultV2;

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

export const noContent = (): HttpResponse => ({ statusCode: 204 });

/**
 * The one place errors become HTTP. A TributaryError carries its stable code and details;
 * storage throttling and outages are retryable 429/503; anything else is a 500 whose
 * internals stay in the log, under the request id the client is given.
 */
export function errorResponse(error: unknown, requestId: string, log: Logger): HttpResponse {
  if (isTributaryError(error)) {
    const { status } = errorCodes[error.code];
    if (status >= 500) log.error('request failed', { requestId, code: error.code, error });
    return json(status, { error: { ...error.details, code: error.code, message: error.message } });
  }
  if (error instanceof StorageUnavailableError) {
    const code = error.throttled ? 'THROTTLED' : 'STORAGE_UNAVAILABLE';
    log.error('storage unavailable', { requestId, code, error });
    return json(errorCodes[code].status, {
      error: { code, message: `${errorCodes[code].description} (request ${requestId})`, requestId },
    });
  }
  log.error('unexpected error', { requestId, error });
  return json(500, {
    error: {
      code: 'INTERNAL',
      message: `An unexpected error occurred; it is logged under request id ${requestId}.`,
      requestId,
    },
  });
}
