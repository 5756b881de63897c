/**
 * How the SDK retries a request that failed with a retryable error (see `retryableCode`):
 * exponential backoff with full jitter, as in the AWS Architecture Blog's "Exponential
 * Backoff and Jitter" — the n-th retry waits a uniformly random time in
 * [0, min(maxDelayMs, initialDelayMs · 2^(n-1))], so clients that failed together do not
 * retry together.
 *
 * @example
 * new Tributary({ url, retry: { maxAttempts: 10, initialDelayMs: 50, maxDelayMs: 2_000 } });
 */
export interface RetryOptions {
  /** Attempts in all, the first included: 1 never retries. Default 6. */
  readonly maxAttempts?: number;
  /** The ceiling of the first retry's delay, doubling for each retry after it. Default 100 ms. */
  readonly initialDelayMs?: number;
  /** The ceiling of every single delay. Default 5,000 ms. */
  readonly maxDelayMs?: number;
}

/**
 * {@link RetryOptions} with every default applied.
 *
 * @example
 * const patient: RetryPolicy = { ...defaultRetryPolicy, maxAttempts: 20 };
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Six attempts; waits of at most 0.1, 0.2, 0.4, 0.8 and 1.6 s between them (5 s at most each).
 *
 * @example
 * defaultRetryPolicy.maxAttempts; // 6
 */
export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 6,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
};

/**
 * The wait before retry number `retry` (1 for the first retry). A server's `Retry-After`
 * raises the wait to at least what it asked, still capped by `maxDelayMs`.
 *
 * @example
 * backoffDelay(defaultRetryPolicy, 3); // uniformly random in [0, 400] ms
 */
export function backoffDelay(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs = 0,
  random: () => number = Math.random,
): number {
  // The exponent stops growing long after any ceiling is reached: a producer retrying until
  // its delivery timeout may count thousands of retries, and 0 · 2^1024 is NaN.
  const growth = 2 ** Math.min(52, Math.max(0, retry - 1));
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * growth);
  const jittered = Math.floor(random() * (ceiling + 1));
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs));
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (header === null || header.trim() === '') return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}
