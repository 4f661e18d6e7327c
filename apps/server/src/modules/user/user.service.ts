import { isUniqueViolation } from '../../db/errors.js';
import { AppError } from '../../lib/errors.js';
import type { AccountDeps } from '../auth/account.service.js';
import { queueVerificationMail } from '../auth/account-mail.js';
import { createSessionRevoker } from '../auth/auth.service.js';
import { LIMITS, throttleKey } from '../auth/throttle-policy.js';
import { type User, userRowToUser } from './user.mapper.js';
import { findPublicUserById, findTakenIdentifiers, findUserById, updateUser } from './user.repository.js';

export interface UserUpdateInput {
  username?: string | undefined;
  email?: string | undefined;
  bio?: string | null | undefined;
  image?: string | null | undefined;
}

export function createUserService(deps: AccountDeps) {
  const { db, clock, config, hasher, limiter, mailQueued } = deps;
  const revoke = createSessionRevoker(deps);

  async function load(userId: string) {
    const row = await findUserById(db, userId);
    // The account is gone while a token of it still circulates.
    if (!row) throw new AppError('SESSION_REVOKED');
    return row;
  }

  return {
    async me(userId: string): Promise<User> {
      const row = await findPublicUserById(db, userId);
      if (!row) throw new AppError('SESSION_REVOKED');
      return userRowToUser(row);
    },

    async update(userId: string, input: UserUpdateInput): Promise<User> {
      const current = await load(userId);
      const emailChanged = input.email !== undefined && input.email.toLowerCase() !== current.email.toLowerCase();
      const usernameChanged = input.username !== undefined && input.username !== current.username;
      try {
        const now = clock.now();
        const row = await db.transaction().execute(async (trx) => {
          const updated = await updateUser(trx, userId, {
            ...(input.email !== undefined && { email: input.email }),
            ...(input.username !== undefined && { username: input.username }),
            // An empty bio or image clears it.
            ...(input.bio !== undefined && { bio: input.bio || null }),
            ...(input.image !== undefined && { image: input.image || null }),
            // A new address is not verified until its owner proves it.
            ...(emailChanged && { email_verified_at: null }),
            updated_at: now,
          });
          if (emailChanged) await queueVerificationMail(trx, updated, config, now);
          return updated;
        });
        if (emailChanged) mailQueued();
        return userRowToUser(row);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const taken = await findTakenIdentifiers(db, { email: input.email ?? '', username: input.username ?? '' }, userId);
        if (emailChanged && taken.email) throw new AppError('EMAIL_TAKEN', { fields: { email: ['has already been taken'] } });
        if (usernameChanged && taken.username) throw new AppError('USERNAME_TAKEN', { fields: { username: ['has already been taken'] } });
        throw error;
      }
    },

    /** Checks the current password, sets the new one, and ends every other session of the user. */
    async changePassword(userId: string, sessionId: string, input: { currentPassword: string; newPassword: string }): Promise<void> {
      const user = await load(userId);
      const key = throttleKey.passwordCheck(userId);
      const now = clock.now();
      const verdict = await limiter.peek(key, LIMITS.passwordChecksPerAccount, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      if (!(await hasher.verify(input.currentPassword, user.password_hash))) {
        await limiter.hit(key, LIMITS.passwordChecksPerAccount, now);
        throw new AppError('INVALID_CREDENTIALS', { fields: { currentPassword: ['is incorrect'] } });
      }
      const passwordHash = await hasher.hash(input.newPassword);
      await revoke({ userId, exceptSessionId: sessionId }, 'password_changed', async (trx) => {
        await updateUser(trx, userId, { password_hash: passwordHash, updated_at: clock.now() });
      });
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
