import { configDefaults, defineConfig } from 'vitest/config';

/**
 * `npm run test:scenarios`: the long scenarios in test/scenarios (each over ~30 s: scheduler
 * fail-over rounds, fleets of runner processes and containers), with the same setup as `npm
 * test` (private Redis, Podman's Docker API, Chromium). Kept out of `npm test` so that stays
 * near ten minutes on two cores; `.ci/run` runs both.
 */
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: ['test/scenarios/**/*.test.ts'],
    exclude: [...configDefaults.exclude],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
