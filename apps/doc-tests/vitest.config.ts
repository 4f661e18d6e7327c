import { defineConfig } from 'vitest/config';

// Real processes (`pnpm start`, the examples) on a shared 2-core machine: allow for a loaded one.
// One file at a time: each starts servers of its own.
export default defineConfig({
  test: { testTimeout: 180_000, hookTimeout: 180_000, fileParallelism: false, env: { LATCHKEY_TEST_DATABASE: 'pglite' } },
});
