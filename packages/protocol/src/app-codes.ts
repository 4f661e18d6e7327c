/**
 * The catalogue of stable error codes a client branches on, with the tRPC code each is sent with
 * (REST maps that code to an HTTP status in one place) and the message the server gives by default.
 */
export const APP_CODES = {
  VALIDATION_FAILED: 'BAD_REQUEST',
  BATCH_TOO_LARGE: 'BAD_REQUEST',
  TOKEN_INVALID: 'BAD_REQUEST',
  TOKEN_EXPIRED: 'BAD_REQUEST',
  ACCESS_TOKEN_MISSING: 'UNAUTHORIZED',
  ACCESS_TOKEN_EXPIRED: 'UNAUTHORIZED',
  ACCESS_TOKEN_INVALID: 'UNAUTHORIZED',
  SESSION_REVOKED: 'UNAUTHORIZED',
  INVALID_CREDENTIALS: 'UNAUTHORIZED',
  REFRESH_TOKEN_INVALID: 'UNAUTHORIZED',
  REFRESH_TOKEN_EXPIRED: 'UNAUTHORIZED',
  REFRESH_TOKEN_REUSED: 'UNAUTHORIZED',
  SESSION_NOT_FOUND: 'NOT_FOUND',
  EMAIL_TAKEN: 'CONFLICT',
  USERNAME_TAKEN: 'CONFLICT',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  REAUTHENTICATION_REQUIRED: 'FORBIDDEN',
  ACCOUNT_DISABLED: 'FORBIDDEN',
  ADMIN_ONLY: 'FORBIDDEN',
  USER_NOT_FOUND: 'NOT_FOUND',
  ADMIN_SELF_CHANGE: 'FORBIDDEN',
  LAST_ADMIN: 'CONFLICT',
  MFA_CODE_INVALID: 'UNAUTHORIZED',
  MFA_TOKEN_INVALID: 'UNAUTHORIZED',
  MFA_TOKEN_EXPIRED: 'UNAUTHORIZED',
  FACTOR_NOT_FOUND: 'NOT_FOUND',
  FACTOR_EXISTS: 'CONFLICT',
  PASSKEY_INVALID: 'UNAUTHORIZED',
  PASSKEY_NOT_FOUND: 'NOT_FOUND',
  CHALLENGE_EXPIRED: 'BAD_REQUEST',
  LAST_SIGN_IN_METHOD: 'CONFLICT',
  IDENTITY_LINK_REQUIRED: 'CONFLICT',
  IDENTITY_IN_USE: 'CONFLICT',
  IDENTITY_NOT_FOUND: 'NOT_FOUND',
  PROVIDER_UNAVAILABLE: 'BAD_REQUEST',
  OIDC_STATE_INVALID: 'BAD_REQUEST',
  OIDC_RESPONSE_INVALID: 'UNAUTHORIZED',
  PROVIDER_EMAIL_UNVERIFIED: 'BAD_REQUEST',
} as const;

export type AppCode = keyof typeof APP_CODES;
/** The tRPC error code an appCode travels with. */
export type AppCodeKind = (typeof APP_CODES)[AppCode];

export const APP_CODE_MESSAGES: Readonly<Record<AppCode, string>> = {
  VALIDATION_FAILED: 'Invalid input',
  BATCH_TOO_LARGE: 'Too many calls in one batch',
  TOKEN_INVALID: 'The link is invalid or was already used',
  TOKEN_EXPIRED: 'The link has expired',
  ACCESS_TOKEN_MISSING: 'An access token is required',
  ACCESS_TOKEN_EXPIRED: 'The access token has expired',
  ACCESS_TOKEN_INVALID: 'The access token is invalid',
  SESSION_REVOKED: 'The session has ended',
  INVALID_CREDENTIALS: 'Invalid email or password',
  REFRESH_TOKEN_INVALID: 'The refresh token is invalid',
  REFRESH_TOKEN_EXPIRED: 'The refresh token has expired',
  REFRESH_TOKEN_REUSED: 'The refresh token was already used; the session has been revoked',
  SESSION_NOT_FOUND: 'No such session',
  EMAIL_TAKEN: 'Email has already been taken',
  USERNAME_TAKEN: 'Username has already been taken',
  RATE_LIMITED: 'Too many requests',
  REAUTHENTICATION_REQUIRED: 'Confirm who you are first: re-authenticate, or send the current password with this request',
  ACCOUNT_DISABLED: 'This account is disabled',
  ADMIN_ONLY: 'Only an administrator may do this',
  USER_NOT_FOUND: 'No such user',
  ADMIN_SELF_CHANGE: 'An administrator cannot disable or demote their own account',
  LAST_ADMIN: 'The last administrator cannot be demoted',
  MFA_CODE_INVALID: 'The code is invalid',
  MFA_TOKEN_INVALID: 'The sign-in attempt is invalid or was already used: sign in again',
  MFA_TOKEN_EXPIRED: 'The sign-in attempt has expired: sign in again',
  FACTOR_NOT_FOUND: 'No such factor',
  FACTOR_EXISTS: 'An authenticator app is already set up (or being set up) for this account',
  PASSKEY_INVALID: 'The passkey could not be verified',
  PASSKEY_NOT_FOUND: 'No such passkey',
  CHALLENGE_EXPIRED: 'The passkey request is unknown, used or expired: start again',
  LAST_SIGN_IN_METHOD: 'This is the last way to sign in to the account: add another first',
  IDENTITY_LINK_REQUIRED: 'An account with this email exists: sign in to it and link this provider from its settings',
  IDENTITY_IN_USE: 'This external account is already linked to another account',
  IDENTITY_NOT_FOUND: 'No such linked account',
  PROVIDER_UNAVAILABLE: 'The sign-in provider is not available: try again later',
  OIDC_STATE_INVALID: 'The sign-in attempt is invalid, expired or was started in another browser: start again',
  OIDC_RESPONSE_INVALID: "The sign-in provider's answer could not be verified",
  PROVIDER_EMAIL_UNVERIFIED: 'The sign-in provider has not verified this email address: verify it there, or register here',
};

/**
 * Why a request's access token was refused: the verifier's only failures, and exactly those a
 * client cures by refreshing its session and trying once more.
 */
export const ACCESS_TOKEN_REFUSALS = [
  'ACCESS_TOKEN_MISSING',
  'ACCESS_TOKEN_EXPIRED',
  'ACCESS_TOKEN_INVALID',
  'SESSION_REVOKED',
] as const satisfies readonly AppCode[];

export type AccessTokenRefusal = (typeof ACCESS_TOKEN_REFUSALS)[number];
