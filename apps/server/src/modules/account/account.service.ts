import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { UserRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { digestOf } from '../../lib/opaque-token.js';
import type { PasswordHasher } from '../../lib/password.js';
import type { AuditService } from '../audit/audit.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { PasskeyService } from '../mfa/passkey.service.js';
import type { Authenticated, AuthProof, ClientInfo, SessionService } from '../session/session.service.js';
import { LIMITS, throttleKey } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import { type User, type UserService, type UserUpdateInput, userRowToUser } from '../user/user.service.js';
import type { ReauthenticateInput } from './account.schemas.js';
import {
  queueEmailChangedMail,
  queueEmailChangeMails,
  queuePasswordChangedMail,
  queueResetMail,
  queueVerificationMail,
} from './account-mail.js';
import { type EmailTokenPurpose, findEmailToken, lockEmailToken, useEmailToken, useEmailTokens } from './email-token.repository.js';

/** What a signed-in change of the account may hold: the profile, a new address, a new password, and the proof. */
export interface AccountChange extends UserUpdateInput {
  newPassword?: string | undefined;
  /** The current password, sent with a sensitive change instead of a recent re-authentication. */
  currentPassword?: string | undefined;
}

/** Mailed links that die when the password or the address changes. */
const CREDENTIAL_LINKS: readonly EmailTokenPurpose[] = ['reset_password', 'email_change_new', 'email_change_current'];
const EMAIL_CHANGE_LINKS: readonly EmailTokenPurpose[] = ['email_change_new', 'email_change_current'];
/** What a link of the verification page may be: a verification, or one of an email change's confirmations. */
const VERIFICATION_LINKS: readonly EmailTokenPurpose[] = ['verify_email', ...EMAIL_CHANGE_LINKS];

const NO_PENDING_EMAIL = { pending_email: null, pending_email_new_confirmed_at: null, pending_email_current_confirmed_at: null } as const;

const sameAddress = (a: string | null, b: string | null) => a !== null && b !== null && a.toLowerCase() === b.toLowerCase();

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
  audit: AuditService;
  mfa: MfaService;
  passkeys: PasskeyService;
  /** Tells the mail worker something was queued (after the transaction committed). */
  mailQueued: () => void;
}

/** The account's credentials and address: email verification, password reset and change, profile and email change. */
export function createAccountService(deps: AccountDeps) {
  const { db, clock, config, hasher, throttle, users, sessions, audit, mfa, passkeys, mailQueued } = deps;

  /**
   * Counts a mailed token tried from the client's address before it is looked at, then looks it
   * up, before any costly work (a reset hashes its new password only for a token that works).
   * Unknown or used is TOKEN_INVALID, past its time TOKEN_EXPIRED. Returns the count's key: a
   * token that worked gives its hit back.
   */
  async function checkLinkToken(token: string, purposes: readonly EmailTokenPurpose[], client: ClientInfo): Promise<string> {
    const now = clock.now();
    const key = throttleKey.linkTokenAddress(client.ip);
    const verdict = await throttle.hit(key, LIMITS.linkTokensPerAddress, now);
    if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
    const row = await findEmailToken(db, digestOf(token), purposes);
    if (!row || row.used_at !== null) throw new AppError('TOKEN_INVALID');
    if (row.expires_at <= now) throw new AppError('TOKEN_EXPIRED');
    return key;
  }

  /** Uses a mailed token once, deciding again under the row's lock: two uses at once cannot both pass. */
  async function consume<T>(
    token: string,
    purposes: readonly EmailTokenPurpose[],
    work: (trx: Db, link: { userId: string; email: string; purpose: EmailTokenPurpose }) => Promise<T>,
  ): Promise<T> {
    const now = clock.now();
    type Outcome = { ok: true; value: T } | { ok: false; error: 'TOKEN_INVALID' | 'TOKEN_EXPIRED' };
    // The user's row is locked before the token's, the order every change of the account takes
    // (user.update writes the user, then its links): the other order could deadlock with it.
    const owner = await findEmailToken(db, digestOf(token), purposes);
    if (!owner) throw new AppError('TOKEN_INVALID');
    const outcome = await db.transaction().execute(async (trx): Promise<Outcome> => {
      await users.lock(owner.user_id, trx);
      const row = await lockEmailToken(trx, digestOf(token), purposes);
      if (!row || row.used_at !== null) return { ok: false, error: 'TOKEN_INVALID' };
      if (row.expires_at <= now) return { ok: false, error: 'TOKEN_EXPIRED' };
      await useEmailToken(trx, row.id, now);
      return { ok: true, value: await work(trx, { userId: row.user_id, email: row.email, purpose: row.purpose }) };
    });
    if (!outcome.ok) throw new AppError(outcome.error);
    return outcome.value;
  }

  /**
   * Checks a password the signed-in user typed. Counted before the check, in one statement: a
   * batch or a burst of guesses cannot all be checked before the first is counted. A right
   * password gives its hit back.
   */
  async function checkPassword(user: UserRow, password: string, field: string): Promise<void> {
    const key = throttleKey.passwordCheck(user.id);
    const verdict = await throttle.hit(key, LIMITS.passwordChecksPerAccount, clock.now());
    if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
    // An account without a password (a passkey is its way in) matches no password, at the same cost.
    const valid = user.password_hash === null ? await hasher.verifyNothing(password) : await hasher.verify(password, user.password_hash);
    if (!valid) throw new AppError('INVALID_CREDENTIALS', { fields: { [field]: ['is incorrect'] } });
    await throttle.release(key);
  }

  /**
   * What a change that would hand over the account needs: the current password in the same call,
   * or a proof of identity in this access token no older than REAUTH_MAX_AGE. A stolen access token
   * alone is neither.
   */
  async function requireProof(auth: Authenticated, user: UserRow, currentPassword: string | undefined): Promise<void> {
    // With a second factor, the password in the call is not enough: the factor must be in a recent proof.
    if (await mfa.hasSecondFactor(user.id)) {
      mfa.requireRecentFactorProof(auth);
      if (currentPassword !== undefined) await checkPassword(user, currentPassword, 'currentPassword');
      return;
    }
    if (currentPassword !== undefined) return checkPassword(user, currentPassword, 'currentPassword');
    sessions.requireRecentProof(auth);
  }

  /**
   * Applies a confirmed email change once every link it needs has been used: the pending address
   * becomes the sign-in address, proven; every outstanding link dies; the old address is told.
   */
  async function completeEmailChange(trx: Db, user: UserRow, now: Date, client: ClientInfo): Promise<UserRow> {
    if (user.pending_email === null || user.pending_email_new_confirmed_at === null || user.pending_email_current_confirmed_at === null)
      return user;
    const oldEmail = user.email;
    const moved = await users.write(
      user.id,
      { email: user.pending_email, email_verified_at: now, ...NO_PENDING_EMAIL, updated_at: now },
      trx,
    );
    await useEmailTokens(trx, user.id, ['verify_email', ...CREDENTIAL_LINKS], now);
    await queueEmailChangedMail(trx, moved, oldEmail, now);
    await audit.record(trx, { type: 'email.changed', userId: user.id, client, details: { from: oldEmail, to: moved.email } });
    return moved;
  }

  return {
    /**
     * Uses a link of the verification page: a verification of the current address, or one of the
     * two confirmations of an email change (the change completes when both are used).
     */
    async verifyEmail(token: string, client: ClientInfo): Promise<{ user: User }> {
      const counted = await checkLinkToken(token, VERIFICATION_LINKS, client);
      let completed = false;
      try {
        const user = await consume(token, VERIFICATION_LINKS, async (trx, link) => {
          const now = clock.now();
          const current = await users.findById(link.userId, trx);
          if (!current) return undefined;
          if (link.purpose === 'verify_email') {
            // A token proves only the address it was sent to; the account may have moved on since.
            if (!sameAddress(current.email, link.email)) return undefined;
            if (current.email_verified_at) return current;
            await audit.record(trx, { type: 'email.verified', userId: current.id, client, details: { email: current.email } });
            return users.write(current.id, { email_verified_at: now }, trx);
          }
          // A confirmation counts only for the change it was sent for, and only while it is pending.
          const confirmed =
            link.purpose === 'email_change_new'
              ? sameAddress(current.pending_email, link.email) && { pending_email_new_confirmed_at: now }
              : current.pending_email !== null && sameAddress(current.email, link.email) && { pending_email_current_confirmed_at: now };
          if (!confirmed) return undefined;
          const updated = await users.write(current.id, confirmed, trx);
          const done = await completeEmailChange(trx, updated, now, client);
          completed = done !== updated;
          return done;
        });
        if (!user) throw new AppError('TOKEN_INVALID');
        await throttle.release(counted);
        if (completed) mailQueued();
        return { user: userRowToUser(user) };
      } catch (error) {
        // The address was taken by another account while the change was pending.
        if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN', { fields: { email: ['has already been taken'] } });
        throw error;
      }
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
          // The sign-in address only: a pending address is nobody's until it is confirmed.
          const user = await users.findByEmail(email, trx);
          if (!user) return false;
          await queueResetMail(trx, user, config, now);
          await audit.record(trx, { type: 'password.reset_requested', userId: user.id, client });
          return true;
        });
        if (queued) mailQueued();
      }
      return { message: FORGOT_PASSWORD_MESSAGE };
    },

    /** Sets the new password, ends every session, every other link and any pending email change, and tells the owner. */
    async resetPassword(token: string, newPassword: string, client: ClientInfo): Promise<void> {
      const counted = await checkLinkToken(token, ['reset_password'], client);
      const passwordHash = await hasher.hash(newPassword);
      const now = clock.now();
      const { user, revoked } = await consume(token, ['reset_password'], async (trx, link) => {
        const current = await users.load(link.userId, trx);
        // A link sent to an address the account has since left proves nothing about it.
        if (!sameAddress(current.email, link.email)) return { user: undefined, revoked: [] };
        // The link reached the mailbox of the address it was sent to: that address is proven.
        const user = await users.write(
          current.id,
          {
            password_hash: passwordHash,
            updated_at: now,
            ...NO_PENDING_EMAIL,
            ...(!current.email_verified_at && { email_verified_at: now }),
          },
          trx,
        );
        // Every other reset link and any email change die with this one, and every pending sign-in.
        await useEmailTokens(trx, user.id, CREDENTIAL_LINKS, now);
        await mfa.endPendingSignIns(trx, user.id);
        const revoked = await sessions.revokeWithin(trx, { userId: user.id }, 'password_changed');
        await queuePasswordChangedMail(trx, user, now);
        await audit.record(trx, { type: 'password.reset', userId: user.id, client, details: { sessionsRevoked: revoked.length } });
        return { user, revoked };
      });
      if (!user) throw new AppError('TOKEN_INVALID');
      sessions.revoked(revoked);
      await throttle.release(counted);
      // Whoever was guessing this account's password has lost: the new one is not theirs.
      await throttle.loginSucceeded(throttleKey.loginAccount(user.email), throttleKey.loginAccountAddress(user.email, client.ip));
      mailQueued();
    },

    /**
     * Proves again who is signed in (auth.reauthenticate): answers an access token whose
     * auth_time is now, for the changes that need a recent proof.
     */
    async reauthenticate(
      auth: Authenticated,
      input: ReauthenticateInput,
      client: ClientInfo,
    ): Promise<{ accessToken: string; accessTokenExpiresAt: Date }> {
      const user = await users.load(auth.userId);
      const record = async (trx: Db, proof: AuthProof) => {
        const fresh = await sessions.reauthenticated(auth, proof, trx);
        await audit.record(trx, {
          type: 'reauthenticated',
          userId: auth.userId,
          sessionId: auth.sessionId,
          client,
          details: { methods: [...proof.methods] },
        });
        return fresh;
      };
      if ('password' in input) {
        await checkPassword(user, input.password, 'password');
        return db.transaction().execute((trx) => record(trx, { methods: ['pwd'] }));
      }
      if ('passkey' in input) {
        // A malformed assertion guesses nothing: refused before it is counted.
        const presented = passkeys.assertionOf(input.passkey);
        const key = throttleKey.secondFactorCheck(user.id);
        const verdict = await throttle.hit(key, LIMITS.secondFactorChecksPerAccount, clock.now());
        if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
        const assertion = await passkeys
          .verifyAssertion(presented, { purpose: 'reauthentication', sessionId: auth.sessionId, userId: user.id }, client)
          .catch(async (error: unknown) => {
            if (error instanceof AppError && error.appCode === 'PASSKEY_INVALID')
              await mfa.failed(user.id, 'reauthentication', { client, sessionId: auth.sessionId });
            throw error;
          });
        // A session that began with the password has both factors with the passkey now.
        const proof: AuthProof = { methods: auth.authMethods.includes('pwd') ? ['pwd', 'hwk', 'mfa'] : ['hwk'] };
        const fresh = await db.transaction().execute(async (trx) => {
          await passkeys.use(trx, assertion, { client, sessionId: auth.sessionId });
          return record(trx, proof);
        });
        await throttle.release(key);
        return fresh;
      }
      // A code (of the authenticator app, or a recovery code): counted before it is checked.
      const factor = mfa.secondFactorOf(input);
      if (!(await mfa.hasSecondFactor(user.id))) throw new AppError('FACTOR_NOT_FOUND');
      const key = throttleKey.secondFactorCheck(user.id);
      const verdict = await throttle.hit(key, LIMITS.secondFactorChecksPerAccount, clock.now());
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      // The session proved the password when it began; with the code now, it has both factors.
      const proof: AuthProof = { methods: auth.authMethods.includes('pwd') ? ['pwd', 'otp', 'mfa'] : ['otp'] };
      const fresh = await db.transaction().execute(async (trx) => {
        if (!(await mfa.useSecondFactor(trx, user, factor, { client, sessionId: auth.sessionId }))) return undefined;
        return record(trx, proof);
      });
      if (!fresh) {
        await mfa.failed(user.id, 'reauthentication', { client, sessionId: auth.sessionId });
        throw new AppError('MFA_CODE_INVALID', { fields: { [factor.code !== undefined ? 'code' : 'recoveryCode']: ['is invalid'] } });
      }
      await throttle.release(key);
      if (factor.recoveryCode !== undefined) mailQueued();
      return fresh;
    },

    /**
     * Changes the account in one transaction, or not at all: the profile, a new address (pending
     * until confirmed from both addresses), a new password (ending the other sessions). A new
     * address or password needs a proof of identity (requireProof), checked before anything is
     * written.
     */
    async update(auth: Authenticated, change: AccountChange, client: ClientInfo): Promise<User> {
      const { userId } = auth;
      const current = await users.load(userId);
      const { newPassword, currentPassword, ...profile } = change;
      const email = profile.email;
      // Asking for the current address again cancels a pending change; asking for another starts one.
      const emailChange = email !== undefined && !sameAddress(email, current.email) ? email : undefined;
      const cancelsChange = email !== undefined && emailChange === undefined && current.pending_email !== null;
      if (emailChange !== undefined || newPassword !== undefined) await requireProof(auth, current, currentPassword);

      const usernameChanged = profile.username !== undefined && profile.username !== current.username;
      const conflict = await users.conflict({ email: emailChange, username: usernameChanged ? profile.username : undefined }, userId);
      if (conflict) throw conflict;
      const passwordHash = newPassword === undefined ? undefined : await hasher.hash(newPassword);

      const now = clock.now();
      try {
        const { row, revoked } = await db.transaction().execute(async (trx) => {
          const { email: _email, ...rest } = users.profileChange(profile);
          let row = await users.write(
            userId,
            {
              ...rest,
              ...(passwordHash !== undefined && { password_hash: passwordHash }),
              ...((cancelsChange || passwordHash !== undefined) && NO_PENDING_EMAIL),
              updated_at: now,
            },
            trx,
          );
          let revoked: string[] = [];
          if (passwordHash !== undefined) {
            await useEmailTokens(trx, userId, CREDENTIAL_LINKS, now);
            await mfa.endPendingSignIns(trx, userId);
            revoked = await sessions.revokeWithin(trx, { userId, exceptSessionId: auth.sessionId }, 'password_changed');
            await queuePasswordChangedMail(trx, row, now);
            const details = { sessionsRevoked: revoked.length };
            await audit.record(trx, { type: 'password.changed', userId, sessionId: auth.sessionId, client, details });
          } else if (cancelsChange || emailChange !== undefined) {
            await useEmailTokens(trx, userId, EMAIL_CHANGE_LINKS, now);
          }
          if (emailChange !== undefined) {
            row = await users.write(
              userId,
              {
                pending_email: emailChange,
                pending_email_new_confirmed_at: null,
                // An address never proven has nobody to ask: only the new one confirms.
                pending_email_current_confirmed_at: row.email_verified_at ? null : now,
              },
              trx,
            );
            await queueEmailChangeMails(trx, row, config, now);
            const details = { newEmail: emailChange };
            await audit.record(trx, { type: 'email.change_requested', userId, sessionId: auth.sessionId, client, details });
          }
          return { row, revoked };
        });
        sessions.revoked(revoked);
        if (passwordHash !== undefined || emailChange !== undefined) mailQueued();
        return userRowToUser(row);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw (await users.conflict({ username: usernameChanged ? profile.username : undefined }, userId)) ?? error;
      }
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
