export {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_CLAIMS,
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AccessTokenPolicy,
  type AccessTokenVerdict,
  AUTH_METHODS,
  type AuthMethod,
  accessTokenClaims,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  type JwtVerifyOptions,
  jwtVerifyOptions,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MIN_SECRET_BYTES,
  REQUIRED_CLAIMS,
  type VerifiedJwt,
  verifyAccessToken,
} from './access-token.js';
export {
  ACCESS_TOKEN_REFUSALS,
  type AccessTokenRefusal,
  APP_CODE_MESSAGES,
  APP_CODES,
  type AppCode,
  type AppCodeKind,
} from './app-codes.js';
export { bearerToken } from './authorization.js';
export { DEFAULT_MAX_BATCH_SIZE } from './batch.js';
export {
  DEFAULT_HEARTBEAT_MS,
  followRevocations,
  HEARTBEAT_PREFIX,
  type ListenerConnection,
  REVOCATION_CHANNEL,
  type RevocationFollower,
  type RevocationFollowerOptions,
  type RevokedSession,
  revocationPayloads,
  SESSION_IDS_PER_NOTIFICATION,
} from './revocations.js';
