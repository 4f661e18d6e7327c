/**
 * Users: their public face and their profile. Other modules read and write users through these
 * functions, never through the repository; those that compose a transaction pass it in.
 */
import type { Db } from '../../db/database.js';
import type { NewUserRow, UserRow, UserUpdate } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { type User, userRowToUser } from './user.mapper.js';
import {
  findPublicUserById,
  findPublicUserInSession,
  findTakenIdentifiers,
  findUserByEmail,
  findUserById,
  insertUser,
  listUsers,
  lockAdminIds,
  lockUserById,
  updateUser,
} from './user.repository.js';

export type { User } from './user.mapper.js';
export { userRowToUser } from './user.mapper.js';

export interface UserUpdateInput {
  username?: string | undefined;
  email?: string | undefined;
  bio?: string | null | undefined;
  image?: string | null | undefined;
}

export function createUserService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  return {
    async me(userId: string): Promise<User> {
      const row = await findPublicUserById(db, userId);
      // The account is gone while a token of it still circulates.
      if (!row) throw new AppError('SESSION_REVOKED');
      return userRowToUser(row);
    },

    /** `me`, checking in the same query that the session is the user's and live (SessionCheck 'caller'). */
    async meInSession(userId: string, sessionId: string): Promise<User> {
      const row = await findPublicUserInSession(db, userId, sessionId, clock.now());
      if (!row) throw new AppError('SESSION_REVOKED');
      return userRowToUser(row);
    },

    /** The user row, or SESSION_REVOKED when the account is gone while a token of it still circulates. */
    async load(userId: string, trx: Db = db): Promise<UserRow> {
      const row = await findUserById(trx, userId);
      if (!row) throw new AppError('SESSION_REVOKED');
      return row;
    },

    findById: (userId: string, trx: Db = db): Promise<UserRow | undefined> => findUserById(trx, userId),
    findByEmail: (email: string, trx: Db = db): Promise<UserRow | undefined> => findUserByEmail(trx, email),
    insert: (row: NewUserRow, trx: Db = db): Promise<UserRow> => insertUser(trx, row),
    write: (userId: string, change: UserUpdate, trx: Db = db): Promise<UserRow> => updateUser(trx, userId, change),
    /** In `trx`: the user's row, locked until it ends. */
    lock: (userId: string, trx: Db): Promise<UserRow | undefined> => lockUserById(trx, userId),
    /** In `trx`: every admin's id, their rows locked until it ends. */
    lockAdmins: (trx: Db): Promise<string[]> => lockAdminIds(trx),
    list: (filter: { query?: string | undefined; afterEmail?: string | undefined; limit: number }): Promise<UserRow[]> =>
      listUsers(db, filter),

    /**
     * The profile change as columns: an empty bio or image clears it. A changed email is the
     * account module's business (it is unverified until proven).
     */
    profileChange(input: UserUpdateInput): UserUpdate {
      return {
        ...(input.email !== undefined && { email: input.email }),
        ...(input.username !== undefined && { username: input.username }),
        ...(input.bio !== undefined && { bio: input.bio || null }),
        ...(input.image !== undefined && { image: input.image || null }),
      };
    },

    /**
     * The error for a unique violation on insert or update: which of the email and the username
     * someone else (than `exceptUserId`) holds. Undefined when neither (the violation was another).
     */
    async conflict(
      identifiers: { email?: string | undefined; username?: string | undefined },
      exceptUserId?: string,
    ): Promise<AppError | undefined> {
      if (identifiers.email === undefined && identifiers.username === undefined) return undefined;
      const taken = await findTakenIdentifiers(db, { email: identifiers.email ?? '', username: identifiers.username ?? '' }, exceptUserId);
      if (identifiers.email !== undefined && taken.email)
        return new AppError('EMAIL_TAKEN', { fields: { email: ['has already been taken'] } });
      if (identifiers.username !== undefined && taken.username)
        return new AppError('USERNAME_TAKEN', { fields: { username: ['has already been taken'] } });
      return undefined;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
