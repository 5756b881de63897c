import { type ErrorCode, errorCodes } from './error-codes.ts';

/**
 * Failures the SDK detects itself, before or instead of an answer from the server. They
 * share the shape of the server's list (`error-codes.ts`), so the retry policy reads both
 * the same way. The server never sends these codes.
 *
 * @example
 * clientErrorCodes.NETWORK_ERROR.retryable; // true
 */
export const clientErrorCodes = {
  INVALID_ARGUMENT: {
    retryable: false,
    description:
      'An option or argument given to the SDK is invalid (a bad URL, a record without a value); nothing was sent.',
  },
  NETWORK_ERROR: {
    retryable: true,
    description:
      'The request failed on the network (connection refused or reset, DNS); it may or may not have reached the server.',
  },
  TIMEOUT: {
    retryable: true,
    description:
      'No answer within the timeout; the request may or may not have taken effect on the server.',
  },
  UNAVAILABLE: {
    retryable: true,
    description:
      'A 5xx or 429 answer without a Tributary error body, e.g. from API Gateway or a proxy.',
  },
  DELIVERY_TIMEOUT: {
    retryable: true,
    description:
      'A producer kept meeting retryable failures until its deliveryTimeoutMs passed; the last one is the cause. The records may or may not have been written.',
  },
  UNEXPECTED_RESPONSE: {
    retryable: false,
    description:
      'An answer that is not Tributary’s: a 4xx without an error body, or a success whose body is not the JSON expected. Check the URL.',
  },
  ABORTED: {
    retryable: false,
    description: 'The caller aborted the operation (its AbortSignal fired).',
  },
  CLOSED: {
    retryable: false,
    description: 'The producer, consumer or reader was closed.',
  },
} as const satisfies Record<string, { retryable: boolean; description: string }>;

/**
 * One of the SDK's own codes.
 *
 * @example
 * const code: ClientErrorCode = 'TIMEOUT';
 */
export type ClientErrorCode = keyof typeof clientErrorCodes;

/**
 * Every code a {@link TributaryError} can carry: the server's stable list, the SDK's own, and
 * — written as `string & {}` so editors still complete the known ones — codes a newer server
 * may send that this SDK does not know yet.
 *
 * @example
 * const codes: TributaryErrorCode[] = ['TOPIC_NOT_FOUND', 'TIMEOUT', 'A_NEWER_CODE'];
 */
export type TributaryErrorCode = ErrorCode | ClientErrorCode | (string & {});

/**
 * Whether `code` is one of the server's codes this SDK knows.
 *
 * @example
 * if (isErrorCode(error.code)) console.log(errorCodes[error.code].description);
 */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCodes, code);
}

/**
 * Whether `code` is one of the SDK's own codes.
 *
 * @example
 * isClientErrorCode('NETWORK_ERROR'); // true
 */
export function isClientErrorCode(code: string): code is ClientErrorCode {
  return Object.hasOwn(clientErrorCodes, code);
}

/**
 * Whether retrying after `code` can succeed, from the data alone: the server's list, then the
 * SDK's. A code neither list knows is not retryable.
 *
 * @example
 * retryableCode('COMMIT_CONFLICT'); // true
 * retryableCode('TOPIC_NOT_FOUND'); // false
 * retryableCode('SOMETHING_NEW'); // false
 */
export function retryableCode(code: string): boolean {
  if (isErrorCode(code)) return errorCodes[code].retryable;
  if (isClientErrorCode(code)) return clientErrorCodes[code].retryable;
  return false;
}

/**
 * What a {@link TributaryError} is made from.
 *
 * @example
 * new TributaryError({ code: 'TOPIC_NOT_FOUND', message: 'no such topic', status: 404 });
 */
export interface TributaryErrorInit {
  readonly code: TributaryErrorCode;
  readonly message: string;
  /** The HTTP status, when the server answered. */
  readonly status?: number;
  /** Overrides the retryable flag the code's entry gives. */
  readonly retryable?: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly requestId?: string;
  readonly cause?: unknown;
}

/**
 * Every error the SDK throws: one class, with the server's stable code and the details it
 * sent, so a caller can act on it (and the CLI can print it) without parsing messages.
 *
 * @example
 * try {
 *   await tributary.topics.describe('orders');
 * } catch (error: unknown) {
 *   if (TributaryError.is(error, 'TOPIC_NOT_FOUND')) {
 *     await tributary.topics.create({ name: 'orders', partitions: 3 });
 *   } else throw error;
 * }
 */
export class TributaryError extends Error {
  /**
   * Always `'TributaryError'`, also after the error crossed a realm or was serialised.
   *
   * @example
   * if (error instanceof Error && error.name === 'TributaryError') report(error);
   */
  override readonly name = 'TributaryError';
  /**
   * A code from the server's list (`errorCodes`), the SDK's (`clientErrorCodes`), or a newer one.
   *
   * @example
   * if (error.code === 'OFFSET_OUT_OF_RANGE') reader = tributary.reader({ topic, partition, from: 'earliest' });
   */
  readonly code: TributaryErrorCode;
  /**
   * The HTTP status of the answer; undefined when there was none (network, timeout, validation).
   *
   * @example
   * const clientSide = error.status === undefined;
   */
  readonly status: number | undefined;
  /**
   * Whether retrying can succeed. The SDK's retry policy has already retried when it could.
   *
   * @example
   * if (error.retryable) setTimeout(() => void send(), 1_000);
   */
  readonly retryable: boolean;
  /**
   * What the server said beside the code and message: bounds, expected values, the field at fault.
   *
   * @example
   * const { logStartOffset, highWatermark } = error.details; // with OFFSET_OUT_OF_RANGE
   */
  readonly details: Readonly<Record<string, unknown>>;
  /**
   * The id the server logged the request under (the `x-request-id` header).
   *
   * @example
   * console.error(`${error.message} (request ${error.requestId})`);
   */
  readonly requestId: string | undefined;

  constructor(init: TributaryErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.retryable = init.retryable ?? retryableCode(init.code);
    this.details = init.details ?? {};
    this.requestId = init.requestId;
  }

  /**
   * Whether `error` is a TributaryError, optionally with one of `codes`.
   *
   * @example
   * if (TributaryError.is(error, 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID')) rejoin();
   */
  static is(error: unknown, ...codes: TributaryErrorCode[]): error is TributaryError {
    return error instanceof TributaryError && (codes.length === 0 || codes.includes(error.code));
  }
}

/** A TributaryError for a bad option or argument: nothing was sent. */
export function invalidArgument(message: string, field?: string): TributaryError {
  return new TributaryError({
    code: 'INVALID_ARGUMENT',
    message,
    ...(field !== undefined && { details: { field } }),
  });
}
