import { defineConfig } from 'vitest/config';
import { reachable } from '../../apps/server/test/helpers/postgres-probe.js';

// Revocation awareness needs PostgreSQL: given (TEST_DATABASE_URL / DATABASE_URL) or on 127.0.0.1:5432.
const given = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
const pg = given?.startsWith('postgres')
  ? given
  : (await reachable('127.0.0.1', 5432))
    ? 'postgres://postgres@127.0.0.1:5432/postgres'
    : 'pglite';

export default defineConfig({
  test: { testTimeout: 30_000, hookTimeout: 60_000, env: { LATCHKEY_TEST_DATABASE: pg } },
});
