export { bearerToken } from './authorization.js';
export { isVerifyError, VERIFY_ERROR_CODES, VerifyError, type VerifyErrorCode } from './errors.js';
export { type AuthedFetchHandler, unauthorizedResponse, type WithAuthFetchOptions, withAuthFetch } from './fetch.js';
export { type AuthedRequestHandler, authenticate, type RequestWithHeaders, type WithAuthOptions, withAuth } from './http.js';
export { DEFAULT_RETAIN_SECONDS, REVOCATION_CHANNEL, type RevocationOptions } from './revocation.js';
export {
  type Claims,
  createVerifier,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_ISSUER,
  type JwksOptions,
  KeySetUnavailableError,
  MAX_CLOCK_TOLERANCE_SECONDS,
  type Verifier,
  type VerifierKeys,
  type VerifierOptions,
} from './verifier.js';
