import { defineConfig } from 'vitest/config';

/**
 * `npm run test:sdk-install`: libs/sdk/test/install.test.ts packs the SDK's packages, installs
 * the tarballs into a fresh project outside the repo (npm, about a minute) and runs a service
 * there over both transports against the CLI's processes. The default config leaves it out: the
 * install alone takes longer than the rest of the SDK's tests.
 */
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: ['libs/sdk/test/install.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
