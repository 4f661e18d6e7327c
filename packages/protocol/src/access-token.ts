/**
 * The access token's contract (API.md, "Tokens") and the one way to check a token against it. jose
 * checks the signature and the registered claims; what it hands back is checked again here, and
 * mapped to claims, by the same code in the server and in the verifier. jose is passed in, not
 * imported: this package has no runtime dependencies.
 */
import type { AccessTokenRefusal } from './app-codes.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/**
 * How access tokens may be signed (ACCESS_TOKEN_ALG): EdDSA (Ed25519, the default; verifiers need
 * only the public key) or HS256 (keyed with the UTF-8 bytes of JWT_SECRET, the tutorial's model).
 * A verifier accepts exactly one of them, the one it is configured for.
 */
export const ACCESS_TOKEN_ALGORITHMS = ['EdDSA', 'HS256'] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];
export const DEFAULT_ACCESS_TOKEN_ALGORITHM: AccessTokenAlgorithm = 'EdDSA';
/**
 * The Ed25519 private key's seed is HKDF-SHA256(ikm = UTF-8 bytes of JWT_SECRET, salt = empty,
 * info = this, 32 bytes); its `kid` is the RFC 7638 thumbprint of the public JWK.
 */
export const ED25519_SEED_INFO = 'latchkey/access-token/ed25519';
/** Where the server publishes the public keys it accepts, and how long they may be cached. */
export const JWKS_PATH = '/.well-known/jwks.json';
export const JWKS_MAX_AGE_SECONDS = 300;
/**
 * The only header parameters an access token carries. Anything else (`jwk`, `jku`, `x5u`, `x5c`,
 * `crit`...) names a key or a rule the verifier did not choose: such a token is not one of ours.
 */
export const ACCESS_TOKEN_HEADER_PARAMETERS = ['alg', 'typ', 'kid'] as const;
export const DEFAULT_ISSUER = 'latchkey';
export const DEFAULT_AUDIENCE = 'latchkey';
/** Instances sharing a database may disagree slightly about the time; never by more than this by default. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** A larger tolerance would let tokens live well past the expiry the server gave them. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 60;
/** JWT_SECRET (and JWT_SECRET_PREVIOUS) must be this long; a shorter secret is refused on both sides. */
export const MIN_SECRET_BYTES = 32;

/** The claims an access token carries, by what they mean. */
export const ACCESS_TOKEN_CLAIMS = {
  userId: 'sub',
  sessionId: 'sid',
  issuer: 'iss',
  audience: 'aud',
  issuedAt: 'iat',
  expiresAt: 'exp',
  tokenId: 'jti',
  authTime: 'auth_time',
  authMethods: 'amr',
  assuranceLevel: 'aal',
} as const;

/** RFC 8176 authentication method references a token's `amr` may carry. */
export const AUTH_METHODS = ['pwd', 'otp', 'hwk', 'fed', 'mfa'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** jose treats every claim as optional unless told: a token without `exp` would never expire. */
export const REQUIRED_CLAIMS = ['exp', 'iat', 'sub', 'jti', 'sid'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AccessTokenClaims {
  userId: string;
  sessionId: string;
  expiresAt: Date;
  /**
   * The last proof of identity in the session (`auth_time`): login or re-authentication; a refresh
   * keeps it. The Unix epoch for a token that carries none (one issued before the claim existed),
   * which is never recent.
   */
  authTime: Date;
  /** How that proof was made (`amr`); empty when the token carries none. */
  authMethods: readonly AuthMethod[];
  /** Authentication assurance level (`aal`): 2 when two factors were used. */
  assuranceLevel: 1 | 2;
}

export interface AccessTokenPolicy {
  /** The one algorithm accepted: never read from the token. */
  algorithm: AccessTokenAlgorithm;
  issuer?: string;
  audience?: string;
  clockToleranceSeconds?: number;
}

/** jose's `JWTVerifyOptions`, as plain data: every option pinned. */
export interface JwtVerifyOptions {
  algorithms: string[];
  typ: string;
  issuer: string;
  audience: string;
  requiredClaims: string[];
  clockTolerance: number;
  currentDate: Date;
}

/** What jose's `jwtVerify` resolves with, as far as it is read here. */
export interface VerifiedJwt {
  payload: Readonly<Record<string, unknown>>;
  protectedHeader: Readonly<Record<string, unknown>>;
}

export type AccessTokenVerdict =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; appCode: Extract<AccessTokenRefusal, 'ACCESS_TOKEN_EXPIRED' | 'ACCESS_TOKEN_INVALID'>; cause: unknown };

export function jwtVerifyOptions(policy: AccessTokenPolicy, now: Date): JwtVerifyOptions {
  return {
    // jose accepts any algorithm the key allows and a missing exp unless told: pin everything.
    algorithms: [policy.algorithm],
    typ: ACCESS_TOKEN_TYPE,
    issuer: policy.issuer ?? DEFAULT_ISSUER,
    audience: policy.audience ?? DEFAULT_AUDIENCE,
    requiredClaims: [...REQUIRED_CLAIMS],
    clockTolerance: policy.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    currentDate: now,
  };
}

/** `typ` compared as jose compares it (RFC 8725, 3.11): any case, `application/` optional. */
const mediaType = (value: unknown) => (typeof value === 'string' ? value.toLowerCase().replace(/^application\//, '') : undefined);

/**
 * The claims of a token jose verified, or why it is still not an access token of this contract.
 * Expiry is jose's to judge (with the clock tolerance); every other rule is checked here again, no
 * looser than jose checks it, so that what the server and the verifier accept does not hang on
 * the options each remembered to pass.
 */
export function accessTokenClaims(
  verified: VerifiedJwt,
  policy: AccessTokenPolicy,
): { ok: true; claims: AccessTokenClaims } | { ok: false; problem: string } {
  const { payload, protectedHeader } = verified;
  const refuse = (problem: string) => ({ ok: false, problem }) as const;
  if (protectedHeader.alg !== policy.algorithm) return refuse(`alg is not ${policy.algorithm}`);
  const extra = Object.keys(protectedHeader).find((name) => !(ACCESS_TOKEN_HEADER_PARAMETERS as readonly string[]).includes(name));
  if (extra !== undefined) return refuse(`unexpected header parameter ${extra}`);
  // The server names its signing key: an EdDSA token without a kid is not one it made.
  if (policy.algorithm === 'EdDSA' && typeof protectedHeader.kid !== 'string') return refuse('no kid');
  if (mediaType(protectedHeader.typ) !== ACCESS_TOKEN_TYPE) return refuse('typ is not at+jwt');
  if (payload.iss !== (policy.issuer ?? DEFAULT_ISSUER)) return refuse('unexpected iss');
  const audience = policy.audience ?? DEFAULT_AUDIENCE;
  const { aud, sub, sid, exp, iat } = payload;
  if (aud !== audience && !(Array.isArray(aud) && aud.includes(audience))) return refuse('unexpected aud');
  for (const claim of REQUIRED_CLAIMS) if (payload[claim] === undefined) return refuse(`no ${claim}`);
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return refuse('exp is not a number');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return refuse('iat is not a number');
  if (typeof sub !== 'string' || !UUID.test(sub)) return refuse('sub is not a UUID');
  if (typeof sid !== 'string' || !UUID.test(sid)) return refuse('sid is not a UUID');
  const { auth_time: authTime, amr, aal } = payload;
  if (authTime !== undefined && (typeof authTime !== 'number' || !Number.isFinite(authTime) || authTime > iat))
    return refuse('auth_time is not a time before iat');
  if (amr !== undefined && !(Array.isArray(amr) && amr.every((m) => (AUTH_METHODS as readonly unknown[]).includes(m))))
    return refuse('amr is not a list of known methods');
  if (aal !== undefined && aal !== 1 && aal !== 2) return refuse('aal is not 1 or 2');
  return {
    ok: true,
    claims: {
      userId: sub,
      sessionId: sid,
      expiresAt: new Date(exp * 1000),
      authTime: new Date((authTime ?? 0) * 1000),
      authMethods: (amr ?? []) as AuthMethod[],
      assuranceLevel: aal ?? 1,
    },
  };
}

/**
 * Verifies an access token with `verifyJwt` (jose's `jwtVerify` bound to the key), then checks its
 * claims. Never throws: a refusal carries its appCode, and why in `cause` (for logs, never for clients).
 */
export async function verifyAccessToken(
  token: string,
  verifyJwt: (token: string, options: JwtVerifyOptions) => Promise<VerifiedJwt>,
  policy: AccessTokenPolicy & { now: Date },
): Promise<AccessTokenVerdict> {
  let verified: VerifiedJwt;
  try {
    verified = await verifyJwt(token, jwtVerifyOptions(policy, policy.now));
  } catch (error) {
    // jose's documented code for JWTExpired: matched by code, as jose is not a dependency here.
    const expired = typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_JWT_EXPIRED';
    return { ok: false, appCode: expired ? 'ACCESS_TOKEN_EXPIRED' : 'ACCESS_TOKEN_INVALID', cause: error };
  }
  const checked = accessTokenClaims(verified, policy);
  return checked.ok ? checked : { ok: false, appCode: 'ACCESS_TOKEN_INVALID', cause: new Error(checked.problem) };
}
