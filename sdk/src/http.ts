import { isErrorCode, TributaryError } from './errors.ts';
import { backoffDelay, type RetryPolicy, retryAfterMs } from './retry.ts';

/**
 * The part of `fetch` the SDK uses. The global `fetch` of Node 22+, browsers, Deno and Bun
 * fits; so does a wrapper that adds tracing, a proxy, or a test's fault injection.
 *
 * @example
 * const traced: FetchLike = (url, init) => {
 *   console.debug(init.method, url);
 *   return fetch(url, init);
 * };
 * const tributary = new Tributary({ url: 'http://127.0.0.1:8080', fetch: traced });
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  /** The path under the base URL, each segment already encoded (see {@link path}). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /**
   * Whether sending the request twice is harmless (a read, a heartbeat, an idempotent
   * produce). Then every retryable failure is retried, including those that leave the
   * outcome unknown — a lost answer, a timeout, a 5xx without a body. Otherwise only a
   * retryable code from the server's list (the server asks for the retry) and a connection
   * that was never made.
   */
  readonly idempotent: boolean;
  /** `false` makes one attempt only, for a caller that recovers in its own way. */
  readonly retry?: boolean;
  /**
   * Retry until a time rather than `maxAttempts` times (a producer's delivery timeout):
   * retries go on until `at` (the last one at `at`, its backoff cut short); a retryable
   * failure after it goes to `expired`, which says what to throw. The backoff is the policy's; a policy of
   * one attempt (`retry: false`) still never retries.
   */
  readonly retryUntil?: RetryDeadline | undefined;
  readonly signal?: AbortSignal | undefined;
  /** How long the server may hold the request (a long poll); added to the timeout. */
  readonly waitMs?: number;
}

/** See {@link HttpRequest.retryUntil}. */
export interface RetryDeadline {
  /** Epoch milliseconds. */
  readonly at: number;
  /** The error to throw when the deadline stops the retries: `last` is the last failure. */
  readonly expired: (last: TributaryError, attempts: number) => TributaryError;
}

export interface HttpAnswer {
  readonly status: number;
  /** The parsed JSON body; undefined for 204. */
  readonly body: unknown;
  readonly requestId: string | undefined;
}

export interface HttpClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly fetch: FetchLike;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
}

/** Node's codes for a connection that was never made: the request cannot have been seen. */
const notConnected = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** `/v1/topics/${segment(name)}`: a path segment, percent-encoded. */
export const segment = (value: string | number): string => encodeURIComponent(String(value));

/**
 * JSON over HTTP with the SDK's retry policy. Every failure becomes a TributaryError; a
 * retryable one is retried as the request's `idempotent` flag allows, resending exactly the
 * same bytes, so a retried idempotent produce is recognised by the server as a replay.
 */
export class HttpClient {
  readonly #options: HttpClientOptions;

  constructor(options: HttpClientOptions) {
    this.#options = options;
  }

  async request(request: HttpRequest): Promise<HttpAnswer> {
    const { retry } = this.#options;
    const url = this.#url(request);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.apiKey !== undefined)
      headers.authorization = `Bearer ${this.#options.apiKey}`;
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.body);
    }
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#attempt(request, url, headers, body);
      if (!(outcome instanceof Failure)) return outcome;
      const { error } = outcome;
      const mayRetry =
        error.retryable &&
        request.retry !== false &&
        retry.maxAttempts > 1 &&
        (request.idempotent || outcome.resendable);
      if (!mayRetry) throw error;
      let delay = backoffDelay(retry, attempt, outcome.retryAfterMs);
      const { retryUntil } = request;
      if (retryUntil === undefined) {
        if (attempt >= retry.maxAttempts) throw error;
      } else {
        // The last retry starts at the deadline rather than being skipped, so a deadline is
        // never given up early by up to a whole backoff.
        const left = retryUntil.at - Date.now();
        if (left <= 0) throw retryUntil.expired(error, attempt);
        delay = Math.min(delay, left);
      }
      await sleep(delay, request.signal);
    }
  }

  #url(request: HttpRequest): string {
    let url = `${this.#options.baseUrl}${request.path}`;
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query.set(name, String(value));
    }
    const search = query.toString();
    if (search !== '') url += `?${search}`;
    return url;
  }

  async #attempt(
    request: HttpRequest,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HttpAnswer | Failure> {
    const timeoutMs = this.#options.timeoutMs + (request.waitMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const init: RequestInit = { method: request.method, headers, signal };
    if (body !== undefined) init.body = body;
    let response: Response;
    let text: string;
    try {
      response = await this.#options.fetch(url, init);
      text = await response.text();
    } catch (cause: unknown) {
      if (request.signal?.aborted) throw aborted(request.signal);
      if (timeout.aborted) {
        return new Failure(
          new TributaryError({
            code: 'TIMEOUT',
            message: `${request.method} ${url} got no answer within ${timeoutMs} ms.`,
            cause,
          }),
        );
      }
      const code = errorCauseCode(cause);
      return new Failure(
        new TributaryError({
          code: 'NETWORK_ERROR',
          message: `${request.method} ${url} failed: ${describe(cause)}`,
          ...(code !== undefined && { details: { cause: code } }),
          cause,
        }),
        code !== undefined && notConnected.has(code),
      );
    }
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const parsed = parseJson(text);
    if (response.ok) {
      if (response.status !== 204 && parsed === undefined) {
        throw unexpected(request, url, response.status, requestId, 'a body that is not JSON');
      }
      return { status: response.status, body: parsed, requestId };
    }
    const error = errorFromBody(parsed, response.status, requestId);
    if (error) {
      // A retryable code from the list is the server asking for the retry.
      const resendable = isErrorCode(error.code);
      return new Failure(error, resendable, retryAfterMs(response.headers.get('retry-after')));
    }
    if (response.status >= 500 || response.status === 429) {
      return new Failure(
        new TributaryError({
          code: 'UNAVAILABLE',
          message: `${request.method} ${url} answered ${response.status} without a Tributary error${text ? `: ${text.slice(0, 200)}` : ''}.`,
          status: response.status,
          ...(requestId !== undefined && { requestId }),
        }),
        // API Gateway's own throttling refuses before invoking anything.
        response.status === 429,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    throw unexpected(request, url, response.status, requestId, text.slice(0, 200) || 'no body');
  }
}

class Failure {
  readonly error: TributaryError;
  /** Whether even a non-idempotent request may be resent (if the error is retryable). */
  readonly resendable: boolean;
  readonly retryAfterMs: number;
  constructor(error: TributaryError, resendable = false, retryAfter = 0) {
    this.error = error;
    this.resendable = resendable;
    this.retryAfterMs = retryAfter;
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{"error": {"code", "message", ...details}}`, the one shape of every Tributary error. */
function errorFromBody(
  body: unknown,
  status: number,
  headerRequestId: string | undefined,
): TributaryError | undefined {
  if (!isObject(body) || !isObject(body.error)) return undefined;
  const { code, message, requestId, ...details } = body.error;
  if (typeof code !== 'string') return undefined;
  const id = typeof requestId === 'string' ? requestId : headerRequestId;
  return new TributaryError({
    code,
    message: typeof message === 'string' ? message : code,
    status,
    details,
    ...(id !== undefined && { requestId: id }),
  });
}

function unexpected(
  request: HttpRequest,
  url: string,
  status: number,
  requestId: string | undefined,
  what: string,
): TributaryError {
  return new TributaryError({
    code: 'UNEXPECTED_RESPONSE',
    message: `${request.method} ${url} answered ${status} with ${what}; is the URL a Tributary API?`,
    status,
    ...(requestId !== undefined && { requestId }),
  });
}

export function aborted(signal: AbortSignal): TributaryError {
  return new TributaryError({
    code: 'ABORTED',
    message: 'The operation was aborted.',
    cause: signal.reason,
  });
}

/** Waits `ms`, or rejects with ABORTED as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(aborted(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      if (signal) reject(aborted(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Node puts the system error code (ECONNREFUSED) on the cause of fetch's TypeError. */
function errorCauseCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; isObject(e) && depth < 4; e = e.cause, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
