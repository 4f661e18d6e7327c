/** Helpers for plain Node `http` servers (and anything built on `IncomingMessage`, such as Express). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { refusalFor, reportError } from './responses.js';
import type { Claims, Verifier } from './verifier.js';

/** A Node request, or a fetch `Request`. */
export type RequestWithHeaders = Pick<IncomingMessage, 'headers'> | Pick<Request, 'headers'>;

/** Duck-typed rather than `instanceof Headers`: polyfills and other realms have a Headers class of their own. */
function isFetchHeaders(headers: RequestWithHeaders['headers']): headers is Headers {
  return typeof (headers as Partial<Headers>).get === 'function';
}

function authorizationOf({ headers }: RequestWithHeaders): string | null | undefined {
  return isFetchHeaders(headers) ? headers.get('authorization') : headers.authorization;
}

/** The claims of the request's `Authorization` header; rejects as `verifier.verify` does. */
export function authenticate(verifier: Verifier, request: RequestWithHeaders): Promise<Claims> {
  return verifier.verify(authorizationOf(request));
}

export type AuthedRequestHandler = (req: IncomingMessage, res: ServerResponse, claims: Claims) => void | Promise<void>;

export interface WithAuthOptions {
  /** Errors no response can carry (a failing handler, the database behind revocation); `console.error` by default. */
  onError?: (error: unknown) => void;
}

/**
 * A request listener that answers 401 `{ error: { code, message } }` with `WWW-Authenticate: Bearer`
 * unless the request carries a valid access token, and otherwise hands the claims to `handler`.
 * A handler that throws gets a 500 rather than an unhandled rejection, which would end the process.
 */
export function withAuth(verifier: Verifier, handler: AuthedRequestHandler, options: WithAuthOptions = {}) {
  const onError = options.onError ?? reportError;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let claims: Claims;
    try {
      claims = await authenticate(verifier, req);
    } catch (error) {
      const refusal = refusalFor(error);
      if (refusal.status !== 401) onError(error);
      res.writeHead(refusal.status, refusal.headers).end(JSON.stringify(refusal.body));
      return;
    }
    try {
      await handler(req, res, claims);
    } catch (error) {
      onError(error);
      if (res.headersSent) res.destroy();
      else
        res
          .writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' } }));
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res).catch(onError);
  };
}
