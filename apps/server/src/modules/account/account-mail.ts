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

type Vars = { link?: string; validFor?: string; newEmail?: string; remaining?: number };

/**
 * Only ever an address stored for the account, never one a request typed: the current one, or
 * (for the confirmation of an email change) the pending one.
 */
async function queue(trx: Db, user: UserRow, kind: MailKind, now: Date, vars: Vars = {}, to = user.email): Promise<void> {
  const mail = renderMail(kind, { username: user.username, ...vars });
  await queueMail(trx, { kind, userId: user.id, to, subject: mail.subject, text: mail.text, html: mail.html }, now);
}

/** A single-use token for one of the user's addresses, stored as its digest; the token itself only travels in the mail. */
async function issueLinkToken(
  trx: Db,
  user: UserRow,
  purpose: EmailTokenPurpose,
  ttlSeconds: number,
  now: Date,
  email = user.email,
): Promise<string> {
  const { token, digest } = newOpaqueToken();
  await insertEmailToken(trx, {
    id: randomUUID(),
    userId: user.id,
    purpose,
    digest,
    email,
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

/**
 * The two confirmations of an email change (`user` holds the pending address): a link to the new
 * address, and one to the current address when that address was ever proven. Both links open the
 * verification page; the change completes when every link it needs has been used.
 */
export async function queueEmailChangeMails(trx: Db, user: UserRow, config: LinkConfig, now: Date): Promise<void> {
  const pending = user.pending_email;
  if (pending === null) throw new Error('no pending email change');
  const ttl = config.emailVerificationTtlSeconds;
  const validFor = humanDuration(ttl);
  const newToken = await issueLinkToken(trx, user, 'email_change_new', ttl, now, pending);
  await queue(trx, user, 'email_change_new', now, { link: `${config.baseUrl}/verify-email?token=${newToken}`, validFor }, pending);
  if (user.pending_email_current_confirmed_at === null) {
    const currentToken = await issueLinkToken(trx, user, 'email_change_current', ttl, now);
    await queue(trx, user, 'email_change_current', now, {
      link: `${config.baseUrl}/verify-email?token=${currentToken}`,
      validFor,
      newEmail: pending,
    });
  }
}

/** Tells the old address that the account moved away from it. */
export async function queueEmailChangedMail(trx: Db, user: UserRow, oldEmail: string, now: Date): Promise<void> {
  await queue(trx, user, 'email_changed', now, { newEmail: user.email }, oldEmail);
}

/** Tells the owner that an administrator disabled, or enabled again, their account (no link in it). */
export async function queueAccountStatusMail(trx: Db, user: UserRow, status: 'disabled' | 'enabled', now: Date): Promise<void> {
  await queue(trx, user, status === 'disabled' ? 'account_disabled' : 'account_enabled', now);
}

/** Second-factor notices (modules/mfa sends them through app.ts): to the account's own address. */
export type SecondFactorNotice =
  | 'mfa_enabled'
  | 'mfa_removed'
  | 'recovery_code_used'
  | 'recovery_codes_regenerated'
  | 'passkey_added'
  | 'passkey_removed';

export async function queueSecondFactorMail(
  trx: Db,
  user: UserRow,
  kind: SecondFactorNotice,
  now: Date,
  vars: { remaining?: number } = {},
): Promise<void> {
  await queue(trx, user, kind, now, vars);
}
