/**
 * REST errors in RealWorld's form, `{ "errors": { "<field>": ["<message>"] } }`, with the appCode
 * beside them as `code` so that clients branch on it as tRPC clients do on `data.appCode`.
 * Domain errors (`AppError`) are mapped to HTTP statuses here and only here.
 */
import type { z } from 'zod';
import { type AppCode, AppError, type AppErrorKind, type FieldErrors, unstorableTextError } from '../../lib/errors.js';
import { fieldErrorsFromIssues } from '../../lib/field-errors.js';

export const BLANK = "can't be blank";

export interface RestErrorBody {
  errors: FieldErrors;
  code?: string;
}

/** A failure the REST layer answers with this status, body and headers. */
export class RestError extends Error {
  readonly status: number;
  readonly errors: FieldErrors;
  readonly code: string | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, errors: FieldErrors, options: { code?: string | undefined; headers?: Record<string, string> } = {}) {
    super(`REST ${status}`);
    this.name = 'RestError';
    this.status = status;
    this.errors = errors;
    this.code = options.code;
    this.headers = options.headers ?? {};
  }

  body(): RestErrorBody {
    return { errors: this.errors, ...(this.code !== undefined && { code: this.code }) };
  }
}

/**
 * The status of each kind of domain error. Exhaustive on purpose: a new kind in the catalogue does
 * not compile until its REST status is chosen here. Invalid input is RealWorld's 422, not 400,
 * which this API keeps for bodies that are not JSON at all.
 */
const STATUS_BY_KIND: Record<AppErrorKind, number> = {
  BAD_REQUEST: 422,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_MANY_REQUESTS: 429,
};

interface CodeRule {
  /** Overrides the kind's status. */
  status?: number;
  /** The body when the error carries no per-field messages of its own. */
  field: string;
  message: string;
}

/**
 * Per-appCode bodies, and the statuses that differ from their kind's; a code not listed gets its
 * kind's status and its message under `error`.
 */
const RULES = {
  VALIDATION_FAILED: { field: 'body', message: 'is invalid' },
  // Verification and reset links: an unknown token is a missing resource, an expired one is gone.
  TOKEN_INVALID: { status: 404, field: 'token', message: 'is invalid' },
  TOKEN_EXPIRED: { status: 410, field: 'token', message: 'has expired' },
  ACCESS_TOKEN_MISSING: { field: 'token', message: 'is missing' },
  ACCESS_TOKEN_EXPIRED: { field: 'token', message: 'has expired' },
  ACCESS_TOKEN_INVALID: { field: 'token', message: 'is invalid' },
  SESSION_REVOKED: { field: 'session', message: 'has ended' },
  // RealWorld's wording; the same for an unknown email and a wrong password.
  INVALID_CREDENTIALS: { field: 'email or password', message: 'is invalid' },
  // Not a 401: the session is fine, the action needs a fresher proof of identity.
  REAUTHENTICATION_REQUIRED: { field: 'current_password', message: 'is required (or re-authenticate first)' },
  REFRESH_TOKEN_INVALID: { field: 'refresh_token', message: 'is invalid' },
  REFRESH_TOKEN_EXPIRED: { field: 'refresh_token', message: 'has expired' },
  REFRESH_TOKEN_REUSED: { field: 'refresh_token', message: 'was already used; the session has been revoked' },
  SESSION_NOT_FOUND: { field: 'session', message: 'not found' },
  EMAIL_TAKEN: { field: 'email', message: 'has already been taken' },
  USERNAME_TAKEN: { field: 'username', message: 'has already been taken' },
  RATE_LIMITED: { field: 'request', message: 'too many attempts, try again later' },
  ACCOUNT_DISABLED: { field: 'account', message: 'is disabled' },
  ADMIN_ONLY: { field: 'role', message: 'must be admin' },
  USER_NOT_FOUND: { field: 'user_id', message: 'not found' },
  ADMIN_SELF_CHANGE: { field: 'user_id', message: 'is your own account' },
  LAST_ADMIN: { field: 'role', message: 'is held by no other administrator' },
  // Second factors. A wrong code is a failed sign-in (401) at the second step of a login; the
  // signed-in routes that check one answer 422 instead (statusOverrides), as for a wrong password.
  MFA_CODE_INVALID: { field: 'code', message: 'is invalid' },
  // The pending sign-in is a credential like a refresh token: gone means sign in again, hence 401.
  MFA_TOKEN_INVALID: { field: 'mfa_token', message: 'is invalid or was already used' },
  MFA_TOKEN_EXPIRED: { field: 'mfa_token', message: 'has expired' },
  FACTOR_NOT_FOUND: { field: 'factor', message: 'not found' },
  FACTOR_EXISTS: { field: 'factor', message: 'is already set up (or being set up)' },
  // Passkeys. As a wrong code: a failed sign-in (401) when signing in, a form error (422, by
  // statusOverrides) on the signed-in routes.
  PASSKEY_INVALID: { field: 'passkey', message: 'could not be verified' },
  PASSKEY_NOT_FOUND: { field: 'passkey', message: 'not found' },
  // Unknown, used or expired alike (a challenge is single use): ask for new options.
  CHALLENGE_EXPIRED: { field: 'challenge', message: 'is unknown, used or expired' },
  LAST_SIGN_IN_METHOD: { field: 'passkey', message: 'is the last way to sign in to this account: add another first' },
  // External identities (OpenID Connect, GitHub).
  IDENTITY_NOT_FOUND: { field: 'identity', message: 'not found' },
  IDENTITY_IN_USE: { field: 'identity', message: 'is already linked to another account' },
  IDENTITY_LINK_REQUIRED: { field: 'identity', message: 'has the email of an account: sign in to it and link the provider there' },
  PROVIDER_UNAVAILABLE: { field: 'provider', message: 'is not available' },
} satisfies Partial<Record<AppCode, CodeRule>>;
/** Looked up by plain string: an error's code may be newer than this table. */
const BY_APP_CODE: Readonly<Record<string, CodeRule>> = RULES;

/** Failures of the access token itself, which RFC 6750 answers with a `WWW-Authenticate` challenge. */
const ACCESS_TOKEN_FAILURES = new Set(['ACCESS_TOKEN_MISSING', 'ACCESS_TOKEN_EXPIRED', 'ACCESS_TOKEN_INVALID', 'SESSION_REVOKED']);

/** `currentPassword` -> `current_password`: service field names in the REST bodies' case. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

export function fromAppError(error: AppError, statusOverrides: Readonly<Record<string, number>> = {}): RestError {
  const rule = BY_APP_CODE[error.appCode];
  const status = statusOverrides[error.appCode] ?? rule?.status ?? STATUS_BY_KIND[error.kind];
  const errors = error.fields
    ? Object.fromEntries(Object.entries(error.fields).map(([field, messages]) => [snakeCase(field), messages]))
    : { [rule?.field ?? 'error']: [rule?.message ?? error.message] };
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  if (status === 401 && ACCESS_TOKEN_FAILURES.has(error.appCode)) {
    headers['www-authenticate'] = error.appCode === 'ACCESS_TOKEN_MISSING' ? 'Bearer' : 'Bearer error="invalid_token"';
  }
  return new RestError(status, errors, { code: error.appCode, headers });
}

/** Per-field messages from zod issues (see lib/field-errors.ts); an issue about the body itself is under `body`. */
export function fromZodError(error: z.ZodError): RestError {
  return new RestError(422, fieldErrorsFromIssues(error.issues, 'body'), { code: 'VALIDATION_FAILED' });
}

/**
 * RealWorld's messages for what the schemas leave to zod's defaults: a missing value "can't be
 * blank", a value of the wrong type "is invalid". Messages the schemas set themselves win.
 */
export function restIssueMessage(issue: { code: string; input?: unknown }): string | undefined {
  if (issue.code === 'invalid_type') return issue.input === undefined ? BLANK : 'is invalid';
  if (issue.code === 'unrecognized_keys' || issue.code === 'invalid_union') return 'is invalid';
  return undefined;
}

export function toRestError(error: unknown, statusOverrides?: Readonly<Record<string, number>>): RestError | undefined {
  if (error instanceof RestError) return error;
  if (error instanceof AppError) return fromAppError(error, statusOverrides);
  const unstorable = unstorableTextError(error);
  return unstorable ? fromAppError(unstorable, statusOverrides) : undefined;
}
