/**
 * The mail module's face to the others: a mail is queued inside the caller's transaction (it
 * exists exactly when the change that sends it committed) and delivered later by the worker.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.js';
import type { MailRow } from '../../db/schema.js';
import { enqueueMail, listMails } from './outbox.repository.js';

export interface QueuedMail {
  kind: string;
  userId: string;
  /** The address stored for the account, never one a request typed. */
  to: string;
  subject: string;
  text: string;
  html: string;
}

export async function queueMail(trx: Db, mail: QueuedMail, now: Date): Promise<void> {
  await enqueueMail(trx, {
    id: randomUUID(),
    kind: mail.kind,
    user_id: mail.userId,
    to_address: mail.to,
    subject: mail.subject,
    text_body: mail.text,
    html_body: mail.html,
    created_at: now,
    next_attempt_at: now,
  });
}

/** Every mail of the outbox, oldest first: what the test kit shows. */
export function outboxMails(db: Db): Promise<MailRow[]> {
  return listMails(db);
}
