/** Registration and login: proving who you are, answered with a new session. */
import { randomUUID } from 'node:crypto';
import { isUniqueViolation } from '../../db/errors.js';
import { AppError } from '../../lib/errors.js';
import type { ClientInfo, Tokens } from '../session/session.service.js';
import { LIMITS, throttleKey, type Verdict } from '../throttle/throttle.policy.js';
import { type User, userRowToUser } from '../user/user.service.js';
import type { LoginInput, RegisterInput } from './account.schemas.js';
import type { AccountDeps } from './account.service.js';
import { queueVerificationMail } from './account-mail.js';

export interface Session extends Tokens {
  user: User;
}

function refuse(verdict: Verdict): void {
  if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
}

export function createSignInService(deps: AccountDeps) {
  const { db, clock, config, hasher, throttle, users, sessions, mailQueued } = deps;

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<Session> {
      refuse(await throttle.hit(throttleKey.registerAddress(client.ip), LIMITS.registrationsPerAddress, clock.now()));
      const passwordHash = await hasher.hash(input.password);
      const now = clock.now();
      try {
        // The user and its first session are written together or not at all.
        const session = await db.transaction().execute(async (trx) => {
          const user = await users.insert(
            {
              id: randomUUID(),
              email: input.email,
              username: input.username,
              password_hash: passwordHash,
              bio: null,
              image: null,
              email_verified_at: null,
              created_at: now,
              updated_at: now,
            },
            trx,
          );
          const tokens = await sessions.start(user.id, client, trx);
          // The mail is queued with the account: both exist, or neither. SMTP is never waited on.
          await queueVerificationMail(trx, user, config, now);
          return { user: userRowToUser(user), ...tokens };
        });
        mailQueued();
        return session;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw (await users.conflict(input)) ?? error;
      }
    },

    async login(input: LoginInput, client: ClientInfo): Promise<Session> {
      const now = clock.now();
      // Throttled by the address typed, known or not, so the throttle itself reveals nothing.
      // Attempts are counted before the password is checked and given back on success.
      const accountKey = throttleKey.loginAccount(input.email);
      const addressKey = throttleKey.loginAddress(client.ip);
      refuse(await throttle.hit(addressKey, LIMITS.loginFailuresPerAddress, now));
      const account = await throttle.reserveLogin(accountKey, now);
      if (!account.allowed) {
        await throttle.release(addressKey);
        refuse(account);
      }

      const user = await users.findByEmail(input.email);
      // An unknown address costs the same bcrypt work and gets the same answer as a wrong password.
      const valid = user ? await hasher.verify(input.password, user.password_hash) : await hasher.verifyNothing(input.password);
      if (!user || !valid) throw new AppError('INVALID_CREDENTIALS');
      await throttle.loginSucceeded(accountKey);
      await throttle.release(addressKey);
      return { user: userRowToUser(user), ...(await sessions.start(user.id, client)) };
    },
  };
}

export type SignInService = ReturnType<typeof createSignInService>;
