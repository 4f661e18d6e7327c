import type { Db } from '../../db/database.js';
import type { NewSessionRow, SessionRow, UserRow } from '../../db/schema.js';

export type RevokeReason = 'logout' | 'logout_all' | 'refresh_token_reused';

export async function insertSession(db: Db, row: NewSessionRow): Promise<SessionRow> {
  return db.insertInto('sessions').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Reads a session and holds its row lock until the transaction ends: refreshes of one session queue here. */
export async function lockSession(trx: Db, id: string): Promise<SessionRow | undefined> {
  return trx.selectFrom('sessions').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function advanceSession(trx: Db, id: string, change: { generation: number; now: Date; expiresAt: Date }): Promise<void> {
  await trx
    .updateTable('sessions')
    .set({ generation: change.generation, rotated_at: change.now, last_used_at: change.now, expires_at: change.expiresAt })
    .where('id', '=', id)
    .execute();
}

export async function revokeSession(db: Db, id: string, reason: RevokeReason, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Revokes every live session of a user; returns how many there were. */
export async function revokeUserSessions(db: Db, userId: string, reason: RevokeReason, now: Date): Promise<number> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The user of a session that is neither revoked nor expired, in one round trip. */
export async function findActiveSessionUser(
  db: Db,
  { sessionId, userId, now }: { sessionId: string; userId: string; now: Date },
): Promise<UserRow | undefined> {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .where('sessions.id', '=', sessionId)
    .where('sessions.user_id', '=', userId)
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', now)
    .executeTakeFirst();
}
