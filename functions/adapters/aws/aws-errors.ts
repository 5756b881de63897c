/**
 * Reading AWS SDK errors, and turning a service's transient failures (throttling, outages)
 * into the port's {@link StorageUnavailableError} so the core can retry or report them
 * without knowing which service said what.
 */

import { StorageUnavailableError } from '../../core/ports/metadata-store.ts';

/**
 * How one service says a request failed for now rather than for good. The SDK names an
 * error after the service's error code; a response without a code (S3 answers HEAD and some
 * 5xx without a body) is known only by its HTTP status.
 */
export interface TransientFailures {
  /** Error codes meaning too many requests: back off and retry. */
  readonly throttledCodes: ReadonlySet<string>;
  /** Error codes meaning the service failed or is briefly unavailable. */
  readonly unavailableCodes: ReadonlySet<string>;
  /** HTTP statuses meaning throttled, whatever the code. */
  readonly throttledStatuses?: ReadonlySet<number>;
  /** HTTP statuses meaning unavailable, whatever the code. */
  readonly unavailableStatuses?: ReadonlySet<number>;
}

export interface ErrorTranslation {
  /** The error as a {@link StorageUnavailableError} if it is transient, else unchanged. */
  readonly translate: (error: unknown) => unknown;
  /** Awaits an SDK call, turning throttling and outages into {@link StorageUnavailableError}. */
  readonly translated: <T>(call: Promise<T>) => Promise<T>;
}

const noStatuses: ReadonlySet<number> = new Set();

/** The translation of one service's errors, by what it calls transient. */
export const errorTranslation = (transient: TransientFailures): ErrorTranslation => {
  const translate = (error: unknown): unknown => {
    const name = errorName(error);
    const status = httpStatus(error);
    const matches = (codes: ReadonlySet<string>, statuses: ReadonlySet<number> = noStatuses) =>
      (name !== undefined && codes.has(name)) || (status !== undefined && statuses.has(status));
    if (matches(transient.throttledCodes, transient.throttledStatuses)) {
      return new StorageUnavailableError(messageOf(error), { throttled: true, cause: error });
    }
    if (matches(transient.unavailableCodes, transient.unavailableStatuses)) {
      return new StorageUnavailableError(messageOf(error), { throttled: false, cause: error });
    }
    return error;
  };
  const translated = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (error: unknown) {
      throw translate(error);
    }
  };
  return { translate, translated };
};

/** The SDK error's name, which is the service's error code. */
export const errorName = (error: unknown): string | undefined =>
  error instanceof Error ? error.name : undefined;

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** The HTTP status of the response an SDK error came from, if it came from one. */
export const httpStatus = (error: unknown): number | undefined => {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata;
  if (typeof metadata !== 'object' || metadata === null || !('httpStatusCode' in metadata)) {
    return undefined;
  }
  return typeof metadata.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
};
