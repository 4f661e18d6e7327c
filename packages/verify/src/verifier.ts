/**
 * Verifies Latchkey access tokens in another service exactly as the server does (its
 * `src/lib/jwt.ts`): EdDSA tokens with the public keys of the server's JWKS (no secret), or HS256
 * tokens with the shared JWT_SECRET. No database (unless revocation is followed), no server code.
 */
import {
  type AccessTokenAlgorithm,
  type AccessTokenClaims,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  JWKS_MAX_AGE_SECONDS,
  type JwtVerifyOptions,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MIN_SECRET_BYTES,
  type VerifiedJwt,
  verifyAccessToken,
} from '@latchkey/protocol';
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { tokenFrom } from './authorization.js';
import { VerifyError } from './errors.js';
import { followRevocations, type RevocationFollower, type RevocationOptions } from './revocation.js';

/** The contract's values (API.md, "Tokens"), from `@latchkey/protocol` like the server's. */
export { DEFAULT_AUDIENCE, DEFAULT_CLOCK_TOLERANCE_SECONDS, DEFAULT_ISSUER, MAX_CLOCK_TOLERANCE_SECONDS } from '@latchkey/protocol';

export type Claims = AccessTokenClaims;

/** How the JWKS is fetched and kept (jose's `createRemoteJWKSet`). */
export interface JwksOptions {
  /** How long a fetched key set is used before it is fetched again; 300 s by default, as the server's Cache-Control says. */
  cacheMaxAgeSeconds?: number;
  /** After a fetch, no other for this long, even for an unknown `kid`; 30 s by default. */
  cooldownSeconds?: number;
  /** A fetch taking longer fails (and `verify` rejects, it does not refuse the token); 5 s by default. */
  timeoutSeconds?: number;
}

/** One way to check signatures: the server's public keys (EdDSA, the default) or its secret (HS256). */
export type VerifierKeys =
  | {
      /** The server's `/.well-known/jwks.json`: EdDSA tokens, verified with no secret. */
      jwksUrl: string | URL;
      jwks?: JwksOptions;
      secret?: never;
    }
  | {
      /** The server's JWT_SECRET, for `ACCESS_TOKEN_ALG=HS256`; HS256 is keyed with its UTF-8 bytes. */
      secret: string;
      jwksUrl?: never;
      jwks?: never;
    };

export type VerifierOptions = VerifierKeys & {
  issuer?: string;
  audience?: string;
  /** How far this service's clock may disagree with the server's; at most 60 s. */
  clockToleranceSeconds?: number;
  /** Follow the server's revocations through its PostgreSQL database. */
  revocation?: RevocationOptions;
  /** The current time; injected so that tests move it instead of sleeping. */
  now?: () => Date;
};

/**
 * The key set could not be fetched (network, timeout, not a JWKS): `verify` rejects with this
 * rather than refusing the token, which may be fine; the HTTP helpers answer 503.
 */
export class KeySetUnavailableError extends Error {
  override name = 'KeySetUnavailableError';
}

/** jose's codes for a key set that was read and holds no single key for the token: the token's fault. */
const TOKEN_KEY_MISMATCH = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS']);

const seconds = (value: number | undefined, fallback: number, name: string): number => {
  const chosen = value ?? fallback;
  if (!Number.isFinite(chosen) || chosen < 0) throw new RangeError(`jwks.${name} must be a number of seconds, 0 or more`);
  return chosen * 1000;
};

/** The signature check of one verifier: jose's `jwtVerify` bound to its keys, and the one algorithm they are for. */
function signatureCheck(options: VerifierKeys): {
  algorithm: AccessTokenAlgorithm;
  verifyJwt: (token: string, options: JwtVerifyOptions) => Promise<VerifiedJwt>;
} {
  const given = options as { jwksUrl?: unknown; secret?: unknown; jwks?: JwksOptions };
  if (given.jwksUrl !== undefined && given.secret !== undefined)
    throw new TypeError('give jwksUrl (EdDSA) or secret (HS256), not both: a verifier accepts one algorithm');
  if (given.jwksUrl !== undefined) {
    const url = typeof given.jwksUrl === 'string' && URL.canParse(given.jwksUrl) ? new URL(given.jwksUrl) : given.jwksUrl;
    if (!(url instanceof URL) || !/^https?:$/.test(url.protocol)) throw new TypeError('jwksUrl must be an http(s) URL');
    const remote = createRemoteJWKSet(url, {
      cacheMaxAge: seconds(given.jwks?.cacheMaxAgeSeconds, JWKS_MAX_AGE_SECONDS, 'cacheMaxAgeSeconds'),
      cooldownDuration: seconds(given.jwks?.cooldownSeconds, 30, 'cooldownSeconds'),
      timeoutDuration: seconds(given.jwks?.timeoutSeconds, 5, 'timeoutSeconds'),
    });
    // Only the configured URL is ever fetched: jose's remote set reads the header's kid and alg,
    // never its jku, x5u or jwk.
    const keyFor: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        if (TOKEN_KEY_MISMATCH.has(String((error as { code?: unknown }).code))) throw error;
        throw new KeySetUnavailableError(`the key set at ${url.href} cannot be read`, { cause: error });
      }
    };
    return { algorithm: 'EdDSA', verifyJwt: (jwt, jwtOptions) => jwtVerify(jwt, keyFor, jwtOptions) };
  }
  // The contract keys HS256 with the UTF-8 bytes of JWT_SECRET.
  const key = new TextEncoder().encode(typeof given.secret === 'string' ? given.secret : '');
  if (given.secret === undefined) throw new TypeError("give jwksUrl (the server's /.well-known/jwks.json) or secret (HS256)");
  if (key.byteLength < MIN_SECRET_BYTES)
    throw new RangeError(`secret must be the server's JWT_SECRET (at least ${MIN_SECRET_BYTES} bytes)`);
  return { algorithm: 'HS256', verifyJwt: (jwt, jwtOptions) => jwtVerify(jwt, key, jwtOptions) };
}

export interface Verifier {
  /**
   * The claims of a valid access token, given the token or an `Authorization` header value
   * (`Bearer <jwt>` or `Token <jwt>`). Rejects with a `VerifyError`; with a `jwksUrl`, rejects with
   * a `KeySetUnavailableError` when the key set cannot be fetched; with revocation on, rejects
   * with the database's error when the session cannot be checked (it fails closed).
   */
  verify(tokenOrAuthorization: string | null | undefined): Promise<Claims>;
  /** Resolves true once revocations are followed (at once when revocation is off), false after the timeout. */
  ready(timeoutMs?: number): Promise<boolean>;
  /** `off`, `following` (the list is synchronised), or `database` (each session is looked up until it is). */
  readonly revocationStatus: 'off' | 'following' | 'database';
  /** The `application_name` of the revocation listener's connection, when revocation is on. */
  readonly revocationListenerName: string | undefined;
  /** Ends the revocation listener; `verify` rejects afterwards. */
  close(): Promise<void>;
}

export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = options.issuer ?? DEFAULT_ISSUER;
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const clockTolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const now = options.now ?? (() => new Date());
  const { algorithm, verifyJwt } = signatureCheck(options);
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0 || clockTolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new RangeError(`clockToleranceSeconds must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  const revocations: RevocationFollower | undefined = options.revocation ? followRevocations(options.revocation, now) : undefined;
  let closed = false;

  async function claimsOf(token: string): Promise<Claims> {
    // The server's own check (`@latchkey/protocol`), with this verifier's issuer, audience and tolerance.
    const verdict = await verifyAccessToken(token, verifyJwt, {
      algorithm,
      issuer,
      audience,
      clockToleranceSeconds: clockTolerance,
      now: now(),
    });
    // Keys that cannot be fetched say nothing about the token: not a refusal, a failure (fails closed).
    if (!verdict.ok && verdict.cause instanceof KeySetUnavailableError) throw verdict.cause;
    if (!verdict.ok) throw new VerifyError(verdict.appCode, { cause: verdict.cause });
    return verdict.claims;
  }

  return {
    async verify(tokenOrAuthorization) {
      // A closed verifier no longer hears of revocations: refusing to answer beats answering wrongly.
      if (closed) throw new Error('the verifier is closed');
      const token = tokenFrom(tokenOrAuthorization);
      if (!token) throw new VerifyError('ACCESS_TOKEN_MISSING');
      // The signature first: a forged token never costs a database lookup.
      const claims = await claimsOf(token);
      if (revocations && (await revocations.isRevoked(claims.sessionId))) throw new VerifyError('SESSION_REVOKED');
      return claims;
    },
    ready(timeoutMs) {
      return revocations ? revocations.ready(timeoutMs) : Promise.resolve(!closed);
    },
    get revocationStatus() {
      if (!revocations) return 'off';
      return revocations.trusted ? 'following' : 'database';
    },
    revocationListenerName: revocations?.applicationName,
    async close() {
      closed = true;
      await revocations?.close();
    },
  };
}
