/** Writing the mails of the account flows into the outbox, inside the caller's transaction. */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { UserRow } from '../../db/schema.js';
import { newOpaqueToken } from '../../lib/opaque-token.js';
import { queueMail } from '../mail/outbox.js';
import { type MailKind, renderMail } from './account-mail.templates.js';
import { type EmailTokenPurpose, insertEmailToken } from './email-token.repository.js';

type LinkConfig = Pick<Config, 'baseUrl' | 'emailVerificationTtlSeconds' | 'passwordResetTtlSeconds'>;

function humanDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return seconds === 86_400 ? '24 hours' : `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

async function queue(trx: Db, user: UserRow, kind: MailKind, now: Date, vars: { link?: string; validFor?: string } = {}): Promise<void> {
  const mail = renderMail(kind, { username: user.username, ...vars });
  // Only ever the address stored for the account, never one a request typed.
  await queueMail(trx, { kind, userId: user.id, to: user.email, subject: mail.subject, text: mail.text, html: mail.html }, now);
}

/** A single-use token for the user's current address, stored as its digest; the token itself only travels in the mail. */
async function issueLinkToken(trx: Db, user: UserRow, purpose: EmailTokenPurpose, ttlSeconds: number, now: Date): Promise<string> {
  const { token, digest } = newOpaqueToken();
  await insertEmailToken(trx, {
    id: randomUUID(),
    userId: user.id,
    purpose,
    digest,
    email: user.email,
    now,
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
  });
  return token;
}

/** A verification token for the user's current address, and the mail that carries it. */
export async function queueVerificationMail(trx: Db, user: UserRow, config: LinkConfig, now: Date): Promise<void> {
  const ttl = config.emailVerificationTtlSeconds;
  const token = await issueLinkToken(trx, user, 'verify_email', ttl, now);
  // Links come from BASE_URL only, never from the request's Host.
  const link = `${config.baseUrl}/verify-email?token=${token}`;
  await queue(trx, user, 'verify_email', now, { link, validFor: humanDuration(ttl) });
}

/** A reset token and its mail. The token travels in the fragment, which browsers never send to a server. */
export async function queueResetMail(trx: Db, user: UserRow, config: LinkConfig, now: Date): Promise<void> {
  const ttl = config.passwordResetTtlSeconds;
  const token = await issueLinkToken(trx, user, 'reset_password', ttl, now);
  const link = `${config.baseUrl}/reset-password#token=${token}`;
  await queue(trx, user, 'reset_password', now, { link, validFor: humanDuration(ttl) });
}

export async function queuePasswordChangedMail(trx: Db, user: UserRow, now: Date): Promise<void> {
  await queue(trx, user, 'password_changed', now);
}
