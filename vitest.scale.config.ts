import { defineConfig } from 'vitest/config';

/**
 * `npm run test:scale`: the scale scenarios in test/scale (a 50,000-item plan on a queue with
 * maxWaiting 5000), on a private Redis started by the usual global setup. Not part of `npm
 * test`: one scenario takes minutes and the whole machine.
 */
export default defineConfig({
  test: {
    include: ['test/scale/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
