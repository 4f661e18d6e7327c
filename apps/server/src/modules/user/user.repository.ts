import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { NewUserRow, UserRow } from '../../db/schema.js';

export async function insertUser(db: Db, row: NewUserRow): Promise<UserRow> {
  return db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Addresses are unique case-insensitively: compare exactly as the unique index does. */
export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where(sql<string>`lower(email)`, '=', sql<string>`lower(${email})`).executeTakeFirst();
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findTakenIdentifiers(
  db: Db,
  { email, username }: { email: string; username: string },
): Promise<{ email: boolean; username: boolean }> {
  const rows = await db
    .selectFrom('users')
    .select(['email', 'username'])
    .where((eb) =>
      eb.or([
        eb(sql<string>`lower(email)`, '=', sql<string>`lower(${email})`),
        eb(sql<string>`lower(username)`, '=', sql<string>`lower(${username})`),
      ]),
    )
    .execute();
  return {
    email: rows.some((r) => r.email.toLowerCase() === email.toLowerCase()),
    username: rows.some((r) => r.username.toLowerCase() === username.toLowerCase()),
  };
}
