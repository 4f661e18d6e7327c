/** What the HTTP helpers answer when a request cannot be let through; shared by the Node and fetch flavours. */
import { VerifyError } from './errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface Refusal {
  status: 401 | 503;
  headers: Record<string, string>;
  body: ErrorBody;
}

/**
 * The answer to a failed verification. A `VerifyError` is a 401 with the RFC 6750 challenge (no
 * error attribute when no token was sent, `invalid_token` otherwise), in the server's error shape.
 * Anything else means the revocation check could not be made: a 503, never a pass.
 */
export function refusalFor(error: unknown): Refusal {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (error instanceof VerifyError) {
    headers['www-authenticate'] = error.code === 'ACCESS_TOKEN_MISSING' ? 'Bearer' : 'Bearer error="invalid_token"';
    return { status: 401, headers, body: { error: { code: error.code, message: error.message } } };
  }
  return {
    status: 503,
    headers: { ...headers, 'retry-after': '1' },
    body: { error: { code: 'VERIFIER_UNAVAILABLE', message: 'The access token cannot be checked right now' } },
  };
}

/** Errors the helpers catch but cannot answer with: reported here unless the caller says otherwise. */
export function reportError(error: unknown): void {
  console.error(error);
}
