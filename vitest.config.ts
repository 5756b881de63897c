import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs a deployed stack: npm run test:localstack runs it with its own config.
    exclude: [...configDefaults.exclude, 'test/localstack/**'],
    // A focused test would silently skip the rest of the suite in CI.
    allowOnly: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
    // CI reads a JSON report for its summary line (see .ci/run).
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results.json' },
  },
});
