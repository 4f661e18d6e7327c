/**
 * Sessions: starting one for a user who proved who they are, refreshing it (rotation, the reuse
 * grace window, reuse detection), ending it, and resolving access tokens to live sessions.
 */
import { randomUUID } from 'node:crypto';
import { AUTH_METHODS, type AuthMethod, bearerToken } from '@latchkey/protocol';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { SessionRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { AccessTokens } from '../../lib/jwt.js';
import type { RefreshTokenCodec } from '../../lib/refresh-token.js';
import type { AuditService, EventClient } from '../audit/audit.service.js';
import { LIMITS, throttleKey, type Verdict } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import { announceRevoked, type Revocations } from './revocations.js';
import {
  advanceCurrentSession,
  advanceSession,
  countLiveSessions,
  deleteEndedSessions,
  insertSessionForEnabledUser,
  isSessionLive,
  isUserDisabled,
  listLiveSessions,
  lockSession,
  type RevokeFilter,
  type RevokeReason,
  recordAuthentication,
  revokeSessions,
} from './session.repository.js';

export type { RevokeFilter, RevokeReason } from './session.repository.js';

/** Where a request came from: its address, user agent and request id (recorded with its events). */
export type ClientInfo = EventClient;

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
}

export interface Authenticated {
  userId: string;
  sessionId: string;
  /** The session's last proof of identity, as the access token carries it (auth_time). */
  authTime: Date;
  /** How that proof was made (amr). */
  authMethods: readonly AuthMethod[];
}

/** A proof of identity just made: the methods it used (RFC 8176). */
export interface AuthProof {
  methods: readonly AuthMethod[];
}

const PASSWORD_PROOF: AuthProof = { methods: ['pwd'] };

/** Methods are stored space-separated; only known ones are read back. */
function methodsOf(stored: string): AuthMethod[] {
  return stored.split(' ').filter((m): m is AuthMethod => (AUTH_METHODS as readonly string[]).includes(m));
}

/**
 * `checked`: the session was found live (in the database, or in the cache of pairs seen live).
 * `caller`: the caller's own query joins on the session (user.me), saving a round trip; it must
 * refuse with SESSION_REVOKED when the join finds nothing.
 */
export type SessionCheck = 'checked' | 'caller';

/** (session id -> user id) pairs seen live; bounded, oldest dropped first. */
const LIVE_PAIRS_MAX = 100_000;

export interface SessionInfo {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
}

export interface SessionDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'refreshIdleTtlSeconds' | 'refreshAbsoluteTtlSeconds' | 'refreshReuseGraceSeconds' | 'reauthMaxAgeSeconds'>;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokenCodec;
  revocations: Revocations;
  throttle: Throttle;
  audit: AuditService;
}

const USER_AGENT_MAX = 512;

function addSeconds(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

function earlier(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

function refuse(verdict: Verdict): void {
  if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
}

type TokenSession = Pick<SessionRow, 'id' | 'user_id' | 'generation' | 'expires_at' | 'auth_time' | 'auth_methods'>;

type RefreshOutcome =
  | { kind: 'ok'; session: TokenSession }
  | { kind: 'reused'; revokedNow: string[] }
  | { kind: 'invalid' | 'expired' | 'disabled' };

/** A session just started: its tokens, and its id for the events recorded with it. */
export interface StartedSession {
  sessionId: string;
  tokens: Tokens;
}

export function createSessionService(deps: SessionDeps) {
  const { db, clock, config, accessTokens, refreshTokens, revocations, throttle, audit } = deps;
  // A signed token proves only that this server issued it: its session must exist, belong to its
  // subject and be live. Revocations reach this cache through the revocation list, which is
  // asked first; while that list is not trusted, the database is asked every time.
  const livePairs = new Map<string, string>();
  const rememberLive = (sessionId: string, userId: string) => {
    if (livePairs.size >= LIVE_PAIRS_MAX) {
      const oldest = livePairs.keys().next();
      if (!oldest.done) livePairs.delete(oldest.value);
    }
    livePairs.set(sessionId, userId);
  };

  /** An access token for the session, carrying its last proof of identity; it never outlives the session. */
  function accessTokenFor(session: Omit<TokenSession, 'generation'>) {
    return accessTokens.sign({
      userId: session.user_id,
      sessionId: session.id,
      notAfter: session.expires_at,
      authTime: session.auth_time,
      authMethods: methodsOf(session.auth_methods),
    });
  }

  async function tokensFor(session: TokenSession): Promise<Tokens> {
    // An access token never outlives its session, so expiry needs no database check.
    const access = await accessTokenFor(session);
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refreshTokens.issue({ sessionId: session.id, generation: session.generation }),
      refreshTokenExpiresAt: session.expires_at,
    };
  }

  /** Revokes sessions inside the caller's transaction, with the NOTIFY that tells every instance. */
  async function revokeWithin(trx: Db, filter: RevokeFilter, reason: RevokeReason): Promise<string[]> {
    return (await revokeRows(trx, filter, reason)).map((row) => row.id);
  }

  async function revokeRows(trx: Db, filter: RevokeFilter, reason: RevokeReason) {
    const rows = await revokeSessions(trx, filter, reason, clock.now());
    await announceRevoked(
      trx,
      rows.map((row) => row.id),
    );
    return rows;
  }

  /**
   * Revokes sessions and makes every instance refuse their access tokens: the NOTIFY goes out with
   * the revoking transaction, and this instance's list is updated as soon as it commits. `after`
   * runs in that transaction with what was revoked (to record it).
   */
  async function revoke(
    filter: RevokeFilter,
    reason: RevokeReason,
    after?: (trx: Db, revoked: readonly { id: string; user_id: string }[]) => Promise<void>,
  ): Promise<number> {
    const ids = await db.transaction().execute(async (trx) => {
      const rows = await revokeRows(trx, filter, reason);
      await after?.(trx, rows);
      return rows.map((row) => row.id);
    });
    revocations.add(ids);
    return ids.length;
  }

  return {
    /** The public keys access tokens are verified with (GET /.well-known/jwks.json). */
    publicKeys: () => accessTokens.jwks,

    /**
     * Starts a session for a user who has just proved who they are, in the caller's transaction
     * (with the event that records it). ACCOUNT_DISABLED when the account is disabled, also by a
     * disabling that commits while this login runs (see insertSessionForEnabledUser).
     */
    async start(
      userId: string,
      client: ClientInfo,
      trx: Db,
      proof: AuthProof = PASSWORD_PROOF,
      /** The password hash the caller just checked: no session when the password changed meanwhile. */
      provenHash?: string,
    ): Promise<StartedSession> {
      const now = clock.now();
      const absoluteExpiresAt = addSeconds(now, config.refreshAbsoluteTtlSeconds);
      const session = await insertSessionForEnabledUser(
        trx,
        {
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
          auth_time: now,
          auth_methods: proof.methods.join(' '),
        },
        provenHash,
      );
      // Live as of now: its access tokens need no lookup (revocation reaches them through the list).
      // Also inside a caller's transaction: if it rolls back, no token of this new id ever leaves.
      if (!session) throw new AppError((await isUserDisabled(trx, userId)) ? 'ACCOUNT_DISABLED' : 'INVALID_CREDENTIALS');
      rememberLive(session.id, userId);
      return { sessionId: session.id, tokens: await tokensFor(session) };
    },

    async refresh(refreshToken: string, client: ClientInfo): Promise<Tokens> {
      const now = clock.now();
      // A token this server did not issue is refused before any database work.
      const presented = refreshTokens.open(refreshToken);
      if (!presented) throw new AppError('REFRESH_TOKEN_INVALID');
      // Counted apart from the refresh transaction, in batches (throttle/buffered-counter.ts): one
      // counter row per address, written by every refresh from it, would make them queue.
      refuse(await throttle.hitBuffered(throttleKey.refreshAddress(client.ip), LIMITS.refreshesPerAddress, now));

      // The presented token is the current one of a live session: rotated in one statement.
      const advanced = await advanceCurrentSession(db, {
        id: presented.sessionId,
        generation: presented.generation,
        now,
        idleExpiresAt: addSeconds(now, config.refreshIdleTtlSeconds),
      });
      // A refresh keeps the session's auth_time: holding a refresh token proves nothing new.
      if (advanced) return tokensFor({ id: presented.sessionId, ...advanced });

      // Anything else is decided in one transaction holding the session's row lock: concurrent
      // refreshes of one token, on one instance or several, are decided one after another and
      // can never fork the chain.
      const outcome = await db.transaction().execute(async (trx): Promise<RefreshOutcome> => {
        const session = await lockSession(trx, presented.sessionId);
        if (!session) return { kind: 'invalid' };
        if (session.revoked_at) {
          if (session.revoked_reason === 'refresh_token_reused') return { kind: 'reused', revokedNow: [] };
          // Ended by a disabling: said so while the account is still disabled (once enabled, the
          // session stays ended and its token is merely invalid).
          if (session.revoked_reason === 'user_disabled' && (await isUserDisabled(trx, session.user_id))) return { kind: 'disabled' };
          return { kind: 'invalid' };
        }
        if (session.expires_at.getTime() <= now.getTime()) return { kind: 'expired' };

        if (presented.generation === session.generation) {
          const generation = session.generation + 1;
          const expiresAt = earlier(addSeconds(now, config.refreshIdleTtlSeconds), session.absolute_expires_at);
          await advanceSession(trx, session.id, { generation, now, expiresAt });
          return { kind: 'ok', session: { ...session, generation, expires_at: expiresAt } };
        }

        const justRotated =
          presented.generation === session.generation - 1 &&
          session.rotated_at !== null &&
          now.getTime() - session.rotated_at.getTime() < config.refreshReuseGraceSeconds * 1000;
        if (justRotated) {
          // Two tabs refreshing at once, or a response lost on the way: hand out the same successor.
          return { kind: 'ok', session };
        }

        // An older token, or the previous one after the grace window: someone kept a copy.
        const revokedNow = await revokeWithin(trx, { sessionId: session.id }, 'refresh_token_reused');
        await audit.record(trx, {
          type: 'session.reuse_detected',
          userId: session.user_id,
          actor: { kind: 'system', id: null },
          sessionId: session.id,
          client,
          details: { revokedSessionIds: revokedNow },
        });
        return { kind: 'reused', revokedNow };
      });
      if (outcome.kind === 'reused') revocations.add(outcome.revokedNow);

      switch (outcome.kind) {
        case 'ok':
          return tokensFor(outcome.session);
        case 'expired':
          throw new AppError('REFRESH_TOKEN_EXPIRED');
        case 'reused':
          throw new AppError('REFRESH_TOKEN_REUSED');
        case 'disabled':
          throw new AppError('ACCOUNT_DISABLED');
        default:
          throw new AppError('REFRESH_TOKEN_INVALID');
      }
    },

    /** Ends the session the token belongs to. Idempotent: an unknown or ended session is fine. */
    async logout(refreshToken: string, client: ClientInfo): Promise<void> {
      const presented = refreshTokens.open(refreshToken);
      if (!presented) return;
      await revoke({ sessionId: presented.sessionId }, 'logout', async (trx, revoked) => {
        for (const row of revoked)
          await audit.record(trx, {
            type: 'session.revoked',
            userId: row.user_id,
            sessionId: row.id,
            client,
            details: { reason: 'logout' },
          });
      });
    },

    /**
     * Resolves an `Authorization` header to a signed-in user whose session exists, is theirs and
     * is live. With `check: 'caller'` the last part is the caller's query's (see SessionCheck).
     */
    async authenticate(authorization: string | undefined, check: SessionCheck = 'checked'): Promise<Authenticated> {
      const token = bearerToken(authorization);
      if (!token) throw new AppError('ACCESS_TOKEN_MISSING');
      const claims = await accessTokens.verify(token);
      const { userId, sessionId } = claims;
      const auth = { userId, sessionId, authTime: claims.authTime, authMethods: claims.authMethods };
      if (revocations.isRevoked(sessionId)) throw new AppError('SESSION_REVOKED');
      if (check === 'caller' && revocations.trusted) return auth;
      if (revocations.trusted && livePairs.get(sessionId) === userId) return auth;
      if (!(await isSessionLive(db, sessionId, userId, clock.now()))) throw new AppError('SESSION_REVOKED');
      if (revocations.trusted) rememberLive(sessionId, userId);
      return auth;
    },

    /**
     * Records a proof of identity just made in a live session (auth.reauthenticate) and answers
     * a fresh access token that carries it. Access tokens issued before keep their older
     * auth_time. The session's next refreshes carry the new one (API.md: a refresh keeps the
     * session's auth_time), which gives nothing to a thief of the refresh token that the session
     * itself does not: refreshing it races the owner's client, and reuse detection ends the session.
     */
    async reauthenticated(
      auth: Pick<Authenticated, 'userId' | 'sessionId'>,
      proof: AuthProof,
      trx: Db = db,
    ): Promise<{ accessToken: string; accessTokenExpiresAt: Date }> {
      const session = await recordAuthentication(trx, {
        id: auth.sessionId,
        userId: auth.userId,
        now: clock.now(),
        methods: proof.methods.join(' '),
      });
      if (!session) throw new AppError('SESSION_REVOKED');
      const access = await accessTokenFor(session);
      return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt };
    },

    /** Revokes the sessions the filter names, with `alsoInTransaction` committed together with it. */
    revoke,
    /** For a service that revokes inside its own transaction: `revokeWithin`, then `revoked` once it committed. */
    revokeWithin,
    revoked(sessionIds: readonly string[]): void {
      revocations.add(sessionIds);
    },

    async list(userId: string, currentSessionId: string): Promise<SessionInfo[]> {
      const rows = await listLiveSessions(db, userId, clock.now());
      return rows.map((row) => ({
        id: row.id,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        expiresAt: row.expires_at,
        userAgent: row.user_agent,
        ip: row.ip,
        current: row.id === currentSessionId,
      }));
    },

    /**
     * Whether the access token carries a proof of identity no older than REAUTH_MAX_AGE: what a
     * change that could hand over an account needs (a stolen access token alone is not one).
     */
    requireRecentProof(auth: Pick<Authenticated, 'authTime'>): void {
      const age = clock.now().getTime() - auth.authTime.getTime();
      if (age > config.reauthMaxAgeSeconds * 1000) throw new AppError('REAUTHENTICATION_REQUIRED');
    },

    /** How many live sessions each of these users has. */
    countLive(userIds: readonly string[]): Promise<Map<string, number>> {
      return countLiveSessions(db, userIds, clock.now());
    },

    /** Ends one of the user's own sessions; another user's id is answered as unknown. */
    async revokeOwn(auth: Pick<Authenticated, 'userId' | 'sessionId'>, sessionId: string, client: ClientInfo): Promise<void> {
      const revoked = await revoke({ userId: auth.userId, sessionId }, 'revoked', async (trx, rows) => {
        for (const row of rows)
          await audit.record(trx, {
            type: 'session.revoked',
            userId: auth.userId,
            sessionId: row.id,
            client,
            details: { reason: 'revoked' },
          });
      });
      if (revoked === 0) throw new AppError('SESSION_NOT_FOUND');
    },

    /** Ends every live session of the user, the calling one included. */
    async revokeAll(auth: Pick<Authenticated, 'userId' | 'sessionId'>, client: ClientInfo): Promise<{ revoked: number }> {
      const revoked = await revoke({ userId: auth.userId }, 'logout_all', async (trx, rows) => {
        await audit.record(trx, {
          type: 'sessions.revoked_all',
          userId: auth.userId,
          sessionId: auth.sessionId,
          client,
          details: { count: rows.length },
        });
      });
      return { revoked };
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;

/** Deletes sessions that ended before `before` (the clean-up job). */
export async function deleteEndedSessionsBefore(db: Db, before: Date): Promise<number> {
  return deleteEndedSessions(db, before);
}
