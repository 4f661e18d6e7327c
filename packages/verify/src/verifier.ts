/**
 * Verifies Latchkey access tokens in another service exactly as the server does (its
 * `src/lib/jwt.ts`), from the shared JWT_SECRET alone: no database, no server code.
 */
import {
  type AccessTokenClaims,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MIN_SECRET_BYTES,
  verifyAccessToken,
} from '@latchkey/protocol';
import { jwtVerify } from 'jose';
import { tokenFrom } from './authorization.js';
import { VerifyError } from './errors.js';
import { followRevocations, type RevocationFollower, type RevocationOptions } from './revocation.js';

/** The contract's values (API.md, "Tokens"), from `@latchkey/protocol` like the server's. */
export { DEFAULT_AUDIENCE, DEFAULT_CLOCK_TOLERANCE_SECONDS, DEFAULT_ISSUER, MAX_CLOCK_TOLERANCE_SECONDS } from '@latchkey/protocol';

export type Claims = AccessTokenClaims;

export interface VerifierOptions {
  /** The server's JWT_SECRET; HS256 is keyed with its UTF-8 bytes. */
  secret: string;
  issuer?: string;
  audience?: string;
  /** How far this service's clock may disagree with the server's; at most 60 s. */
  clockToleranceSeconds?: number;
  /** Follow the server's revocations through its PostgreSQL database. */
  revocation?: RevocationOptions;
  /** The current time; injected so that tests move it instead of sleeping. */
  now?: () => Date;
}

export interface Verifier {
  /**
   * The claims of a valid access token, given the token or an `Authorization` header value
   * (`Bearer <jwt>` or `Token <jwt>`). Rejects with a `VerifyError`; with revocation on, rejects
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
  // The contract keys HS256 with the UTF-8 bytes of JWT_SECRET.
  const key = new TextEncoder().encode(typeof options.secret === 'string' ? options.secret : '');
  if (key.byteLength < MIN_SECRET_BYTES)
    throw new RangeError(`secret must be the server's JWT_SECRET (at least ${MIN_SECRET_BYTES} bytes)`);
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0 || clockTolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new RangeError(`clockToleranceSeconds must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  const revocations: RevocationFollower | undefined = options.revocation ? followRevocations(options.revocation, now) : undefined;
  let closed = false;

  async function claimsOf(token: string): Promise<Claims> {
    // The server's own check (`@latchkey/protocol`), with this verifier's issuer, audience and tolerance.
    const verdict = await verifyAccessToken(token, (jwt, jwtOptions) => jwtVerify(jwt, key, jwtOptions), {
      algorithm: 'HS256',
      issuer,
      audience,
      clockToleranceSeconds: clockTolerance,
      now: now(),
    });
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
