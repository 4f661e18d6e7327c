import { defineConfig } from 'vitest/config';

// The SDK is tested against the real server on embedded PGlite; the server's own suite covers PostgreSQL.
export default defineConfig({
  test: { testTimeout: 60_000, hookTimeout: 60_000, env: { LATCHKEY_TEST_DATABASE: 'pglite' } },
});
