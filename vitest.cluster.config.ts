import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the suite in test/cluster against a local 3-master Redis Cluster that
 * its global setup starts (test/support/redis-cluster.ts). The default config leaves these
 * files out: they need a cluster, and `npm test` runs on one Redis.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/cluster/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
