import { createHmac, createSecretKey, randomUUID } from 'node:crypto';
import {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AuthMethod,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  verifyAccessToken,
} from '@latchkey/protocol';
import { jwtVerify } from 'jose';
import type { Clock } from './clock.js';
import { AppError } from './errors.js';

export type { AccessTokenClaims } from '@latchkey/protocol';

export interface AccessTokens {
  /**
   * `notAfter` caps the expiry (a token never outlives its session); `authTime` and `authMethods`
   * are the session's last proof of identity (auth_time, amr; aal follows from the methods).
   */
  sign(subject: {
    userId: string;
    sessionId: string;
    notAfter?: Date;
    authTime: Date;
    authMethods: readonly AuthMethod[];
  }): Promise<{ token: string; expiresAt: Date }>;
  /** Throws `AppError` ACCESS_TOKEN_EXPIRED or ACCESS_TOKEN_INVALID. */
  verify(token: string): Promise<AccessTokenClaims>;
}

/**
 * Signed with node:crypto's HMAC, synchronously: jose signs through WebCrypto, which imports the
 * key and queues each signature on libuv's thread pool, for a few microseconds of hashing.
 * Tokens are verified with jose by `@latchkey/protocol`'s `verifyAccessToken`, as `@latchkey/verify` does.
 */
const HEADER = Buffer.from(JSON.stringify({ alg: ACCESS_TOKEN_ALGORITHM, typ: ACCESS_TOKEN_TYPE })).toString('base64url');

/** Two factors (RFC 8176 `mfa`), or a user-verified hardware key, are assurance level 2. */
export function assuranceLevel(methods: readonly AuthMethod[]): 1 | 2 {
  return methods.includes('mfa') || methods.includes('hwk') ? 2 : 1;
}

/** Verified tokens remembered, so that a client's repeated calls verify its token once. */
const CACHE_SIZE = 10_000;

export function createAccessTokens(options: { secret: string; ttlSeconds: number; clock: Clock }): AccessTokens {
  // Keyed by the whole token string: the same bytes always verify the same way, until `exp`.
  // Bounded in size, and an entry is never used past its token's expiry (revocation is checked
  // apart, on every call). Map order makes the oldest entry the first to go.
  const verified = new Map<string, AccessTokenClaims>();
  // The contract keys HS256 with the UTF-8 bytes of JWT_SECRET so other services can verify.
  // A KeyObject: given raw bytes, jose imports the key again for every verification; a KeyObject's
  // CryptoKey it imports once and keeps.
  const key = createSecretKey(Buffer.from(options.secret, 'utf8'));
  const { clock, ttlSeconds } = options;

  return {
    async sign({ userId, sessionId, notAfter, authTime, authMethods }) {
      const issuedAt = Math.floor(clock.now().getTime() / 1000);
      const cap = notAfter ? Math.floor(notAfter.getTime() / 1000) : Number.POSITIVE_INFINITY;
      const expiresAt = Math.max(issuedAt + 1, Math.min(issuedAt + ttlSeconds, cap));
      const claims = {
        sid: sessionId,
        sub: userId,
        iss: DEFAULT_ISSUER,
        aud: DEFAULT_AUDIENCE,
        iat: issuedAt,
        exp: expiresAt,
        jti: randomUUID(),
        auth_time: Math.min(issuedAt, Math.floor(authTime.getTime() / 1000)),
        amr: authMethods,
        aal: assuranceLevel(authMethods),
      };
      const signingInput = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      const signature = createHmac('sha256', key).update(signingInput).digest('base64url');
      return { token: `${signingInput}.${signature}`, expiresAt: new Date(expiresAt * 1000) };
    },

    async verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (cached.expiresAt.getTime() + DEFAULT_CLOCK_TOLERANCE_SECONDS * 1000 > clock.now().getTime()) return cached;
        verified.delete(token);
      }
      const verdict = await verifyAccessToken(token, (jwt, options) => jwtVerify(jwt, key, options), { now: clock.now() });
      if (!verdict.ok) throw new AppError(verdict.appCode);
      const { claims } = verdict;
      if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value ?? '');
      verified.set(token, claims);
      return claims;
    },
  };
}
