import { randomUUID } from 'node:crypto';
import {
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AccessTokenVerdict,
  type AuthMethod,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  verifyAccessToken,
} from '@latchkey/protocol';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { Clock } from './clock.js';
import { AppError } from './errors.js';
import type { AccessTokenKeys, PublicJwk } from './keys.js';

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
  /** The public keys tokens are verified with, as a JWK Set (empty for HS256). */
  readonly jwks: { keys: readonly PublicJwk[] };
}

/**
 * Signed with node:crypto (`lib/keys.ts`): Ed25519 on libuv's thread pool, HMAC on this thread.
 * Tokens are verified with jose by `@latchkey/protocol`'s `verifyAccessToken`, as `@latchkey/verify` does.
 */
const encodeHeader = (keys: AccessTokenKeys) =>
  Buffer.from(JSON.stringify({ alg: keys.algorithm, typ: ACCESS_TOKEN_TYPE, ...(keys.kid !== undefined && { kid: keys.kid }) })).toString(
    'base64url',
  );

/** jose's code when a signature does not match the key it was given. */
const SIGNATURE_MISMATCH = 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED';

/** Two factors (RFC 8176 `mfa`), or a user-verified hardware key, are assurance level 2. */
export function assuranceLevel(methods: readonly AuthMethod[]): 1 | 2 {
  return methods.includes('mfa') || methods.includes('hwk') ? 2 : 1;
}

/** Verified tokens remembered, so that a client's repeated calls verify its token once. */
const CACHE_SIZE = 10_000;

export function createAccessTokens(options: { keys: AccessTokenKeys; ttlSeconds: number; clock: Clock }): AccessTokens {
  // Keyed by the whole token string: the same bytes always verify the same way, until `exp`.
  // Bounded in size, and an entry is never used past its token's expiry (revocation is checked
  // apart, on every call). Map order makes the oldest entry the first to go.
  const verified = new Map<string, AccessTokenClaims>();
  const { keys, clock, ttlSeconds } = options;
  const header = encodeHeader(keys);
  const policy = { algorithm: keys.algorithm };

  /** Tries each key the token may be signed with (the previous secret's only after the current one's did not match). */
  async function check(token: string): Promise<AccessTokenVerdict> {
    let verdict: AccessTokenVerdict = { ok: false, appCode: 'ACCESS_TOKEN_INVALID', cause: new Error('no key for this kid') };
    // Chosen by the header's kid among the server's own keys only: an unknown kid is refused
    // without a signature check, and nothing a header names (jwk, jku, x5u) is fetched or trusted.
    for (const key of keys.candidates(kidOf(token))) {
      verdict = await verifyAccessToken(token, (jwt, jwtOptions) => jwtVerify(jwt, key, jwtOptions), { ...policy, now: clock.now() });
      if (verdict.ok || (verdict.cause as { code?: unknown } | undefined)?.code !== SIGNATURE_MISMATCH) return verdict;
    }
    return verdict;
  }

  return {
    jwks: keys.jwks,

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
      const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return { token: `${signingInput}.${await keys.sign(signingInput)}`, expiresAt: new Date(expiresAt * 1000) };
    },

    async verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (cached.expiresAt.getTime() + DEFAULT_CLOCK_TOLERANCE_SECONDS * 1000 > clock.now().getTime()) return cached;
        verified.delete(token);
      }
      const verdict = await check(token);
      if (!verdict.ok) throw new AppError(verdict.appCode);
      const { claims } = verdict;
      if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value ?? '');
      verified.set(token, claims);
      return claims;
    },
  };
}

/** The `kid` of a token's header, or undefined when there is none (jose judges the header again). */
function kidOf(token: string): unknown {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}
