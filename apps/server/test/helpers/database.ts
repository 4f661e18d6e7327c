import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { createDatabase, type DatabaseHandle, databaseFromPGlite, migrateToLatest } from '../../src/db/database.js';

/** Which database this run of the suite is on: `pglite`, or the PostgreSQL URL the config found. */
export const TEST_DATABASE = process.env.LATCHKEY_TEST_DATABASE ?? 'pglite';
export const onPostgres = TEST_DATABASE !== 'pglite';

export interface TestDatabase extends DatabaseHandle {
  /** A PostgreSQL URL that reaches this same database (and schema), for other processes. */
  url: string | undefined;
}

/** The URL of a schema of its own on the test PostgreSQL server. */
function schemaUrl(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/**
 * A fresh, empty database for one test file: an in-memory PGlite, or a schema of its own on
 * PostgreSQL (dropped on close), so that files run in parallel without seeing each other.
 */
export async function emptyTestDatabase(): Promise<TestDatabase> {
  if (!onPostgres) {
    const pglite = await PGlite.create();
    return { ...databaseFromPGlite(pglite), url: undefined };
  }
  const schema = `lk_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = schemaUrl(TEST_DATABASE, schema);
  const handle = await createDatabase({ kind: 'postgres', url });
  return {
    ...handle,
    url,
    async close() {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE });
      await cleanup.connect();
      await cleanup.query(`drop schema if exists ${schema} cascade`);
      await cleanup.end();
    },
  };
}

export async function migratedTestDatabase(): Promise<TestDatabase> {
  const database = await emptyTestDatabase();
  await migrateToLatest(database.db);
  return database;
}

/** How many users and sessions there are: what a refused request must leave as it was. */
export async function rowCounts(db: DatabaseHandle['db']): Promise<{ users: number; sessions: number }> {
  const count = async (table: 'users' | 'sessions') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return { users: await count('users'), sessions: await count('sessions') };
}
