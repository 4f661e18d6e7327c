/**
 * A tRPC middleware for any `initTRPC` instance: `t.procedure.use(verifiedMiddleware(verifier))`.
 * A separate entry point (`@latchkey/verify/trpc`) so that services without tRPC need not install it.
 */
import { experimental_standaloneMiddleware, TRPCError } from '@trpc/server';
import { VerifyError } from './errors.js';
import type { Verifier } from './verifier.js';

export interface VerifiedContext {
  auth: { userId: string; sessionId: string };
}

export interface VerifiedMiddlewareOptions<TContext extends object> {
  /**
   * Where the `Authorization` header is in your context. By default `ctx.authorization` (a string),
   * or the headers of `ctx.req` (a Node request, as the standalone and Express adapters give, or a
   * fetch `Request`), or `ctx.headers`.
   */
  authorization?: (ctx: TContext) => string | null | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function headerOf(headers: unknown): string | undefined {
  if (!isRecord(headers)) return undefined;
  if (typeof headers.get === 'function') {
    const value: unknown = headers.get('authorization');
    return typeof value === 'string' ? value : undefined;
  }
  return typeof headers.authorization === 'string' ? headers.authorization : undefined;
}

/** The default lookup: the usual places a tRPC context keeps the request. */
export function authorizationFromContext(ctx: object): string | undefined {
  if (!isRecord(ctx)) return undefined;
  if (typeof ctx.authorization === 'string') return ctx.authorization;
  if (isRecord(ctx.req)) return headerOf(ctx.req.headers);
  return headerOf(ctx.headers);
}

/**
 * Puts `{ userId, sessionId }` on `ctx.auth`, or throws `TRPCError` UNAUTHORIZED whose `cause` is the
 * `VerifyError` (its `code` says why: map it into your error formatter for clients to branch on).
 */
export function verifiedMiddleware<TContext extends object = object>(
  verifier: Verifier,
  options: VerifiedMiddlewareOptions<TContext> = {},
) {
  const read = options.authorization ?? authorizationFromContext;
  return experimental_standaloneMiddleware<{ ctx: TContext }>().create(async ({ ctx, next }) => {
    let auth: VerifiedContext['auth'];
    try {
      // tRPC types this `Simplify<Overwrite<TContext, object>>`: the same object at run time, a mapped
      // type (index signatures dropped) that TypeScript cannot relate to a type parameter.
      const claims = await verifier.verify(read(ctx as unknown as TContext));
      auth = { userId: claims.userId, sessionId: claims.sessionId };
    } catch (error) {
      if (error instanceof VerifyError) throw new TRPCError({ code: 'UNAUTHORIZED', message: error.message, cause: error });
      // The revocation check could not be made: fail closed, as a server error rather than a wrong 401.
      throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'The access token cannot be checked right now', cause: error });
    }
    return next({ ctx: { auth } });
  });
}
