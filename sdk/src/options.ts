import { closest } from './closest.ts';
import { invalidArgument, TributaryError } from './errors.ts';
import { type FetchLike, isObject } from './http.ts';
import { defaultRetryPolicy, type RetryOptions, type RetryPolicy } from './retry.ts';

/**
 * How to reach a Tributary API.
 *
 * @example
 * const tributary = new Tributary({
 *   url: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
 *   apiKey: process.env.TRIBUTARY_API_KEY,
 *   retry: { maxAttempts: 8, maxDelayMs: 10_000 },
 * });
 */
export interface TributaryOptions {
  /**
   * The API's base URL, `http:` or `https:`: `http://127.0.0.1:8080` for `npm start`, the
   * stack's `ApiUrl` output in AWS. A path (an API Gateway stage) is kept.
   */
  readonly url: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. Undefined sends no credentials. */
  readonly apiKey?: string | undefined;
  /** How to retry retryable failures; `false` never retries. */
  readonly retry?: RetryOptions | false;
  /** The `fetch` to use; the global one by default. */
  readonly fetch?: FetchLike;
  /** How long one attempt may wait for an answer, beyond the wait of a long poll. Default 30,000 ms. */
  readonly timeoutMs?: number;
}

/** {@link TributaryOptions}, checked, with every default applied. */
export interface ResolvedOptions {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly retry: RetryPolicy;
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
}

const knownOptions = ['url', 'apiKey', 'retry', 'fetch', 'timeoutMs'];
const knownRetryOptions = ['maxAttempts', 'initialDelayMs', 'maxDelayMs'];

/**
 * Checks the options once, at construction, so a mistake fails loudly there rather than as
 * a puzzling network error later. Unknown keys are refused: a typo is never ignored.
 */
export function resolveOptions(options: TributaryOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(
      "Tributary needs options: new Tributary({ url: 'http://127.0.0.1:8080' }).",
    );
  }
  refuseUnknown(options, knownOptions, 'option');
  return {
    baseUrl: baseUrl(options.url),
    apiKey: apiKey(options.apiKey),
    retry: retryPolicy(options.retry),
    fetch: fetchOption(options.fetch),
    timeoutMs:
      options.timeoutMs === undefined
        ? 30_000
        : positiveInteger(options.timeoutMs, 'timeoutMs', 1, 3_600_000),
  };
}

function baseUrl(input: unknown): string {
  if (typeof input !== 'string' && !(input instanceof URL)) {
    throw invalidArgument(
      "Option 'url' is required: the API's base URL, e.g. 'http://127.0.0.1:8080'.",
      'url',
    );
  }
  const refused = () =>
    invalidArgument(
      `Option 'url' must be an absolute http:// or https:// URL, e.g. 'http://127.0.0.1:8080'; got '${String(input)}'.`,
      'url',
    );
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw refused();
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused();
  if (url.search !== '' || url.hash !== '') {
    throw invalidArgument(`Option 'url' must not have a query or fragment: '${url.href}'.`, 'url');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidArgument("Option 'url' must not carry credentials; use 'apiKey'.", 'url');
  }
  return url.href.replace(/\/+$/, '');
}

function apiKey(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  // A header value cannot carry control characters; a key never has spaces.
  if (typeof input !== 'string' || !/^[\x21-\x7e]+$/.test(input)) {
    throw invalidArgument(
      "Option 'apiKey' must be a non-empty string of printable ASCII without spaces.",
      'apiKey',
    );
  }
  return input;
}

function retryPolicy(input: unknown): RetryPolicy {
  if (input === undefined) return defaultRetryPolicy;
  if (input === false) return { ...defaultRetryPolicy, maxAttempts: 1 };
  if (!isObject(input)) {
    throw invalidArgument(
      "Option 'retry' must be false or { maxAttempts?, initialDelayMs?, maxDelayMs? }.",
      'retry',
    );
  }
  refuseUnknown(input, knownRetryOptions, 'retry option');
  const { maxAttempts, initialDelayMs, maxDelayMs } = input;
  const policy: RetryPolicy = {
    maxAttempts:
      maxAttempts === undefined
        ? defaultRetryPolicy.maxAttempts
        : positiveInteger(maxAttempts, 'retry.maxAttempts', 1, 100),
    initialDelayMs:
      initialDelayMs === undefined
        ? defaultRetryPolicy.initialDelayMs
        : positiveInteger(initialDelayMs, 'retry.initialDelayMs', 0, 600_000),
    maxDelayMs:
      maxDelayMs === undefined
        ? Math.max(defaultRetryPolicy.maxDelayMs, Number(initialDelayMs ?? 0))
        : positiveInteger(maxDelayMs, 'retry.maxDelayMs', 0, 600_000),
  };
  if (policy.maxDelayMs < policy.initialDelayMs) {
    throw invalidArgument(
      `Option 'retry.maxDelayMs' (${policy.maxDelayMs}) must be at least 'retry.initialDelayMs' (${policy.initialDelayMs}).`,
      'retry.maxDelayMs',
    );
  }
  return policy;
}

function fetchOption(input: unknown): FetchLike {
  if (input === undefined) {
    if (typeof globalThis.fetch !== 'function') {
      throw invalidArgument(
        "This runtime has no global fetch (Node.js, browsers, Deno and Bun have one): pass option 'fetch'.",
        'fetch',
      );
    }
    // Looked up at call time, and called unbound: some runtimes refuse `this` other than the global.
    return (url, init) => globalThis.fetch(url, init);
  }
  if (typeof input !== 'function') {
    throw invalidArgument("Option 'fetch' must be a function like the global fetch.", 'fetch');
  }
  const custom = input as FetchLike;
  return (url, init) => custom(url, init);
}

/** An integer in [min, max], or a clear error naming the option. */
export function positiveInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(
      `Option '${name}' must be an integer from ${min} to ${max}, got ${JSON.stringify(value) ?? String(value)}.`,
      name,
    );
  }
  return value;
}

/** Refuses keys outside `known`, suggesting the one meant when it looks like a typo. */
export function refuseUnknown(input: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const meant = closest(key, known);
    throw new TributaryError({
      code: 'INVALID_ARGUMENT',
      message: `Unknown ${what} '${key}'${meant ? ` (did you mean '${meant}'?)` : ''}; known: ${known.join(', ')}.`,
      details: { field: key },
    });
  }
}
