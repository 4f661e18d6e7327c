import { defineConfig } from 'vitest/config';
import { reachable } from './test/helpers/postgres-probe.js';

/**
 * The suite runs once on embedded PGlite and once more on PostgreSQL when one is given
 * (TEST_DATABASE_URL or DATABASE_URL) or reachable on 127.0.0.1:5432. A URL that is given but
 * unreachable fails the run rather than quietly skipping PostgreSQL.
 */
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

async function postgresUrl(): Promise<string | undefined> {
  const given = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (given?.startsWith('postgres')) return given;
  if (process.env.TEST_DATABASES === 'pglite') return undefined;
  if (await reachable('127.0.0.1', 5432)) return LOCAL_POSTGRES;
  process.stderr.write('PostgreSQL is not reachable on 127.0.0.1:5432: running the suite on PGlite only.\n');
  return undefined;
}

const pg = await postgresUrl();

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: 'pglite',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
          env: { LATCHKEY_TEST_DATABASE: 'pglite' },
          // Files share their worker process, and with it the test kit's one PGlite instance (a
          // schema per database, from one recorded migration): PGlite's start-up costs seconds.
          isolate: false,
        },
      },
      // Unit tests under src/ touch no database: they run once, in the PGlite project.
      ...(pg
        ? [{ extends: true as const, test: { name: 'postgres', include: ['test/**/*.test.ts'], env: { LATCHKEY_TEST_DATABASE: pg } } }]
        : []),
    ],
  },
});
