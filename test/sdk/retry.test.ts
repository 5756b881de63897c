import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultRetryPolicy, retryAfterMs } from '../../sdk/src/retry.ts';

describe('backoffDelay: exponential backoff with full jitter', () => {
  const policy = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 1_000 };

  it('draws uniformly from [0, min(max, initial * 2^(retry-1))]', () => {
    expect(backoffDelay(policy, 1, 0, () => 0)).toBe(0);
    expect(backoffDelay(policy, 1, 0, () => 0.999_999)).toBe(100);
    expect(backoffDelay(policy, 2, 0, () => 0.999_999)).toBe(200);
    expect(backoffDelay(policy, 3, 0, () => 0.5)).toBe(200);
    expect(backoffDelay(policy, 4, 0, () => 0.999_999)).toBe(800);
  });

  it('never waits longer than maxDelayMs, however many retries', () => {
    expect(backoffDelay(policy, 5, 0, () => 0.999_999)).toBe(1_000);
    expect(backoffDelay(policy, 60, 0, () => 0.999_999)).toBe(1_000);
    // A producer retrying until its delivery timeout may count thousands of retries.
    expect(backoffDelay(policy, 5_000, 0, () => 0.999_999)).toBe(1_000);
    expect(backoffDelay({ ...policy, initialDelayMs: 0 }, 5_000, 0, () => 0.5)).toBe(0);
  });

  it("waits at least what a server's Retry-After asks, still capped", () => {
    expect(backoffDelay(policy, 1, 700, () => 0)).toBe(700);
    expect(backoffDelay(policy, 1, 30_000, () => 0)).toBe(1_000);
  });

  it('spreads clients that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(defaultRetryPolicy, 4)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates; nothing otherwise', () => {
    expect(retryAfterMs('2')).toBe(2_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:05 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(
      5_000,
    );
    expect(retryAfterMs(null)).toBe(0);
    expect(retryAfterMs('soon')).toBe(0);
  });
});
