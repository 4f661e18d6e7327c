/**
 * The REST dispatcher: finds the route, refuses what is not a JSON body of a sane size before
 * anything else runs (so none of that reaches the database), then runs the route with the same
 * context the tRPC adapter builds.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/logger.js';
import { type Runtime, requestInfo } from '../../trpc/context.js';
import { BodyError, isJsonMediaType, readJsonBody, sendError, sendJson } from '../respond.js';
import { RestError, toRestError } from './errors.js';
import { pathParameters, type RestRoute } from './route.js';

export interface RestHandlerOptions {
  routes: readonly RestRoute[];
  runtime: Runtime;
  logger: Logger;
  maxBodyBytes: number;
}

/** `url`: the request's, as the server parsed it before routing here (http/respond.ts `requestUrl`). */
export type RestHandler = (req: IncomingMessage, res: ServerResponse, requestId: string, url: URL) => Promise<void>;

/**
 * Ends a request whose body is not read: the connection is closed after the answer rather than
 * kept alive, since what is left of the body could be anything, of any size.
 */
const CLOSE = { connection: 'close' };

/** The JSON body of a route that reads one, or a RestError for 413, 415 and 400. */
async function jsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  try {
    return await readJsonBody(req, limit);
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    switch (error.failure) {
      case 'too_large':
        throw new RestError(413, { body: [`is too large (maximum is ${limit} bytes)`] }, { headers: CLOSE });
      case 'not_json':
        throw new RestError(415, { body: ['must be JSON (Content-Type: application/json)'] }, { headers: CLOSE });
      case 'malformed':
        throw new RestError(400, { body: ['is not valid JSON'] });
    }
  }
}

/** A path with parameters (`/api/user/mfa/factors/{factor_id}`) as a pattern: each parameter one whole segment. */
interface PathPattern {
  regex: RegExp;
  names: string[];
  methods: Map<string, RestRoute>;
}

function patternOf(path: string, methods: Map<string, RestRoute>): PathPattern {
  const source = path
    .split(/\{[^/{}]+\}/)
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('([^/]+)');
  return { regex: new RegExp(`^${source}$`), names: pathParameters(path), methods };
}

/** A path segment as sent, decoded; kept as sent when its escapes are malformed (the route's schema then refuses it). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A POST or PUT without a body still declares JSON, as every POST to /api must (the tRPC paths ask the same). */
const DECLARES_BODY = new Set(['POST', 'PUT', 'PATCH']);

export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const { runtime, logger, maxBodyBytes } = options;
  const byPath = new Map<string, Map<string, RestRoute>>();
  for (const route of options.routes) {
    const methods = byPath.get(route.path) ?? new Map<string, RestRoute>();
    if (methods.has(route.method)) throw new Error(`two REST routes for ${route.method} ${route.path}`);
    methods.set(route.method, route);
    byPath.set(route.path, methods);
  }
  // Literal paths are found by lookup; those with parameters are tried in order after them.
  const patterns = [...byPath].filter(([path]) => pathParameters(path).length > 0).map(([path, methods]) => patternOf(path, methods));
  for (const path of [...byPath.keys()]) if (pathParameters(path).length > 0) byPath.delete(path);

  function find(pathname: string): { methods: Map<string, RestRoute>; params: Record<string, string> } | undefined {
    const methods = byPath.get(pathname);
    if (methods) return { methods, params: {} };
    for (const pattern of patterns) {
      const match = pattern.regex.exec(pathname);
      if (match) {
        const params = Object.fromEntries(pattern.names.map((name, i) => [name, decodeSegment(match[i + 1] ?? '')]));
        return { methods: pattern.methods, params };
      }
    }
    return undefined;
  }

  return async function handleRest(req, res, requestId, url) {
    // Answers carry tokens and personal data: no cache may keep them.
    res.setHeader('cache-control', 'no-store');
    try {
      const found = find(url.pathname);
      if (!found) throw new RestError(404, { route: ['not found'] });
      const { methods, params } = found;
      const allow = [...methods.keys(), 'OPTIONS'].join(', ');
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        res.writeHead(204, { allow });
        res.end();
        return;
      }
      const route = methods.get(method);
      if (!route) throw new RestError(405, { method: [`${method} is not allowed here`] }, { headers: { allow } });

      let raw: unknown;
      if (route.input?.from === 'body') raw = await jsonBody(req, maxBodyBytes);
      else if (route.input?.from === 'query') raw = Object.fromEntries(url.searchParams);
      else if (route.input?.from === 'path') raw = params;
      // A route that reads no body ignores what is sent, but not a media type other than JSON.
      if (route.input?.from !== 'body' && DECLARES_BODY.has(method) && !isJsonMediaType(req.headers['content-type'])) {
        throw new RestError(415, { body: ['must be JSON (Content-Type: application/json)'] }, { headers: CLOSE });
      }

      // The same request info as the tRPC adapter's, so throttles see the same client address.
      const ctx = { services: runtime.services, request: requestInfo(req, runtime.config.trustProxy, requestId) };
      const { status, body } = await route.run({ raw, params, ctx });
      sendJson(res, status, body);
    } catch (error) {
      const rest = toRestError(error);
      if (rest) {
        sendError(res, rest.status, rest.body(), rest.headers);
        return;
      }
      // Server-side only; the client learns nothing of the cause.
      logger.error({ requestId, path: (req.url ?? '/').split('?')[0], err: error }, 'REST request failed');
      sendError(res, 500, { errors: { server: ['internal error'] } });
    }
  };
}
