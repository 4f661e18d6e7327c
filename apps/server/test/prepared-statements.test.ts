/**
 * The hot statements (user.me's query, refresh's UPDATE) go to PostgreSQL as named statements,
 * parsed once per connection; nothing else does, and nothing does when DATABASE_URL may be a
 * transaction-mode pooler (DATABASE_LISTEN_URL set), where a named statement would be looked for
 * on another server connection than the one that prepared it.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createDatabase } from '../src/db/database.js';
import type { Database } from '../src/db/schema.js';
import { advanceCurrentSession } from '../src/modules/session/session.repository.js';
import { findPublicUserById, findPublicUserInSession, findUserById } from '../src/modules/user/user.repository.js';
import { testApp } from './helpers/app.js';
import { migratedTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await migratedTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** A user with one live session, written directly. */
async function seed(db: Kysely<Database>): Promise<{ userId: string; sessionId: string; now: Date }> {
  const userId = randomUUID();
  const sessionId = randomUUID();
  const now = new Date();
  const later = new Date(now.getTime() + 3_600_000);
  await db
    .insertInto('users')
    .values({
      id: userId,
      email: `${userId}@example.com`,
      username: `u${userId.slice(0, 8)}`,
      password_hash: null,
      bio: null,
      image: null,
      email_verified_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await db
    .insertInto('sessions')
    .values({
      id: sessionId,
      user_id: userId,
      generation: 0,
      rotated_at: null,
      created_at: now,
      last_used_at: now,
      expires_at: later,
      absolute_expires_at: later,
      revoked_at: null,
      revoked_reason: null,
      user_agent: null,
      ip: null,
      auth_time: now,
    })
    .execute();
  return { userId, sessionId, now };
}

/** Runs the hot statements twice and an ordinary one on one connection; the statements it holds prepared. */
async function preparedOn(db: Kysely<Database>): Promise<{ names: string[]; results: unknown[] }> {
  const { userId, sessionId, now } = await seed(db);
  return db.connection().execute(async (connection) => {
    const results: unknown[] = [];
    for (let generation = 0; generation < 2; generation += 1) {
      results.push((await findPublicUserById(connection, userId))?.id);
      results.push((await findPublicUserInSession(connection, userId, sessionId, now))?.id);
      const advanced = await advanceCurrentSession(connection, {
        id: sessionId,
        generation,
        now,
        idleExpiresAt: new Date(now.getTime() + 60_000),
      });
      results.push(advanced?.generation);
    }
    results.push((await findUserById(connection, userId))?.id);
    const held = await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(connection);
    return { names: held.rows.map((row) => row.name), results: results.map((value) => (value === userId ? 'user' : value)) };
  });
}

describe.runIf(onPostgres)('prepared hot statements (PostgreSQL)', () => {
  it('user.me and refresh statements are prepared once per connection and answer as before; other statements are not', async () => {
    const { names, results } = await preparedOn(database.db);

    expect(results).toEqual(['user', 'user', 1, 'user', 'user', 2, 'user']);
    expect(names).toHaveLength(3);
    expect(names.every((name) => name.startsWith('latchkey_'))).toBe(true);
  });

  it('a pool made with prepareStatements: false prepares nothing', async () => {
    const unprepared = await createDatabase({ kind: 'postgres', url: database.url as string }, { prepareStatements: false });
    try {
      const { names, results } = await preparedOn(unprepared.db);

      expect(results).toEqual(['user', 'user', 1, 'user', 'user', 2, 'user']);
      expect(names).toEqual([]);
    } finally {
      await unprepared.close();
    }
  });

  it('the server prepares on DATABASE_URL, and not when DATABASE_LISTEN_URL says DATABASE_URL may be a transaction pooler', async () => {
    const reference = await testApp(database);
    try {
      const direct = { ...reference.config, database: { kind: 'postgres' as const, url: database.url as string } };
      for (const [config, expected] of [
        [{ ...direct, databaseListenUrl: undefined }, 3],
        [{ ...direct, databaseListenUrl: database.url as string }, 0],
      ] as const) {
        const app = await createApp(config, { clock: reference.clock });
        try {
          expect((await preparedOn(app.database.db)).names).toHaveLength(expected);
        } finally {
          await app.close();
        }
      }
    } finally {
      await reference.close();
    }
  });

  it('a migration that changes a column the statement returns does not break it: the connection re-sends it unnamed', async () => {
    const own = await migratedTestDatabase();
    try {
      const { userId } = await seed(own.db);
      await own.db.connection().execute(async (connection) => {
        expect((await findPublicUserById(connection, userId))?.id).toBe(userId);
        // What a rolling deploy does while the old instances still serve: a migration from elsewhere.
        await sql`alter table users alter column bio type varchar(2000)`.execute(own.db);
        // Before: "cached plan must not change result type" on this connection, on every call.
        expect((await findPublicUserById(connection, userId))?.id).toBe(userId);
        expect((await findPublicUserById(connection, userId))?.id).toBe(userId);
      });
    } finally {
      await own.close();
    }
  });

  it('a connection whose backend already holds a statement of that name (a pooler that does not reset) still answers', async () => {
    const { userId } = await seed(database.db);
    // The name user.me's query is prepared under, as a connection of the pool shows it.
    const name = await database.db.connection().execute(async (connection) => {
      await findPublicUserById(connection, userId);
      const held = await sql<{ name: string }>`
        select name from pg_prepared_statements where statement like '%"users"%' and statement not like '%"sessions"%'`.execute(connection);
      return held.rows[0]?.name;
    });
    expect(name).toMatch(/^latchkey_[0-9a-f]{16}$/);
    const fresh = await createDatabase({ kind: 'postgres', url: database.url as string });
    try {
      await fresh.db.connection().execute(async (connection) => {
        await sql.raw(`prepare "${name}" as select 1`).execute(connection);
        // Before: "prepared statement already exists" on this connection, on every call.
        expect((await findPublicUserById(connection, userId))?.id).toBe(userId);
        expect((await findPublicUserById(connection, userId))?.id).toBe(userId);
      });
    } finally {
      await fresh.close();
    }
  });
});
