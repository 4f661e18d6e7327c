/**
 * CORS for /api and /trpc, from CORS_ORIGINS. Only a listed origin is echoed back, never `*`; no
 * `Access-Control-Allow-Credentials` either, as nothing here rides on cookies: tokens travel in
 * the Authorization header, which the allowed headers name. Any other origin gets no CORS header
 * at all, and the browser keeps the answer from its page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Methods of the REST routes (DELETE removes a second factor) and the tRPC adapter (GET queries, POST mutations). */
export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'] as const;
/** Authorization and JSON bodies, plus what tRPC's links send (`trpc-accept` for streaming) and our request ids. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'trpc-accept', 'x-trpc-source', 'x-request-id'] as const;
/** Headers a page may read: when to come back after a 429, and the id to quote in a bug report. */
export const CORS_EXPOSED_HEADERS = ['retry-after', 'x-request-id'] as const;
const PREFLIGHT_MAX_AGE_SECONDS = 600;

export type Cors = (req: IncomingMessage, res: ServerResponse) => 'answered' | 'continue';

function appendVary(res: ServerResponse, names: string): void {
  const current = res.getHeader('vary');
  res.setHeader('vary', current ? `${String(current)}, ${names}` : names);
}

/**
 * Sets the CORS headers of a request, and answers it when it is a preflight (204: the real
 * request follows). Preflights are answered for any path under the prefix, so that the browser
 * gets to see the real answer, 404 and 405 included.
 */
export function createCors(origins: readonly string[]): Cors {
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    // The answer depends on the Origin: a shared cache must not hand one origin's answer to another.
    appendVary(res, preflight ? 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' : 'Origin');
    const permitted = origin !== undefined && allowed.has(origin);
    if (permitted) {
      res.setHeader('access-control-allow-origin', origin);
      if (!preflight) res.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
    }
    if (!preflight) return 'continue';
    if (permitted) {
      res.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS.join(', '));
      res.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS.join(', '));
      res.setHeader('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS));
    }
    res.writeHead(204, { 'content-length': '0' });
    res.end();
    return 'answered';
  };
}
