import { describe, expect, it } from 'vitest';
import { Tributary, type TributaryError, type TributaryOptions } from '../../sdk/src/index.ts';

/** The INVALID_ARGUMENT error `new Tributary(options)` throws. */
function refusal(options: unknown): TributaryError {
  try {
    // The point is to pass what the types would refuse, as plain JavaScript can.
    new Tributary(options as TributaryOptions);
  } catch (error: unknown) {
    return error as TributaryError;
  }
  throw new Error('the options were accepted');
}

describe('new Tributary(options)', () => {
  it('normalises the URL, keeping a path such as an API Gateway stage', () => {
    expect(new Tributary({ url: 'http://127.0.0.1:8080/' }).url).toBe('http://127.0.0.1:8080');
    expect(new Tributary({ url: new URL('https://api.example.com/prod/') }).url).toBe(
      'https://api.example.com/prod',
    );
  });

  it.each([
    [undefined, "Tributary needs options: new Tributary({ url: 'http://127.0.0.1:8080' })."],
    [{}, "Option 'url' is required: the API's base URL, e.g. 'http://127.0.0.1:8080'."],
    [
      { url: '127.0.0.1:8080' },
      "Option 'url' must be an absolute http:// or https:// URL, e.g. 'http://127.0.0.1:8080'; got '127.0.0.1:8080'.",
    ],
    [
      { url: 'localhost:8080' },
      "Option 'url' must be an absolute http:// or https:// URL, e.g. 'http://127.0.0.1:8080'; got 'localhost:8080'.",
    ],
    [
      { url: 'ftp://example.com' },
      "Option 'url' must be an absolute http:// or https:// URL, e.g. 'http://127.0.0.1:8080'; got 'ftp://example.com'.",
    ],
    [
      { url: 'http://example.com/?a=1' },
      "Option 'url' must not have a query or fragment: 'http://example.com/?a=1'.",
    ],
    [
      { url: 'http://user:pw@example.com' },
      "Option 'url' must not carry credentials; use 'apiKey'.",
    ],
    [
      { url: 'http://x', apiKey: '' },
      "Option 'apiKey' must be a non-empty string of printable ASCII without spaces.",
    ],
    [
      { url: 'http://x', apiKey: 'trb_abc\r\nx-evil: 1' },
      "Option 'apiKey' must be a non-empty string of printable ASCII without spaces.",
    ],
    [
      { url: 'http://x', apikey: 'k' },
      "Unknown option 'apikey' (did you mean 'apiKey'?); known: url, apiKey, retry, fetch, timeoutMs.",
    ],
    [
      { url: 'http://x', retry: { maxAttempts: 0 } },
      "Option 'retry.maxAttempts' must be an integer from 1 to 100, got 0.",
    ],
    [
      { url: 'http://x', retry: { attempts: 3 } },
      "Unknown retry option 'attempts'; known: maxAttempts, initialDelayMs, maxDelayMs.",
    ],
    [
      { url: 'http://x', retry: { initialDelayMs: 500, maxDelayMs: 100 } },
      "Option 'retry.maxDelayMs' (100) must be at least 'retry.initialDelayMs' (500).",
    ],
    [
      { url: 'http://x', retry: true },
      "Option 'retry' must be false or { maxAttempts?, initialDelayMs?, maxDelayMs? }.",
    ],
    [
      { url: 'http://x', fetch: 'fetch' },
      "Option 'fetch' must be a function like the global fetch.",
    ],
    [
      { url: 'http://x', timeoutMs: 1.5 },
      "Option 'timeoutMs' must be an integer from 1 to 3600000, got 1.5.",
    ],
  ])('refuses %j with a clear INVALID_ARGUMENT', (options, message) => {
    const error = refusal(options);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(message);
    expect(error.retryable).toBe(false);
    expect(error.status).toBeUndefined();
  });

  it('accepts every documented option', () => {
    const tributary = new Tributary({
      url: 'https://example.com',
      apiKey: 'trb_key',
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 100 },
      fetch: (input, init) => fetch(input, init),
      timeoutMs: 5_000,
    });
    expect(tributary.url).toBe('https://example.com');
    expect(new Tributary({ url: 'http://x', retry: false }).url).toBe('http://x');
  });
});

describe('producer, consumer and reader options', () => {
  const tributary = new Tributary({ url: 'http://127.0.0.1:1' });
  const code = (make: () => unknown) => {
    try {
      make();
    } catch (error: unknown) {
      return (error as TributaryError).message;
    }
    return 'accepted';
  };

  it('refuses bad producer options', () => {
    expect(code(() => tributary.producer({ lingerMs: -1 }))).toBe(
      "Option 'lingerMs' must be an integer from 0 to 60000, got -1.",
    );
    // The option's name before it carried its unit.
    expect(code(() => tributary.producer({ linger: 5 } as never))).toBe(
      "Unknown producer option 'linger'; known: idempotent, transactionalId, format, lingerMs, batchSize, metadataMaxAgeMs, deliveryTimeoutMs.",
    );
    expect(code(() => tributary.producer({ idempotent: false, transactionalId: 't' }))).toBe(
      'A transactionalId needs an idempotent producer.',
    );
    expect(code(() => tributary.producer({ transactionalId: 'has space' }))).toBe(
      'transactionalId must be 1-249 printable ASCII characters without spaces.',
    );
    // One produce request carries at most 50,000 records.
    expect(code(() => tributary.producer({ batchSize: 50_001 }))).toBe(
      "Option 'batchSize' must be an integer from 1 to 50000, got 50001.",
    );
  });

  it('refuses a delivery timeout that is negative or not a whole number of milliseconds', () => {
    for (const bad of [-1, '120000', Number.NaN, 1.5, 86_400_001, null]) {
      expect(code(() => tributary.producer({ deliveryTimeoutMs: bad as never }))).toBe(
        `Option 'deliveryTimeoutMs' must be an integer from 0 to 86400000, got ${JSON.stringify(bad)}.`,
      );
    }
    expect(code(() => tributary.producer({ deliveryTimeoutMs: 0 }))).toBe('accepted');
    expect(code(() => tributary.producer({ deliveryTimeoutMs: 30_000 }))).toBe('accepted');
  });

  it('refuses bad consumer options', () => {
    expect(code(() => tributary.consumer({ group: 'g', topics: [] }))).toBe(
      "Consumer option 'topics' must be a non-empty list of topic names.",
    );
    expect(
      code(() => tributary.consumer({ group: 'g', topics: ['t'], sessionTimeoutMs: 500 })),
    ).toBe("Option 'sessionTimeoutMs' must be an integer from 1000 to 1800000, got 500.");
    expect(
      code(() =>
        tributary.consumer({
          group: 'g',
          topics: ['t'],
          sessionTimeoutMs: 3_000,
          heartbeatIntervalMs: 3_000,
        }),
      ),
    ).toBe("Option 'heartbeatIntervalMs' must be an integer from 10 to 2999, got 3000.");
    expect(
      code(() => tributary.consumer({ group: 'g', topics: ['t'], instanceId: 'host 1:8080' })),
    ).toBe('instanceId must be 1-249 characters of [a-zA-Z0-9._-].');
  });

  it('refuses bad reader options', () => {
    expect(code(() => tributary.reader({ topic: 't', partition: 0, from: { offset: -1 } }))).toBe(
      "Reader option 'from' must be 'earliest', 'latest', { offset } or { timestamp }; got {\"offset\":-1}.",
    );
    expect(
      code(() =>
        // Plain JavaScript can pass a string outside the union.
        tributary.reader({ topic: 't', partition: 0, format: 'xml' as 'json' }),
      ),
    ).toBe("format must be 'json', 'text' or 'binary', got 'xml'.");
  });
});
