import { expect } from 'vitest';
import type { Db } from '../../src/db/database.js';

// The suite's databases come from the test kit (`@latchkey/server/testing`), the one copy the packages' tests use too.
export { emptyTestDatabase, migratedTestDatabase, onPostgres, TEST_DATABASE, type TestDatabase } from '../../src/testing.js';

/** Every user and session row: what a refused request must leave as it was. */
async function usersAndSessions(db: Db) {
  const users = await db.selectFrom('users').selectAll().orderBy('id').execute();
  const sessions = await db.selectFrom('sessions').selectAll().orderBy('id').execute();
  return { users, sessions };
}

/** Runs `action` and asserts that no user or session row was added, removed or changed. */
export async function expectUnchanged<T>(db: Db, action: () => Promise<T>): Promise<T> {
  const before = await usersAndSessions(db);
  const result = await action();
  expect(await usersAndSessions(db)).toEqual(before);
  return result;
}
