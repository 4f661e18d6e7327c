/**
 * The verifier's failures, with the same stable codes as the server's catalogue, so that a service
 * and the Latchkey server answer a bad token alike and clients branch on one set of codes.
 */
export const VERIFY_ERROR_CODES = ['ACCESS_TOKEN_MISSING', 'ACCESS_TOKEN_EXPIRED', 'ACCESS_TOKEN_INVALID', 'SESSION_REVOKED'] as const;

export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

const MESSAGES: Record<VerifyErrorCode, string> = {
  ACCESS_TOKEN_MISSING: 'An access token is required',
  ACCESS_TOKEN_EXPIRED: 'The access token has expired',
  ACCESS_TOKEN_INVALID: 'The access token is invalid',
  SESSION_REVOKED: 'The session has ended',
};

/**
 * A token that must be refused. The message is the same for every token with the same code: why a
 * forged token failed is kept in `cause` (for logs), never in what a client is told.
 */
export class VerifyError extends Error {
  readonly code: VerifyErrorCode;

  constructor(code: VerifyErrorCode, options: { cause?: unknown } = {}) {
    super(MESSAGES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerifyError';
    this.code = code;
  }
}

export function isVerifyError(error: unknown): error is VerifyError {
  return error instanceof VerifyError;
}
