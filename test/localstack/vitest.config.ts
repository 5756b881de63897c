import { defineConfig } from 'vitest/config';

/**
 * The suite against a deployed stack (`npm run test:localstack`, which finds the URL and
 * key and passes them in TRIBUTARY_URL and TRIBUTARY_API_KEY). Kept out of `npm test`:
 * it needs LocalStack, or an AWS deployment, and starts no emulators of its own.
 */
export default defineConfig({
  test: {
    include: ['test/localstack/**/*.test.ts'],
    allowOnly: false,
    // A deployed API behind API Gateway: cold starts of a few seconds on first calls.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
