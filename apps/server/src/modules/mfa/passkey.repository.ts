import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { PasskeyChallengeRow, PasskeyPurpose, PasskeyRow } from '../../db/schema.js';

/** counter is a bigint: PostgreSQL and PGlite hand it back as a string, number or bigint. */
export const counterOf = (row: Pick<PasskeyRow, 'counter'>): number => Number(row.counter);

export async function findPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function findPasskey(db: Db, userId: string, id: string): Promise<PasskeyRow | undefined> {
  return db.selectFrom('passkeys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
}

export async function findPasskeyByCredential(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  return db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
}

export async function countPasskeys(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Inserts a credential; undefined when its credential id is registered already (to anyone). */
export async function insertPasskey(trx: Db, row: Omit<PasskeyRow, 'last_used_at'>): Promise<PasskeyRow | undefined> {
  return trx
    .insertInto('passkeys')
    .values({ ...row, counter: counterOf(row), last_used_at: null })
    .onConflict((oc) => oc.column('credential_id').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/**
 * Records a verified use, only if the signature count went up (or both it and the stored one are
 * zero: a synced passkey, which counts nothing): two assertions of one count, at once or one after
 * the other, cannot both pass. False when refused.
 */
export async function usePasskey(
  db: Db,
  change: { id: string; storedCounter: number; newCounter: number; backedUp: boolean; now: Date },
): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ counter: change.newCounter, backed_up: change.backedUp, last_used_at: change.now })
    .where('id', '=', change.id)
    .where('counter', '=', change.storedCounter)
    .where(sql<boolean>`(${change.newCounter}::bigint > counter or (${change.newCounter}::bigint = 0 and counter = 0))`)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
  return db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst();
}

export async function deletePasskey(trx: Db, userId: string, id: string): Promise<PasskeyRow | undefined> {
  return trx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst();
}

/** Gives the user a passkey handle if it has none (one statement: two first registrations agree), and answers the user's handle. */
export async function ensureUserHandle(db: Db, userId: string, candidate: string): Promise<string> {
  await db
    .updateTable('users')
    .set({ passkey_user_handle: candidate })
    .where('id', '=', userId)
    .where('passkey_user_handle', 'is', null)
    .execute();
  const row = await db.selectFrom('users').select('passkey_user_handle').where('id', '=', userId).executeTakeFirstOrThrow();
  if (row.passkey_user_handle === null) throw new Error('ensureUserHandle: the user has no handle');
  return row.passkey_user_handle;
}

export async function insertPasskeyChallenge(
  db: Db,
  row: {
    id: string;
    digest: string;
    purpose: PasskeyPurpose;
    userId: string | null;
    mfaChallengeId?: string | null;
    sessionId?: string | null;
    now: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await db
    .insertInto('passkey_challenges')
    .values({
      id: row.id,
      challenge_digest: row.digest,
      purpose: row.purpose,
      user_id: row.userId,
      mfa_challenge_id: row.mfaChallengeId ?? null,
      session_id: row.sessionId ?? null,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

/**
 * Uses up the challenge with this digest, in one statement, before the answer to it is checked:
 * a challenge is answered once, pass or fail, however many answers arrive at once. Undefined when
 * it is unknown or was used; an expired one is used up too and returned (the caller refuses it).
 */
export async function consumePasskeyChallenge(db: Db, digest: string, now: Date): Promise<PasskeyChallengeRow | undefined> {
  return db
    .updateTable('passkey_challenges')
    .set({ used_at: now })
    .where('challenge_digest', '=', digest)
    .where('used_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes challenges that expired before `before` (the clean-up job). */
export async function deleteExpiredPasskeyChallenges(db: Db, before: Date): Promise<number> {
  const result = await db.deleteFrom('passkey_challenges').where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
