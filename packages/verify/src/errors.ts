import { ACCESS_TOKEN_REFUSALS, type AccessTokenRefusal, APP_CODE_MESSAGES } from '@latchkey/protocol';

/**
 * The verifier's failures, with the same stable codes as the server's catalogue, so that a service
 * and the Latchkey server answer a bad token alike and clients branch on one set of codes.
 */
export const VERIFY_ERROR_CODES = ACCESS_TOKEN_REFUSALS;

export type VerifyErrorCode = AccessTokenRefusal;

/**
 * A token that must be refused. The message is the same for every token with the same code: why a
 * forged token failed is kept in `cause` (for logs), never in what a client is told.
 */
export class VerifyError extends Error {
  readonly code: VerifyErrorCode;

  constructor(code: VerifyErrorCode, options: { cause?: unknown } = {}) {
    super(APP_CODE_MESSAGES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerifyError';
    this.code = code;
  }
}

export function isVerifyError(error: unknown): error is VerifyError {
  return error instanceof VerifyError;
}
