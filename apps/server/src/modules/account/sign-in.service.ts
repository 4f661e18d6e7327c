/** Registration and login: proving who you are, answered with a new session. */
import { randomUUID } from 'node:crypto';
import { isUniqueViolation } from '../../db/errors.js';
import type { DeviceTokenCodec } from '../../lib/device-token.js';
import { AppError } from '../../lib/errors.js';
import type { LoginFailure } from '../audit/audit.service.js';
import type { ClientInfo, Tokens } from '../session/session.service.js';
import { LIMITS, throttleKey, type Verdict } from '../throttle/throttle.policy.js';
import { type User, userRowToUser } from '../user/user.service.js';
import type { LoginInput, RegisterInput } from './account.schemas.js';
import type { AccountDeps } from './account.service.js';
import { queueVerificationMail } from './account-mail.js';

export interface Session extends Tokens {
  user: User;
  /** Sent back with the next logins from this device: strangers' failures then cannot lock it out. */
  deviceToken: string;
}

function refuse(verdict: Verdict): void {
  if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
}

export function createSignInService(deps: AccountDeps & { deviceTokens: DeviceTokenCodec }) {
  const { db, clock, config, hasher, throttle, users, sessions, audit, deviceTokens, mailQueued } = deps;

  /** A refused login is recorded on its own: there is no change whose transaction could hold it. */
  const failed = (userId: string | null, reason: LoginFailure, client: ClientInfo) =>
    audit.record(db, { type: 'login.failed', userId, client, details: { reason } });

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
          const { sessionId, tokens } = await sessions.start(user.id, client, trx);
          await audit.record(trx, { type: 'user.registered', userId: user.id, sessionId, client });
          // The mail is queued with the account: both exist, or neither. SMTP is never waited on.
          await queueVerificationMail(trx, user, config, now);
          return { user: userRowToUser(user), ...tokens, deviceToken: deviceTokens.issue(user.id, now) };
        });
        mailQueued();
        return session;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw (await users.conflict(input)) ?? error;
      }
    },

    /**
     * Attempts are counted before the password is checked and given back on success: per client
     * address (always); then, from a device that signed in to this account before (a valid device
     * token), per (account, device) alone; from anywhere else, per (account, address) with its
     * back-off and per account with the hard cap. Strangers' failures therefore never lock out
     * the owner's devices, and cost the owner elsewhere at most the cap's wait (OWASP's device
     * cookies; NIST 800-63B's 100 consecutive failures).
     */
    async login(input: LoginInput, client: ClientInfo): Promise<Session> {
      const now = clock.now();
      const addressKey = throttleKey.loginAddress(client.ip);
      const perAddress = await throttle.hit(addressKey, LIMITS.loginFailuresPerAddress, now);
      if (!perAddress.allowed) {
        // Refused before the account is looked up: recorded against no one.
        await failed(null, 'throttled', client);
        refuse(perAddress);
      }
      const user = await users.findByEmail(input.email);
      const device = user ? deviceTokens.open(input.deviceToken, user.id, now) : undefined;
      // Keyed by the address typed, known or not, so that the throttle itself reveals nothing.
      const counts: Array<readonly [string, 'backoff' | 'cap']> =
        user && device
          ? [[throttleKey.loginAccountDevice(user.id, device.deviceId), 'backoff']]
          : [
              [throttleKey.loginAccountAddress(input.email, client.ip), 'backoff'],
              [throttleKey.loginAccount(input.email), 'cap'],
            ];
      const account = await throttle.reserveLogins(counts, now);
      if (!account.allowed) {
        await throttle.release(addressKey);
        await failed(user?.id ?? null, 'throttled', client);
        refuse(account);
      }

      // An unknown address costs the same bcrypt work and gets the same answer as a wrong password.
      const valid = user ? await hasher.verify(input.password, user.password_hash) : await hasher.verifyNothing(input.password);
      if (!user || !valid) {
        await failed(user?.id ?? null, user ? 'bad_password' : 'unknown_email', client);
        throw new AppError('INVALID_CREDENTIALS');
      }
      // A success ends every run of failures it took part in, and the account's consecutive count.
      // Also for a disabled account: the password was right, and the refusal below is not a guess.
      await throttle.loginSucceeded(...new Set([...counts.map(([key]) => key), throttleKey.loginAccount(input.email)]));
      await throttle.release(addressKey);
      // Said only to whoever knows the password: to anyone else a disabled account looks like any other.
      if (user.disabled_at !== null) {
        await failed(user.id, 'disabled', client);
        throw new AppError('ACCOUNT_DISABLED');
      }
      let started: Awaited<ReturnType<typeof sessions.start>>;
      try {
        started = await db.transaction().execute(async (trx) => {
          // Only while the password checked above is still the account's (a change or reset may have committed meanwhile).
          const session = await sessions.start(user.id, client, trx, undefined, user.password_hash);
          await audit.record(trx, { type: 'login.succeeded', userId: user.id, sessionId: session.sessionId, client });
          return session;
        });
      } catch (error) {
        // Disabled while this login ran (sessions.start decided under the user's row lock).
        if (error instanceof AppError && error.appCode === 'ACCOUNT_DISABLED') await failed(user.id, 'disabled', client);
        // The password changed while this login checked the old one: that one no longer works.
        if (error instanceof AppError && error.appCode === 'INVALID_CREDENTIALS') await failed(user.id, 'bad_password', client);
        throw error;
      }
      return {
        user: userRowToUser(user),
        ...started.tokens,
        deviceToken: deviceTokens.issue(user.id, now, device?.deviceId),
      };
    },
  };
}

export type SignInService = ReturnType<typeof createSignInService>;
