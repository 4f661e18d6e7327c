import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { JWKS_MAX_AGE_SECONDS, JWKS_PATH } from '@latchkey/protocol';
import { TRPCError } from '@trpc/server';
import { nodeHTTPRequestHandler } from '@trpc/server/adapters/node-http';
import type { DatabaseHandle } from '../db/database.js';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { appRouter } from '../router.js';
import { type Runtime, requestInfo } from '../trpc/context.js';
import { type DirectCall, directCallOf } from '../trpc/init.js';
import { createCors } from './cors.js';
import { buildOpenApiDocument } from './openapi.js';
import { oidcPage, resetPasswordPage, verifyEmailFormPage, verifyEmailPage } from './pages.js';
import { declaresMoreThan, requestUrl, sendError, sendJson } from './respond.js';
import { createRestHandler } from './rest/handler.js';
import { restRoutes } from './rest/routes.js';
import { type FastProcedures, handleTrpcFast, sendTrpcRequestError } from './trpc-fast.js';

/** Bodies larger than this are refused with 413 before any parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The hot procedures the lean tRPC handler answers (the others go to tRPC's adapter): what a
 * signed-in client calls on every page and every token refresh.
 */
export const FAST_PROCEDURES: FastProcedures = { 'user.me': 'query', 'auth.sessions': 'query', 'auth.refresh': 'mutation' };
/** The fast procedures the lean handler calls without tRPC's middleware chain (trpc/init.ts `directMutation`). */
const DIRECT_CALLS: Readonly<Record<string, DirectCall | undefined>> = { 'auth.refresh': directCallOf(appRouter.auth.refresh) };
const directCallAt = (path: string) => (Object.hasOwn(DIRECT_CALLS, path) ? DIRECT_CALLS[path] : undefined);

/**
 * What both tRPC handlers refuse before reading the body or running a call, answered here so
 * that they answer it alike: a POST that is not `application/json` (415: what a cross-site form
 * can send without a preflight, `multipart/form-data` and `application/octet-stream` included,
 * which tRPC's adapter would otherwise accept), and a batch of more than `maxBatchSize` calls
 * (400 BATCH_TOO_LARGE: each call may cost a hash).
 */
function trpcRequestRefusal(
  req: IncomingMessage,
  url: URL,
  procedurePath: string,
  maxBatchSize: number | undefined,
): TRPCError | undefined {
  if (req.method === 'POST') {
    const contentType = req.headers['content-type'];
    if (contentType?.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
      return new TRPCError({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: contentType === undefined ? 'Missing content-type header' : 'The content-type must be application/json',
      });
    }
  }
  if (maxBatchSize !== undefined && url.searchParams.get('batch') === '1') {
    // Counted as tRPC counts them, on the decoded path (an undecodable one is tRPC's 400).
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(procedurePath);
    } catch {
      decoded = undefined;
    }
    const calls = decoded === undefined ? 0 : decoded.split(',').length;
    if (calls > maxBatchSize) {
      const cause = new AppError('BATCH_TOO_LARGE', { message: `A batch may hold at most ${maxBatchSize} calls` });
      return new TRPCError({ code: 'BAD_REQUEST', message: cause.message, cause });
    }
  }
  return undefined;
}

export interface HttpServer {
  server: Server;
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Requests received and not yet answered. */
  inFlight(): number;
  /** Stops accepting, lets in-flight requests finish (up to the timeout), then closes what remains. */
  close(timeoutMs?: number): Promise<void>;
}

export function createHttpServer(options: {
  runtime: Runtime;
  database: DatabaseHandle;
  logger: Logger;
  /** `fast` (default): the lean handler, with the standard adapter for what it declines; `standard`: the standard adapter only. */
  trpcAdapter?: 'fast' | 'standard';
  /** tRPC's batching options, for both handlers (default: batches allowed, of at most MAX_BATCH_SIZE calls). */
  trpcBatching?: { allowBatching?: boolean; maxBatchSize?: number };
}): HttpServer {
  const { runtime, database, logger } = options;
  const fastTrpc = (options.trpcAdapter ?? 'fast') === 'fast';
  const allowBatching = options.trpcBatching?.allowBatching ?? true;
  const maxBatchSize = options.trpcBatching?.maxBatchSize ?? runtime.config.maxBatchSize;
  const retryAfter = (errors: readonly { cause?: unknown }[]): Record<string, string> => {
    // A throttled call says when to come back, in the header HTTP clients read.
    const waits = errors.map((e) => (e.cause instanceof AppError ? e.cause.retryAfterSeconds : undefined)).filter((s) => s !== undefined);
    return waits.length ? { 'retry-after': String(Math.max(...waits)) } : {};
  };
  // tRPC sets its own Vary, replacing the one CORS set: add Origin back (an array is appended).
  const responseHeaders = (errors: readonly { cause?: unknown }[]) => ({ vary: ['Origin'], ...retryAfter(errors) });
  const logProcedureError = (requestId: string, error: TRPCError, procedure: string | undefined) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') {
      // Server-side only; the client sees a bare "Internal server error".
      logger.error({ requestId, procedure, err: error.cause ?? error }, 'procedure failed');
    }
  };
  const trustProxy = runtime.config.trustProxy;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const cors = createCors(runtime.config.corsOrigins);
  const rest = createRestHandler({ routes: restRoutes, runtime, logger, maxBodyBytes: MAX_BODY_BYTES });
  // Built on first request and kept: it depends only on the route table and BASE_URL.
  let openApiDocument: ReturnType<typeof buildOpenApiDocument> | undefined;

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = requestUrl(req);
    if (!url) return sendError(res, 400, { error: 'bad request target' });
    const path = url.pathname;

    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendError(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      const up = await database.ping();
      return sendJson(res, up ? 200 : 503, { status: up ? 'ok' : 'error', database: up ? 'connected' : 'disconnected' });
    }

    // Opening the link (GET, or HEAD from link checkers) uses nothing up; only the page's form (POST) does.
    if (path === '/verify-email' && (req.method === 'GET' || req.method === 'HEAD')) return verifyEmailFormPage(url, res);
    if (path === '/verify-email' && req.method === 'POST') return verifyEmailPage(runtime, req, res, requestId);
    if (path === '/reset-password' && (req.method === 'GET' || req.method === 'HEAD')) return resetPasswordPage(res);
    // Matched only under its prefix: the hot paths (/trpc, /api) pay one startsWith, no regex.
    const oidc = path.startsWith('/auth/oidc/') ? /^\/auth\/oidc\/([a-z0-9]{1,64})\/(start|callback)$/.exec(path) : null;
    if (oidc?.[1] && (oidc[2] === 'start' || oidc[2] === 'callback'))
      return oidcPage(runtime, req, res, url, requestId, { provider: oidc[1], kind: oidc[2] });

    if (path === '/openapi.json') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendError(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      openApiDocument ??= buildOpenApiDocument(restRoutes, { serverUrl: runtime.config.baseUrl });
      return sendJson(res, 200, openApiDocument);
    }

    if (path === JWKS_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendError(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      // Public keys, for anyone: other services (and their browsers) verify tokens with them.
      return sendJson(res, 200, runtime.services.sessions.publicKeys(), {
        'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
        'access-control-allow-origin': '*',
      });
    }

    const isApi = path === '/api' || path.startsWith('/api/');
    const isTrpc = path.startsWith('/trpc/');
    if ((isApi || isTrpc) && cors(req, res) === 'answered') return;

    if (isApi) return rest(req, res, requestId, url);

    if (isTrpc) {
      if (declaresMoreThan(req, MAX_BODY_BYTES)) {
        res.setHeader('connection', 'close');
        return sendError(res, 413, { error: { message: 'Request body too large', code: 'PAYLOAD_TOO_LARGE' } });
      }
      // Answers carry tokens and personal data: no cache may keep them.
      res.setHeader('cache-control', 'no-store');
      const procedurePath = path.slice('/trpc/'.length);
      const refusal = trpcRequestRefusal(req, url, procedurePath, allowBatching ? maxBatchSize : undefined);
      if (refusal) {
        const type = req.method === 'POST' ? 'mutation' : 'query';
        logProcedureError(requestId, refusal, undefined);
        if (refusal.code === 'UNSUPPORTED_MEDIA_TYPE') res.setHeader('connection', 'close');
        return sendTrpcRequestError(res, appRouter, refusal, type, responseHeaders);
      }
      const createContext = () => ({ services: runtime.services, request: requestInfo(req, trustProxy, requestId) });
      if (
        fastTrpc &&
        (await handleTrpcFast(req, res, procedurePath, url, {
          router: appRouter,
          procedures: FAST_PROCEDURES,
          allowBatching,
          maxBatchSize,
          createContext,
          directCall: directCallAt,
          maxBodyBytes: MAX_BODY_BYTES,
          onError: ({ error, path: procedure }) => logProcedureError(requestId, error, procedure),
          headersFor: responseHeaders,
        }))
      ) {
        return;
      }
      await nodeHTTPRequestHandler({
        router: appRouter,
        req,
        res,
        path: procedurePath,
        allowBatching,
        maxBatchSize,
        // Also enforced while streaming, for bodies that do not declare their length.
        maxBodySize: MAX_BODY_BYTES,
        createContext,
        responseMeta: ({ errors }) => ({ headers: responseHeaders(errors) }),
        onError: ({ error, path: procedure }) => logProcedureError(requestId, error, procedure),
      });
      return;
    }

    sendError(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && /^[\w.-]{1,64}$/.test(incomingId) ? incomingId : randomUUID();
    res.setHeader('x-request-id', requestId);
    inFlight += 1;
    res.on('close', () => {
      inFlight -= 1;
      // Only the path: query strings can carry tokens (tRPC GET input, verification links).
      const path = (req.url ?? '/').split('?')[0];
      logger.info(
        { requestId, method: req.method, path, status: res.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
        'request',
      );
      if (inFlight === 0) idle?.();
    });
    handle(req, res, requestId).catch((error: unknown) => {
      logger.error({ requestId, err: error }, 'request failed');
      sendError(res, 500, { error: 'Internal server error' });
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  return {
    server,
    inFlight: () => inFlight,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve({ port: typeof address === 'object' && address ? address.port : port });
        });
      });
    },
    async close(timeoutMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained =
        inFlight === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              idle = resolve;
            });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      // Whatever is still open now is idle keep-alive or past the deadline.
      server.closeAllConnections();
      await closed;
    },
  };
}
