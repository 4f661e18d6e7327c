import { CompiledQuery, sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { prepared } from '../../db/prepared.js';
import type { NewSessionRow, SessionRow } from '../../db/schema.js';

export type RevokeReason =
  | 'logout'
  | 'logout_all'
  | 'revoked'
  | 'password_changed'
  | 'refresh_token_reused'
  | 'user_disabled'
  | 'admin_revoked';

/**
 * Inserts the session only while its user is not disabled, in one statement. The user row is
 * read FOR SHARE, which waits for a disabling transaction that holds it (and then sees it
 * disabled), or makes that transaction wait until this session is committed (and then revokes
 * it): a login racing a disabling never leaves a live session behind. With `provenHash` (the
 * password hash a login just checked), also only while that is still the user's password: a login
 * racing a password change or reset never outlives it. Undefined when refused.
 * (It reads the users table, which the user module owns, for that lock alone.)
 */
export async function insertSessionForEnabledUser(db: Db, row: NewSessionRow, provenHash?: string): Promise<SessionRow | undefined> {
  const result = await sql<SessionRow>`
    insert into sessions (id, user_id, generation, rotated_at, created_at, last_used_at, expires_at, absolute_expires_at,
      user_agent, ip, auth_time, auth_methods)
    select ${row.id}::uuid, users.id, ${row.generation ?? 0}::integer, ${row.rotated_at ?? null}::timestamptz,
      ${row.created_at}::timestamptz, ${row.last_used_at}::timestamptz, ${row.expires_at}::timestamptz,
      ${row.absolute_expires_at}::timestamptz, ${row.user_agent ?? null}::text, ${row.ip ?? null}::text,
      ${row.auth_time}::timestamptz, ${row.auth_methods ?? 'pwd'}::text
    from users
    where users.id = ${row.user_id} and users.disabled_at is null
      and (${provenHash ?? null}::text is null or users.password_hash = ${provenHash ?? null}::text)
    for share of users
    returning *`.execute(db);
  return result.rows[0];
}

/**
 * The usual refresh in one statement: moves a live session from the presented generation to the
 * next. The UPDATE takes the row lock itself, and a concurrent one waits and then re-checks the
 * WHERE against the row it committed, so two of them can never both advance from one generation.
 * Undefined when the session is unknown, ended, expired or at another generation: the caller then
 * decides under `lockSession`.
 */
export async function advanceCurrentSession(
  db: Db,
  change: { id: string; generation: number; now: Date; idleExpiresAt: Date },
): Promise<Pick<SessionRow, 'user_id' | 'generation' | 'expires_at' | 'auth_time' | 'auth_methods'> | undefined> {
  // Every refresh runs this statement: its SQL is built by Kysely once per database, then reused.
  const parameters = [change.generation + 1, change.now, change.now, change.idleExpiresAt, change.id, change.generation, change.now];
  let text = advanceSql.get(db);
  if (text === undefined) {
    const compiled = advanceQuery(db, change).compile();
    // The parameters above must be the builder's, in its order: checked once, on the real values.
    if (JSON.stringify(compiled.parameters) !== JSON.stringify(parameters))
      throw new Error('advanceCurrentSession: parameter order changed');
    text = prepared(compiled.sql);
    advanceSql.set(db, text);
  }
  const result = await db.executeQuery(
    CompiledQuery.raw(text, parameters) as CompiledQuery<
      Pick<SessionRow, 'user_id' | 'generation' | 'expires_at' | 'auth_time' | 'auth_methods'>
    >,
  );
  return result.rows[0];
}

const advanceSql = new WeakMap<Db, string>();

function advanceQuery(db: Db, change: { id: string; generation: number; now: Date; idleExpiresAt: Date }) {
  return db
    .updateTable('sessions')
    .set({
      generation: change.generation + 1,
      rotated_at: change.now,
      last_used_at: change.now,
      expires_at: sql<Date>`least(${change.idleExpiresAt}::timestamptz, absolute_expires_at)`,
    })
    .where('id', '=', change.id)
    .where('generation', '=', change.generation)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', change.now)
    .returning(['user_id', 'generation', 'expires_at', 'auth_time', 'auth_methods']);
}

/** Sets a live session's last proof of identity; undefined when the session is not this user's or not live. */
export async function recordAuthentication(
  db: Db,
  change: { id: string; userId: string; now: Date; methods: string },
): Promise<Pick<SessionRow, 'id' | 'user_id' | 'expires_at' | 'auth_time' | 'auth_methods'> | undefined> {
  return db
    .updateTable('sessions')
    .set({ auth_time: change.now, auth_methods: change.methods })
    .where('id', '=', change.id)
    .where('user_id', '=', change.userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', change.now)
    .returning(['id', 'user_id', 'expires_at', 'auth_time', 'auth_methods'])
    .executeTakeFirst();
}

/** Whether the user is disabled now (what a refresh of a session ended by disabling answers). */
export async function isUserDisabled(db: Db, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('disabled_at').where('id', '=', userId).executeTakeFirst();
  return row !== undefined && row.disabled_at !== null;
}

/** Reads a session and holds its row lock until the transaction ends: refreshes of one session queue here. */
export async function lockSession(trx: Db, id: string): Promise<SessionRow | undefined> {
  return trx.selectFrom('sessions').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Moves a session to its next generation; only from the generation the caller read (a backstop behind the row lock). */
export async function advanceSession(trx: Db, id: string, change: { generation: number; now: Date; expiresAt: Date }): Promise<void> {
  const result = await trx
    .updateTable('sessions')
    .set({ generation: change.generation, rotated_at: change.now, last_used_at: change.now, expires_at: change.expiresAt })
    .where('id', '=', id)
    .where('generation', '=', change.generation - 1)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows !== 1n) throw new Error('session changed under its row lock');
}

export interface RevokeFilter {
  sessionId?: string;
  userId?: string;
  /** Spare this session (a password change keeps the session that made it). */
  exceptSessionId?: string;
}

/** Revokes the live sessions the filter names; returns their ids and users. */
export async function revokeSessions(
  db: Db,
  filter: RevokeFilter,
  reason: RevokeReason,
  now: Date,
): Promise<Array<{ id: string; user_id: string }>> {
  if (filter.sessionId === undefined && filter.userId === undefined) throw new Error('revokeSessions needs a session or a user');
  let query = db.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason }).where('revoked_at', 'is', null);
  if (filter.sessionId !== undefined) query = query.where('id', '=', filter.sessionId);
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  if (filter.exceptSessionId !== undefined) query = query.where('id', '!=', filter.exceptSessionId);
  return query.returning(['id', 'user_id']).execute();
}

/** Whether a session of this user exists and is neither revoked nor expired. */
export async function isSessionLive(db: Db, sessionId: string, userId: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('sessions')
    .select('id')
    .where('id', '=', sessionId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listLiveSessions(db: Db, userId: string, now: Date): Promise<SessionRow[]> {
  return db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('last_used_at', 'desc')
    .execute();
}

/** Deletes sessions that ended before `before`. Idempotent: every instance may run it at once. */
export async function deleteEndedSessions(db: Db, before: Date): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** How many live sessions each of these users has (those with none are absent). */
export async function countLiveSessions(db: Db, userIds: readonly string[], now: Date): Promise<Map<string, number>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('sessions')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('count')])
    .where('user_id', 'in', userIds)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .groupBy('user_id')
    .execute();
  return new Map(rows.map((row) => [row.user_id, Number(row.count)]));
}
