import { defineConfig } from 'vitest/config';

// `npm run test:compose` (scripts/test-compose.sh): the compose topology under Podman. Not part
// of `npm test` (vitest.config.ts excludes test/compose): it builds images and runs ~8 containers.
export default defineConfig({
  test: {
    include: ['test/compose/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 240_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
});
