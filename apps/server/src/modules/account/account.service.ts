import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { digestOf } from '../../lib/opaque-token.js';
import type { PasswordHasher } from '../../lib/password.js';
import type { ClientInfo, SessionService } from '../session/session.service.js';
import { LIMITS, throttleKey } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import { type User, type UserService, type UserUpdateInput, userRowToUser } from '../user/user.service.js';
import { queuePasswordChangedMail, queueResetMail, queueVerificationMail } from './account-mail.js';
import { type EmailTokenPurpose, findEmailToken, lockEmailToken, useEmailToken, useEmailTokens } from './email-token.repository.js';

export const FORGOT_PASSWORD_MESSAGE = 'If an account exists for that address, a link to reset its password is on its way.';

/** What the account services (this one and sign-in) use. */
export interface AccountDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'baseUrl' | 'emailVerificationTtlSeconds' | 'passwordResetTtlSeconds'>;
  hasher: PasswordHasher;
  throttle: Throttle;
  users: UserService;
  sessions: SessionService;
  /** Tells the mail worker something was queued (after the transaction committed). */
  mailQueued: () => void;
}

/** The account's credentials and address: email verification, password reset and change, profile and email change. */
export function createAccountService(deps: AccountDeps) {
  const { db, clock, config, hasher, throttle, users, sessions, mailQueued } = deps;

  /**
   * Counts a mailed token tried from the client's address before it is looked at, then looks it
   * up, before any costly work (a reset hashes its new password only for a token that works).
   * Unknown or used is TOKEN_INVALID, past its time TOKEN_EXPIRED. Returns the count's key: a
   * token that worked gives its hit back.
   */
  async function checkLinkToken(token: string, purpose: EmailTokenPurpose, client: ClientInfo): Promise<string> {
    const now = clock.now();
    const key = throttleKey.linkTokenAddress(client.ip);
    const verdict = await throttle.hit(key, LIMITS.linkTokensPerAddress, now);
    if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
    const row = await findEmailToken(db, digestOf(token), purpose);
    if (!row || row.used_at !== null) throw new AppError('TOKEN_INVALID');
    if (row.expires_at <= now) throw new AppError('TOKEN_EXPIRED');
    return key;
  }

  /** Uses a mailed token once, deciding again under the row's lock: two uses at once cannot both pass. */
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
    async verifyEmail(token: string, client: ClientInfo): Promise<{ user: User }> {
      const counted = await checkLinkToken(token, 'verify_email', client);
      const user = await consume(token, 'verify_email', async (trx, userId, email) => {
        const current = await users.findById(userId, trx);
        // A token proves only the address it was sent to; the account may have moved on since.
        if (!current || current.email.toLowerCase() !== email.toLowerCase()) return undefined;
        return current.email_verified_at ? current : users.write(userId, { email_verified_at: clock.now() }, trx);
      });
      if (!user) throw new AppError('TOKEN_INVALID');
      await throttle.release(counted);
      return { user: userRowToUser(user) };
    },

    async resendVerification(userId: string): Promise<void> {
      const now = clock.now();
      const verdict = await throttle.hit(throttleKey.verificationResend(userId), LIMITS.verificationResendsPerUser, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const queued = await db.transaction().execute(async (trx) => {
        const user = await users.findById(userId, trx);
        if (!user || user.email_verified_at) return false;
        await queueVerificationMail(trx, user, config, now);
        return true;
      });
      if (queued) mailQueued();
    },

    /** Answers the same for every address; a mail goes only to an account's stored address. */
    async forgotPassword(email: string, client: ClientInfo): Promise<{ message: string }> {
      const now = clock.now();
      const verdict = await throttle.hit(throttleKey.resetAddress(client.ip), LIMITS.resetRequestsPerAddress, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      // Per account, silently: refusing here would tell which addresses have accounts.
      const perAccount = await throttle.hit(throttleKey.resetAccount(email), LIMITS.resetRequestsPerAccount, now);
      if (perAccount.allowed) {
        const queued = await db.transaction().execute(async (trx) => {
          const user = await users.findByEmail(email, trx);
          if (!user) return false;
          await queueResetMail(trx, user, config, now);
          return true;
        });
        if (queued) mailQueued();
      }
      return { message: FORGOT_PASSWORD_MESSAGE };
    },

    /** Sets the new password, ends every session and every other reset link, and tells the owner. */
    async resetPassword(token: string, newPassword: string, client: ClientInfo): Promise<void> {
      const counted = await checkLinkToken(token, 'reset_password', client);
      const passwordHash = await hasher.hash(newPassword);
      const now = clock.now();
      const { user, revoked } = await consume(token, 'reset_password', async (trx, userId, email) => {
        const current = await users.findById(userId, trx);
        // The link reached the mailbox of the address it was sent to: that address is proven.
        const proven = current !== undefined && current.email.toLowerCase() === email.toLowerCase() && !current.email_verified_at;
        const user = await users.write(
          userId,
          { password_hash: passwordHash, updated_at: now, ...(proven && { email_verified_at: now }) },
          trx,
        );
        // Every other reset link dies with this one.
        await useEmailTokens(trx, userId, 'reset_password', now);
        const revoked = await sessions.revokeWithin(trx, { userId }, 'password_changed');
        await queuePasswordChangedMail(trx, user, now);
        return { user, revoked };
      });
      sessions.revoked(revoked);
      await throttle.release(counted);
      // Whoever was guessing this account's password has lost: the new one is not theirs.
      await throttle.loginSucceeded(throttleKey.loginAccount(user.email));
      mailQueued();
    },

    /** Changes the profile; a new email is unverified until its owner proves it, and gets a mail. */
    async update(userId: string, input: UserUpdateInput): Promise<User> {
      const current = await users.load(userId);
      const emailChanged = input.email !== undefined && input.email.toLowerCase() !== current.email.toLowerCase();
      const usernameChanged = input.username !== undefined && input.username !== current.username;
      try {
        const now = clock.now();
        const row = await db.transaction().execute(async (trx) => {
          const updated = await users.write(
            userId,
            { ...users.profileChange(input), ...(emailChanged && { email_verified_at: null }), updated_at: now },
            trx,
          );
          if (emailChanged) await queueVerificationMail(trx, updated, config, now);
          return updated;
        });
        if (emailChanged) mailQueued();
        return userRowToUser(row);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const conflict = await users.conflict(
          { email: emailChanged ? input.email : undefined, username: usernameChanged ? input.username : undefined },
          userId,
        );
        throw conflict ?? error;
      }
    },

    /** Checks the current password, sets the new one, and ends every other session of the user. */
    async changePassword(userId: string, sessionId: string, input: { currentPassword: string; newPassword: string }): Promise<void> {
      const user = await users.load(userId);
      const key = throttleKey.passwordCheck(userId);
      // Counted before the check, in one statement: a batch or a burst of guesses cannot all be
      // checked before the first is counted. A right password gives its hit back.
      const verdict = await throttle.hit(key, LIMITS.passwordChecksPerAccount, clock.now());
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      if (!(await hasher.verify(input.currentPassword, user.password_hash)))
        throw new AppError('INVALID_CREDENTIALS', { fields: { currentPassword: ['is incorrect'] } });
      await throttle.release(key);
      const passwordHash = await hasher.hash(input.newPassword);
      await sessions.revoke({ userId, exceptSessionId: sessionId }, 'password_changed', async (trx) => {
        await users.write(userId, { password_hash: passwordHash, updated_at: clock.now() }, trx);
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
