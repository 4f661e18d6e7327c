import { CompiledQuery, sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { prepared } from '../../db/prepared.js';
import type { NewUserRow, UserRow, UserUpdate } from '../../db/schema.js';
import { PUBLIC_USER_COLUMNS, type PublicUserRow } from './user.mapper.js';

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

/** The SQL of findPublicUserById, built by Kysely once per database instead of on every call. */
const publicUserById = new WeakMap<Db, string>();

/** The columns a user's public face is made of, by id: `user.me` on every call, so built once. */
export async function findPublicUserById(db: Db, id: string): Promise<PublicUserRow | undefined> {
  let text = publicUserById.get(db);
  if (text === undefined) {
    text = prepared(db.selectFrom('users').select(PUBLIC_USER_COLUMNS).where('id', '=', id).compile().sql);
    publicUserById.set(db, text);
  }
  const result = await db.executeQuery(CompiledQuery.raw(text, [id]) as CompiledQuery<PublicUserRow>);
  return result.rows[0];
}

/** The SQL of findPublicUserInSession, built once per database. */
const publicUserInSession = new WeakMap<Db, string>();

/**
 * The user's public face, only while the session is theirs and live: `user.me` checks the
 * session in the query it runs anyway, not in a second round trip.
 */
export async function findPublicUserInSession(db: Db, userId: string, sessionId: string, now: Date): Promise<PublicUserRow | undefined> {
  let text = publicUserInSession.get(db);
  if (text === undefined) {
    text = prepared(
      db
        .selectFrom('users')
        .innerJoin('sessions', 'sessions.user_id', 'users.id')
        .select(PUBLIC_USER_COLUMNS.map((column) => `users.${column}` as const))
        .where('users.id', '=', userId)
        .where('sessions.id', '=', sessionId)
        .where('sessions.revoked_at', 'is', null)
        .where('sessions.expires_at', '>', now)
        .compile().sql,
    );
    publicUserInSession.set(db, text);
  }
  const result = await db.executeQuery(CompiledQuery.raw(text, [userId, sessionId, now]) as CompiledQuery<PublicUserRow>);
  return result.rows[0];
}

export async function updateUser(db: Db, id: string, change: UserUpdate): Promise<UserRow> {
  return db.updateTable('users').set(change).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Which of an email and a username other accounts (than `exceptUserId`) already hold. */
export async function findTakenIdentifiers(
  db: Db,
  { email, username }: { email: string; username: string },
  exceptUserId?: string,
): Promise<{ email: boolean; username: boolean }> {
  let query = db.selectFrom('users').select(['email', 'username']);
  if (exceptUserId !== undefined) query = query.where('id', '!=', exceptUserId);
  const rows = await query
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

/** Reads a user and holds its row lock until the transaction ends (admin changes of one account queue here). */
export async function lockUserById(trx: Db, id: string): Promise<UserRow | undefined> {
  return trx.selectFrom('users').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The ids of every admin, their rows locked: concurrent demotions are decided one after another. */
/**
 * Locks every admin's row, in id order, and returns the ids of the enabled ones: a disabled admin
 * acts as no admin and counts as none (read under the lock, so a disabling that committed while
 * this waited is seen).
 */
export async function lockAdminIds(trx: Db): Promise<string[]> {
  const rows = await trx.selectFrom('users').select(['id', 'disabled_at']).where('role', '=', 'admin').orderBy('id').forUpdate().execute();
  return rows.filter((row) => row.disabled_at === null).map((row) => row.id);
}

/** `%` and `_` typed by an admin are letters, not wildcards. */
const likePrefix = (text: string) => `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Users by lower(email), after `afterEmail` (the keyset: lower(email) is unique), those whose
 * email or username starts with `query` when given.
 */
export async function listUsers(
  db: Db,
  filter: { query?: string | undefined; afterEmail?: string | undefined; limit: number },
): Promise<UserRow[]> {
  let query = db.selectFrom('users').selectAll();
  if (filter.query !== undefined && filter.query !== '') {
    const prefix = likePrefix(filter.query);
    query = query.where((eb) => eb.or([eb(sql<string>`lower(email)`, 'like', prefix), eb(sql<string>`lower(username)`, 'like', prefix)]));
  }
  if (filter.afterEmail !== undefined) query = query.where(sql<string>`lower(email)`, '>', filter.afterEmail.toLowerCase());
  return query.orderBy(sql`lower(email)`).limit(filter.limit).execute();
}
