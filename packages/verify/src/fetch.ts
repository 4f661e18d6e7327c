/** Helpers for fetch-style handlers (`(request: Request) => Response`): Hono, Next.js route handlers, Bun, Deno. */
import { authenticate } from './http.js';
import { refusalFor, reportError } from './responses.js';
import type { Claims, Verifier } from './verifier.js';

/** The response `withAuthFetch` sends for a request it refuses (a `VerifyError`: 401; anything else: 503). */
export function unauthorizedResponse(error: unknown): Response {
  const refusal = refusalFor(error);
  return new Response(JSON.stringify(refusal.body), { status: refusal.status, headers: refusal.headers });
}

export type AuthedFetchHandler = (request: Request, claims: Claims) => Response | Promise<Response>;

export interface WithAuthFetchOptions {
  /** Errors of the revocation check (it answers 503); `console.error` by default. */
  onError?: (error: unknown) => void;
}

/**
 * A fetch handler that answers 401 unless the request carries a valid access token. Errors of
 * `handler` itself propagate: fetch-style runtimes already turn a rejected handler into a 500.
 */
export function withAuthFetch(verifier: Verifier, handler: AuthedFetchHandler, options: WithAuthFetchOptions = {}) {
  const onError = options.onError ?? reportError;
  return async (request: Request): Promise<Response> => {
    let claims: Claims;
    try {
      claims = await authenticate(verifier, request);
    } catch (error) {
      const response = unauthorizedResponse(error);
      if (response.status !== 401) onError(error);
      return response;
    }
    return handler(request, claims);
  };
}
