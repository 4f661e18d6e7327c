import { randomUUID } from 'node:crypto';
import { bearerToken } from '@latchkey/protocol';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import { announceRevoked, type Revocations } from '../../db/revocations.js';
import type { SessionRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { AccessTokens } from '../../lib/jwt.js';
import type { PasswordHasher } from '../../lib/password.js';
import type { RateLimiter, Verdict } from '../../lib/rate-limiter.js';
import type { RefreshTokenCodec } from '../../lib/refresh-token.js';
import { type User, userRowToUser } from '../user/user.mapper.js';
import { findTakenIdentifiers, findUserByEmail, insertUser } from '../user/user.repository.js';
import { queueVerificationMail } from './account-mail.js';
import type { LoginInput, RegisterInput } from './auth.schemas.js';
import {
  advanceCurrentSession,
  advanceSession,
  insertSession,
  isSessionLive,
  lockSession,
  type RevokeFilter,
  type RevokeReason,
  revokeSessions,
} from './session.repository.js';
import { LIMITS, throttleKey } from './throttle-policy.js';

export interface ClientInfo {
  ip: string | undefined;
  userAgent: string | undefined;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
}

export interface Session extends Tokens {
  user: User;
}

export interface Authenticated {
  userId: string;
  sessionId: string;
}

export interface AuthDeps {
  db: Db;
  clock: Clock;
  config: Pick<
    Config,
    | 'refreshIdleTtlSeconds'
    | 'refreshAbsoluteTtlSeconds'
    | 'refreshReuseGraceSeconds'
    | 'baseUrl'
    | 'emailVerificationTtlSeconds'
    | 'passwordResetTtlSeconds'
  >;
  hasher: PasswordHasher;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokenCodec;
  revocations: Revocations;
  limiter: RateLimiter;
  mailQueued: () => void;
}

function refuse(verdict: Verdict): void {
  if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
}

/**
 * Revokes sessions and makes every instance refuse their access tokens: the NOTIFY goes out with
 * the revoking transaction, and this instance's list is updated as soon as it commits.
 */
export function createSessionRevoker(deps: { db: Db; clock: Clock; revocations: Revocations }) {
  return async function revoke(
    filter: RevokeFilter,
    reason: RevokeReason,
    alsoInTransaction?: (trx: Db) => Promise<void>,
  ): Promise<number> {
    const ids = await deps.db.transaction().execute(async (trx) => {
      await alsoInTransaction?.(trx);
      const revoked = await revokeSessions(trx, filter, reason, deps.clock.now());
      await announceRevoked(trx, revoked);
      return revoked;
    });
    deps.revocations.add(ids);
    return ids.length;
  };
}

const USER_AGENT_MAX = 512;

function addSeconds(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

function earlier(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

type RefreshOutcome =
  | { kind: 'ok'; userId: string; sessionId: string; generation: number; expiresAt: Date }
  | { kind: 'reused'; revokedNow: string[] }
  | { kind: 'invalid' | 'expired' };

export function createAuthService(deps: AuthDeps) {
  const { db, clock, config, hasher, accessTokens, refreshTokens, revocations, limiter, mailQueued } = deps;
  const revoke = createSessionRevoker(deps);

  async function tokensFor(session: Pick<SessionRow, 'id' | 'user_id' | 'generation' | 'expires_at'>): Promise<Tokens> {
    // An access token never outlives its session, so expiry needs no database check.
    const access = await accessTokens.sign({ userId: session.user_id, sessionId: session.id, notAfter: session.expires_at });
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refreshTokens.issue({ sessionId: session.id, generation: session.generation }),
      refreshTokenExpiresAt: session.expires_at,
    };
  }

  function newSession(userId: string, client: ClientInfo) {
    const now = clock.now();
    const absoluteExpiresAt = addSeconds(now, config.refreshAbsoluteTtlSeconds);
    return {
      id: randomUUID(),
      user_id: userId,
      generation: 0,
      rotated_at: null,
      created_at: now,
      last_used_at: now,
      expires_at: earlier(addSeconds(now, config.refreshIdleTtlSeconds), absoluteExpiresAt),
      absolute_expires_at: absoluteExpiresAt,
      user_agent: client.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
      ip: client.ip ?? null,
    };
  }

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<Session> {
      if (client.ip) refuse(await limiter.hit(throttleKey.registerAddress(client.ip), LIMITS.registrationsPerAddress, clock.now()));
      const passwordHash = await hasher.hash(input.password);
      const now = clock.now();
      try {
        // The user and its first session are written together or not at all.
        const { user, session } = await db.transaction().execute(async (trx) => {
          const user = await insertUser(trx, {
            id: randomUUID(),
            email: input.email,
            username: input.username,
            password_hash: passwordHash,
            bio: null,
            image: null,
            email_verified_at: null,
            created_at: now,
            updated_at: now,
          });
          const session = await insertSession(trx, newSession(user.id, client));
          // The mail is queued with the account: both exist, or neither. SMTP is never waited on.
          await queueVerificationMail(trx, user, config, now);
          return { user, session };
        });
        mailQueued();
        return { user: userRowToUser(user), ...(await tokensFor(session)) };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const taken = await findTakenIdentifiers(db, input);
        if (taken.email) throw new AppError('EMAIL_TAKEN', { fields: { email: ['has already been taken'] } });
        if (taken.username) throw new AppError('USERNAME_TAKEN', { fields: { username: ['has already been taken'] } });
        throw error;
      }
    },

    async login(input: LoginInput, client: ClientInfo): Promise<Session> {
      const now = clock.now();
      // Throttled by the address typed, known or not, so the throttle itself reveals nothing.
      // Attempts are counted before the password is checked and given back on success.
      const accountKey = throttleKey.loginAccount(input.email);
      const addressKey = client.ip ? throttleKey.loginAddress(client.ip) : undefined;
      if (addressKey) refuse(await limiter.hit(addressKey, LIMITS.loginFailuresPerAddress, now));
      const account = await limiter.reserveLogin(accountKey, now);
      if (!account.allowed) {
        if (addressKey) await limiter.release(addressKey);
        refuse(account);
      }

      const user = await findUserByEmail(db, input.email);
      // An unknown address costs the same bcrypt work and gets the same answer as a wrong password.
      const valid = user ? await hasher.verify(input.password, user.password_hash) : await hasher.verifyNothing(input.password);
      if (!user || !valid) throw new AppError('INVALID_CREDENTIALS');
      await limiter.loginSucceeded(accountKey);
      if (addressKey) await limiter.release(addressKey);
      const session = await insertSession(db, newSession(user.id, client));
      return { user: userRowToUser(user), ...(await tokensFor(session)) };
    },

    async refresh(refreshToken: string, client: ClientInfo): Promise<Tokens> {
      const now = clock.now();
      // A token this server did not issue is refused before any database work.
      const presented = refreshTokens.open(refreshToken);
      if (!presented) throw new AppError('REFRESH_TOKEN_INVALID');
      // Counted apart from the refresh transaction, in batches (lib/buffered-counter.ts): one
      // counter row per address, written by every refresh from it, would make them queue.
      if (client.ip) refuse(await limiter.hitBuffered(throttleKey.refreshAddress(client.ip), LIMITS.refreshesPerAddress, now));

      // The presented token is the current one of a live session: rotated in one statement.
      const advanced = await advanceCurrentSession(db, {
        id: presented.sessionId,
        generation: presented.generation,
        now,
        idleExpiresAt: addSeconds(now, config.refreshIdleTtlSeconds),
      });
      if (advanced) {
        return tokensFor({
          id: presented.sessionId,
          user_id: advanced.user_id,
          generation: advanced.generation,
          expires_at: advanced.expires_at,
        });
      }

      // Anything else is decided in one transaction holding the session's row lock: concurrent
      // refreshes of one token, on one instance or several, are decided one after another and
      // can never fork the chain.
      const outcome = await db.transaction().execute(async (trx): Promise<RefreshOutcome> => {
        const session = await lockSession(trx, presented.sessionId);
        if (!session) return { kind: 'invalid' };
        if (session.revoked_at)
          return session.revoked_reason === 'refresh_token_reused' ? { kind: 'reused', revokedNow: [] } : { kind: 'invalid' };
        if (session.expires_at.getTime() <= now.getTime()) return { kind: 'expired' };

        if (presented.generation === session.generation) {
          const generation = session.generation + 1;
          const expiresAt = earlier(addSeconds(now, config.refreshIdleTtlSeconds), session.absolute_expires_at);
          await advanceSession(trx, session.id, { generation, now, expiresAt });
          return { kind: 'ok', userId: session.user_id, sessionId: session.id, generation, expiresAt };
        }

        const justRotated =
          presented.generation === session.generation - 1 &&
          session.rotated_at !== null &&
          now.getTime() - session.rotated_at.getTime() < config.refreshReuseGraceSeconds * 1000;
        if (justRotated) {
          // Two tabs refreshing at once, or a response lost on the way: hand out the same successor.
          return {
            kind: 'ok',
            userId: session.user_id,
            sessionId: session.id,
            generation: session.generation,
            expiresAt: session.expires_at,
          };
        }

        // An older token, or the previous one after the grace window: someone kept a copy.
        const ids = await revokeSessions(trx, { sessionId: session.id }, 'refresh_token_reused', now);
        await announceRevoked(trx, ids);
        return { kind: 'reused', revokedNow: ids };
      });
      if (outcome.kind === 'reused') revocations.add(outcome.revokedNow);

      switch (outcome.kind) {
        case 'ok':
          return tokensFor({
            id: outcome.sessionId,
            user_id: outcome.userId,
            generation: outcome.generation,
            expires_at: outcome.expiresAt,
          });
        case 'expired':
          throw new AppError('REFRESH_TOKEN_EXPIRED');
        case 'reused':
          throw new AppError('REFRESH_TOKEN_REUSED');
        default:
          throw new AppError('REFRESH_TOKEN_INVALID');
      }
    },

    /** Ends the session the token belongs to. Idempotent: an unknown or ended session is fine. */
    async logout(refreshToken: string): Promise<void> {
      const presented = refreshTokens.open(refreshToken);
      if (!presented) return;
      await revoke({ sessionId: presented.sessionId }, 'logout');
    },

    /** Resolves an `Authorization` header to a signed-in user whose session is still live. */
    async authenticate(authorization: string | undefined): Promise<Authenticated> {
      const token = bearerToken(authorization);
      if (!token) throw new AppError('ACCESS_TOKEN_MISSING');
      const claims = await accessTokens.verify(token);
      if (revocations.isRevoked(claims.sessionId)) throw new AppError('SESSION_REVOKED');
      // While the revocation list may be missing something, ask the database instead.
      if (!revocations.trusted && !(await isSessionLive(db, claims.sessionId, clock.now()))) throw new AppError('SESSION_REVOKED');
      return { userId: claims.userId, sessionId: claims.sessionId };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
