import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { MailRow, NewMailRow } from '../../db/schema.js';

export async function enqueueMail(db: Db, row: NewMailRow): Promise<void> {
  await db.insertInto('mail_outbox').values(row).execute();
}

/**
 * Takes up to `limit` due mails for this worker: a lease (`locked_until`) that other workers
 * skip, taken with FOR UPDATE SKIP LOCKED so that two workers never take the same row.
 */
export async function claimDueMails(db: Db, now: Date, limit: number, leaseSeconds: number): Promise<MailRow[]> {
  const leaseEnd = new Date(now.getTime() + leaseSeconds * 1000);
  return db
    .updateTable('mail_outbox')
    .set({ locked_until: leaseEnd, attempts: sql`attempts + 1` })
    .where(
      'id',
      'in',
      db
        .selectFrom('mail_outbox')
        .select('id')
        .where('sent_at', 'is', null)
        .where('failed_at', 'is', null)
        .where('next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
        .orderBy('next_attempt_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
}

/** Delivered: the bodies (links, tokens) are purged; the metadata stays for audit. */
export async function markSent(db: Db, id: string, now: Date): Promise<void> {
  await db
    .updateTable('mail_outbox')
    .set({ sent_at: now, text_body: null, html_body: null, locked_until: null, last_error: null })
    .where('id', '=', id)
    .execute();
}

export async function markFailed(db: Db, id: string, change: { nextAttemptAt: Date; error: string; giveUpAt?: Date }): Promise<void> {
  await db
    .updateTable('mail_outbox')
    .set({
      next_attempt_at: change.nextAttemptAt,
      last_error: change.error.slice(0, 500),
      locked_until: null,
      ...(change.giveUpAt && { failed_at: change.giveUpAt, text_body: null, html_body: null }),
    })
    .where('id', '=', id)
    .execute();
}

export async function listMails(db: Db): Promise<MailRow[]> {
  return db.selectFrom('mail_outbox').selectAll().orderBy('created_at').orderBy('id').execute();
}
