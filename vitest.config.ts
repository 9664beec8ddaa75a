import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The SDK compatibility suite runs with `npm run test:compat` (scripts/compat.mjs), not vitest.
    exclude: [...configDefaults.exclude, 'test/compat/**'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
