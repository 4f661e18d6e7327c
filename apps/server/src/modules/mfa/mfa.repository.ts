import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { MfaChallengeRow, MfaFactorRow, MfaLoginCounts } from '../../db/schema.js';

/** last_used_step is a bigint: PostgreSQL and PGlite hand it back as a string, number or bigint. */
export const stepOf = (row: Pick<MfaFactorRow, 'last_used_step'>): number => Number(row.last_used_step);

export async function insertFactor(trx: Db, row: { id: string; userId: string; sealedSecret: string; now: Date }): Promise<void> {
  await trx
    .insertInto('mfa_factors')
    .values({ id: row.id, user_id: row.userId, type: 'totp', status: 'pending', secret_sealed: row.sealedSecret, created_at: row.now })
    .execute();
}

export async function findFactors(db: Db, userId: string): Promise<MfaFactorRow[]> {
  return db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function findFactor(db: Db, userId: string, factorId: string): Promise<MfaFactorRow | undefined> {
  return db.selectFrom('mfa_factors').selectAll().where('id', '=', factorId).where('user_id', '=', userId).executeTakeFirst();
}

/** Whether the user has an active second factor: an authenticator app, or a passkey. */
export async function hasActiveFactor(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('mfa_factors')
    .select('id')
    .where('user_id', '=', userId)
    .where('status', '=', 'active')
    .unionAll(db.selectFrom('passkeys').select('id').where('user_id', '=', userId))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Removes the user's pending factors set up before `before` (an abandoned set-up). */
export async function deleteStalePendingFactors(trx: Db, userId: string, before: Date): Promise<void> {
  await trx
    .deleteFrom('mfa_factors')
    .where('user_id', '=', userId)
    .where('status', '=', 'pending')
    .where('created_at', '<', before)
    .execute();
}

/**
 * Records that a code of `step` was accepted for the factor, only if no code of this step or a
 * later one was: two submissions of one code, at once or one after the other, cannot both pass.
 * With `activate`, a pending factor becomes active in the same statement. False when refused.
 */
export async function useFactorStep(
  db: Db,
  change: { factorId: string; step: number; now: Date; status: MfaFactorRow['status']; activate?: boolean; resealed?: string | undefined },
): Promise<boolean> {
  const result = await db
    .updateTable('mfa_factors')
    .set({
      last_used_step: change.step,
      last_used_at: change.now,
      ...(change.resealed !== undefined && { secret_sealed: change.resealed }),
      ...(change.activate && { status: 'active' as const, confirmed_at: change.now }),
    })
    .where('id', '=', change.factorId)
    .where('status', '=', change.status)
    .where('last_used_step', '<', change.step)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteFactor(trx: Db, userId: string, factorId: string): Promise<MfaFactorRow | undefined> {
  return trx.deleteFrom('mfa_factors').where('id', '=', factorId).where('user_id', '=', userId).returningAll().executeTakeFirst();
}

export async function countRecoveryCodes(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('mfa_recovery_codes')
    .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Replaces the user's recovery codes: the new key (sealed) and the digests of the new codes, or
 * none at all.
 */
export async function replaceRecoveryCodes(
  trx: Db,
  userId: string,
  set: { keySealed: string; digests: readonly string[] } | undefined,
  now: Date,
): Promise<void> {
  await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
  await trx.deleteFrom('mfa_recovery_keys').where('user_id', '=', userId).execute();
  if (!set) return;
  await trx.insertInto('mfa_recovery_keys').values({ user_id: userId, key_sealed: set.keySealed, created_at: now }).execute();
  await trx
    .insertInto('mfa_recovery_codes')
    .values(set.digests.map((digest) => ({ id: randomUUID(), user_id: userId, code_digest: digest, created_at: now })))
    .execute();
}

export async function findRecoveryKey(db: Db, userId: string): Promise<string | undefined> {
  const row = await db.selectFrom('mfa_recovery_keys').select('key_sealed').where('user_id', '=', userId).executeTakeFirst();
  return row?.key_sealed;
}

/** Uses the unused code with this digest, in one statement: a code passes once, even twice at once. */
export async function useRecoveryCode(db: Db, userId: string, digest: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('mfa_recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_digest', '=', digest)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A page of sealed values, in key order after `after`: TOTP secrets by factor id, recovery keys by user id. */
export async function sealedPage(
  db: Db,
  table: 'factors' | 'recovery_keys',
  after: string | undefined,
  limit: number,
): Promise<{ id: string; userId: string; sealed: string }[]> {
  if (table === 'factors') {
    let query = db.selectFrom('mfa_factors').select(['id', 'user_id', 'secret_sealed']).orderBy('id').limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return (await query.execute()).map((row) => ({ id: row.id, userId: row.user_id, sealed: row.secret_sealed }));
  }
  let query = db.selectFrom('mfa_recovery_keys').select(['user_id', 'key_sealed']).orderBy('user_id').limit(limit);
  if (after !== undefined) query = query.where('user_id', '>', after);
  return (await query.execute()).map((row) => ({ id: row.user_id, userId: row.user_id, sealed: row.key_sealed }));
}

/** Replaces a sealed value, only if it is still the one that was read (a use may have sealed it again meanwhile). */
export async function replaceSealed(db: Db, table: 'factors' | 'recovery_keys', id: string, from: string, to: string): Promise<void> {
  if (table === 'factors')
    await db.updateTable('mfa_factors').set({ secret_sealed: to }).where('id', '=', id).where('secret_sealed', '=', from).execute();
  else await db.updateTable('mfa_recovery_keys').set({ key_sealed: to }).where('user_id', '=', id).where('key_sealed', '=', from).execute();
}

export async function insertChallenge(
  db: Db,
  row: { id: string; userId: string; digest: string; login: MfaLoginCounts; now: Date; expiresAt: Date; firstFactor: 'pwd' | 'fed' },
): Promise<void> {
  await db
    .insertInto('mfa_challenges')
    .values({
      id: row.id,
      user_id: row.userId,
      token_digest: row.digest,
      login: JSON.stringify(row.login),
      first_factor: row.firstFactor,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

export async function findChallenge(db: Db, digest: string): Promise<MfaChallengeRow | undefined> {
  return db.selectFrom('mfa_challenges').selectAll().where('token_digest', '=', digest).executeTakeFirst();
}

/**
 * Takes one attempt from a live challenge, in one statement, before its code is checked: at most
 * `maxAttempts` codes are ever checked for it, however many arrive at once. False when it is
 * used, expired or out of attempts.
 */
export async function takeChallengeAttempt(db: Db, id: string, now: Date, maxAttempts: number): Promise<boolean> {
  const result = await db
    .updateTable('mfa_challenges')
    .set({ attempts: sql`attempts + 1` })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where('attempts', '<', maxAttempts)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Uses the challenge, once: false when another use got there first. */
export async function useChallenge(trx: Db, id: string, now: Date): Promise<boolean> {
  const result = await trx
    .updateTable('mfa_challenges')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Ends every pending sign-in of the user (its password changed: what it proved no longer holds). */
export async function useChallenges(trx: Db, userId: string, now: Date): Promise<void> {
  await trx.updateTable('mfa_challenges').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
}

/** Deletes challenges that expired before `before` (the clean-up job). */
export async function deleteExpiredChallenges(db: Db, before: Date): Promise<number> {
  const result = await db.deleteFrom('mfa_challenges').where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
