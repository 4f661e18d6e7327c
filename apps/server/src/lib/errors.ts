/**
 * The catalogue of domain errors. Every failure a client can branch on has a stable `appCode`;
 * the transport (tRPC, REST) maps the `kind` to its own status in one place.
 */
export const APP_CODES = {
  VALIDATION_FAILED: 'BAD_REQUEST',
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
} as const;

export type AppCode = keyof typeof APP_CODES;
export type AppErrorKind = (typeof APP_CODES)[AppCode];
export type FieldErrors = Record<string, string[]>;

const MESSAGES: Record<AppCode, string> = {
  VALIDATION_FAILED: 'Invalid input',
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
};

export class AppError extends Error {
  readonly appCode: AppCode;
  readonly kind: AppErrorKind;
  readonly fields: FieldErrors | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(appCode: AppCode, options: { fields?: FieldErrors; retryAfterSeconds?: number; message?: string } = {}) {
    super(options.message ?? MESSAGES[appCode]);
    this.name = 'AppError';
    this.appCode = appCode;
    this.kind = APP_CODES[appCode];
    this.fields = options.fields;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
