import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Revocations } from '../../db/revocations.js';
import { announceRevoked } from '../../db/revocations.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { digestOf } from '../../lib/opaque-token.js';
import type { PasswordHasher } from '../../lib/password.js';
import type { RateLimiter } from '../../lib/rate-limiter.js';
import { type User, userRowToUser } from '../user/user.mapper.js';
import { findUserByEmail, findUserById, updateUser } from '../user/user.repository.js';
import { queuePasswordChangedMail, queueResetMail, queueVerificationMail } from './account-mail.js';
import type { ClientInfo } from './auth.service.js';
import { type EmailTokenPurpose, lockEmailToken, useEmailToken, useEmailTokens } from './email-token.repository.js';
import { revokeSessions } from './session.repository.js';
import { LIMITS, throttleKey } from './throttle-policy.js';

export const FORGOT_PASSWORD_MESSAGE = 'If an account exists for that address, a link to reset its password is on its way.';

export interface AccountDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'baseUrl' | 'emailVerificationTtlSeconds' | 'passwordResetTtlSeconds'>;
  hasher: PasswordHasher;
  limiter: RateLimiter;
  revocations: Revocations;
  /** Tells the mail worker something was queued (after the transaction committed). */
  mailQueued: () => void;
}

/** Email verification and password reset: the flows that go through a mailed link. */
export function createAccountService(deps: AccountDeps) {
  const { db, clock, config, hasher, limiter, revocations, mailQueued } = deps;

  /** Uses a mailed token once: unknown or used is TOKEN_INVALID, past its time TOKEN_EXPIRED. */
  async function consume<T>(
    token: string,
    purpose: EmailTokenPurpose,
    work: (trx: Db, userId: string, email: string) => Promise<T>,
  ): Promise<T> {
    const now = clock.now();
    type Outcome = { ok: true; value: T } | { ok: false; error: 'TOKEN_INVALID' | 'TOKEN_EXPIRED' };
    const outcome = await db.transaction().execute(async (trx): Promise<Outcome> => {
      const row = await lockEmailToken(trx, digestOf(token), purpose);
      if (!row || row.used_at !== null) return { ok: false, error: 'TOKEN_INVALID' };
      if (row.expires_at <= now) return { ok: false, error: 'TOKEN_EXPIRED' };
      await useEmailToken(trx, row.id, now);
      return { ok: true, value: await work(trx, row.user_id, row.email) };
    });
    if (!outcome.ok) throw new AppError(outcome.error);
    return outcome.value;
  }

  return {
    async verifyEmail(token: string): Promise<{ user: User }> {
      const user = await consume(token, 'verify_email', async (trx, userId, email) => {
        const current = await findUserById(trx, userId);
        // A token proves only the address it was sent to; the account may have moved on since.
        if (!current || current.email.toLowerCase() !== email.toLowerCase()) return undefined;
        return current.email_verified_at ? current : updateUser(trx, userId, { email_verified_at: clock.now() });
      });
      if (!user) throw new AppError('TOKEN_INVALID');
      return { user: userRowToUser(user) };
    },

    async resendVerification(userId: string): Promise<void> {
      const now = clock.now();
      const verdict = await limiter.hit(throttleKey.verificationResend(userId), LIMITS.verificationResendsPerUser, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const queued = await db.transaction().execute(async (trx) => {
        const user = await findUserById(trx, userId);
        if (!user || user.email_verified_at) return false;
        await queueVerificationMail(trx, user, config, now);
        return true;
      });
      if (queued) mailQueued();
    },

    /** Answers the same for every address; a mail goes only to an account's stored address. */
    async forgotPassword(email: string, client: ClientInfo): Promise<{ message: string }> {
      const now = clock.now();
      if (client.ip) {
        const verdict = await limiter.hit(throttleKey.resetAddress(client.ip), LIMITS.resetRequestsPerAddress, now);
        if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      }
      // Per account, silently: refusing here would tell which addresses have accounts.
      const perAccount = await limiter.hit(throttleKey.resetAccount(email), LIMITS.resetRequestsPerAccount, now);
      if (perAccount.allowed) {
        const queued = await db.transaction().execute(async (trx) => {
          const user = await findUserByEmail(trx, email);
          if (!user) return false;
          await queueResetMail(trx, user, config, now);
          return true;
        });
        if (queued) mailQueued();
      }
      return { message: FORGOT_PASSWORD_MESSAGE };
    },

    /** Sets the new password, ends every session and every other reset link, and tells the owner. */
    async resetPassword(token: string, newPassword: string): Promise<void> {
      const passwordHash = await hasher.hash(newPassword);
      const now = clock.now();
      const { user, revoked } = await consume(token, 'reset_password', async (trx, userId, email) => {
        const current = await findUserById(trx, userId);
        // The link reached the mailbox of the address it was sent to: that address is proven.
        const proven = current !== undefined && current.email.toLowerCase() === email.toLowerCase() && !current.email_verified_at;
        const user = await updateUser(trx, userId, {
          password_hash: passwordHash,
          updated_at: now,
          ...(proven && { email_verified_at: now }),
        });
        // Every other reset link dies with this one.
        await useEmailTokens(trx, userId, 'reset_password', now);
        const revoked = await revokeSessions(trx, { userId }, 'password_changed', now);
        await announceRevoked(trx, revoked);
        await queuePasswordChangedMail(trx, user, now);
        return { user, revoked };
      });
      revocations.add(revoked);
      // Whoever was guessing this account's password has lost: the new one is not theirs.
      await limiter.loginSucceeded(throttleKey.loginAccount(user.email));
      mailQueued();
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
