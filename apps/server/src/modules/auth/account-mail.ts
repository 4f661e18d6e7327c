/** Writing the mails of the account flows into the outbox, inside the caller's transaction. */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { UserRow } from '../../db/schema.js';
import { type MailKind, renderMail } from '../../lib/mail-templates.js';
import { newOpaqueToken } from '../../lib/opaque-token.js';
import { enqueueMail } from '../mail/outbox.repository.js';
import { insertEmailToken } from './email-token.repository.js';

type LinkConfig = Pick<Config, 'baseUrl' | 'emailVerificationTtlSeconds' | 'passwordResetTtlSeconds'>;

function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 hours' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

async function queue(trx: Db, user: UserRow, kind: MailKind, now: Date, vars: { link?: string; validFor?: string } = {}): Promise<void> {
  const mail = renderMail(kind, { username: user.username, ...vars });
  await enqueueMail(trx, {
    id: randomUUID(),
    kind,
    user_id: user.id,
    // Only ever the address stored for the account, never one a request typed.
    to_address: user.email,
    subject: mail.subject,
    text_body: mail.text,
    html_body: mail.html,
    created_at: now,
    next_attempt_at: now,
  });
}

/** A verification token for the user's current address, and the mail that carries it. */
export async function queueVerificationMail(trx: Db, user: UserRow, config: LinkConfig, now: Date): Promise<void> {
  const { token, digest } = newOpaqueToken();
  const ttl = config.emailVerificationTtlSeconds;
  await insertEmailToken(trx, {
    id: randomUUID(),
    userId: user.id,
    purpose: 'verify_email',
    digest,
    email: user.email,
    now,
    expiresAt: new Date(now.getTime() + ttl * 1000),
  });
  // Links come from BASE_URL only, never from the request's Host.
  const link = `${config.baseUrl}/verify-email?token=${token}`;
  await queue(trx, user, 'verify_email', now, { link, validFor: humanDuration(ttl) });
}

/** A reset token and its mail. The token travels in the fragment, which browsers never send to a server. */
export async function queueResetMail(trx: Db, user: UserRow, config: LinkConfig, now: Date): Promise<void> {
  const { token, digest } = newOpaqueToken();
  const ttl = config.passwordResetTtlSeconds;
  await insertEmailToken(trx, {
    id: randomUUID(),
    userId: user.id,
    purpose: 'reset_password',
    digest,
    email: user.email,
    now,
    expiresAt: new Date(now.getTime() + ttl * 1000),
  });
  const link = `${config.baseUrl}/reset-password#token=${token}`;
  await queue(trx, user, 'reset_password', now, { link, validFor: humanDuration(ttl) });
}

export async function queuePasswordChangedMail(trx: Db, user: UserRow, now: Date): Promise<void> {
  await queue(trx, user, 'password_changed', now);
}
