import type { Db } from '../../db/database.js';
import type { EmailTokenRow } from '../../db/schema.js';

export type EmailTokenPurpose = EmailTokenRow['purpose'];

export async function insertEmailToken(
  db: Db,
  row: { id: string; userId: string; purpose: EmailTokenPurpose; digest: string; email: string; now: Date; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('email_tokens')
    .values({
      id: row.id,
      user_id: row.userId,
      purpose: row.purpose,
      token_digest: row.digest,
      email: row.email,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

/** The token with this digest, without a lock: to refuse a bad token before any costly work. */
export async function findEmailToken(db: Db, digest: string, purposes: readonly EmailTokenPurpose[]): Promise<EmailTokenRow | undefined> {
  return db.selectFrom('email_tokens').selectAll().where('token_digest', '=', digest).where('purpose', 'in', purposes).executeTakeFirst();
}

/** The token with this digest, locked for the rest of the transaction: a token is used once, even when presented twice at once. */
export async function lockEmailToken(trx: Db, digest: string, purposes: readonly EmailTokenPurpose[]): Promise<EmailTokenRow | undefined> {
  return trx
    .selectFrom('email_tokens')
    .selectAll()
    .where('token_digest', '=', digest)
    .where('purpose', 'in', purposes)
    .forUpdate()
    .executeTakeFirst();
}

export async function useEmailToken(trx: Db, id: string, now: Date): Promise<void> {
  await trx.updateTable('email_tokens').set({ used_at: now }).where('id', '=', id).execute();
}

/** Marks every outstanding token of the user for these purposes used. */
export async function useEmailTokens(trx: Db, userId: string, purposes: readonly EmailTokenPurpose[], now: Date): Promise<void> {
  await trx
    .updateTable('email_tokens')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('purpose', 'in', purposes)
    .where('used_at', 'is', null)
    .execute();
}
