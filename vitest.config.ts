import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Packages export their TypeScript sources under the "source" condition, so tests run
    // against src/ without a build. Tests that spawn the CLI use dist/ (npm test builds first).
    conditions: ['source'],
  },
  test: {
    include: ['{libs,apps,providers,examples}/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // test/cluster needs a Redis Cluster: `npm run test:cluster` (vitest.cluster.config.ts) runs it.
    // test/compose brings up docker-compose.yml under Podman: `npm run test:compose` (vitest.compose.config.ts).
    // test/scenarios holds the scenarios over ~30 s each: `npm run test:scenarios` (vitest.scenarios.config.ts).
    // libs/sdk/test/install.test.ts packs and npm-installs the SDK: `npm run test:sdk-install` (vitest.sdk-install.config.ts).
    exclude: [...configDefaults.exclude, 'test/cluster/**', 'test/compose/**', 'test/scale/**', 'test/scenarios/**', 'libs/sdk/test/install.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: files run two at a time; each file uses its own namespace on the shared Redis.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
