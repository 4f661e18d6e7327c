import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { type AppCode, AppError, type FieldErrors } from '../lib/errors.js';
import { fieldErrorsFromIssues, type SchemaIssue } from '../lib/field-errors.js';
import type { Context } from './context.js';

/** Per-field messages from a zod (or any Standard Schema) failure; an issue about the whole input is under `input`. */
function fieldErrors(cause: unknown): FieldErrors | undefined {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause) || !Array.isArray(cause.issues)) return undefined;
  return fieldErrorsFromIssues(cause.issues as SchemaIssue[], 'input');
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // Never a stack trace in a response, in any environment.
  isDev: false,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    let appCode: AppCode | undefined;
    let fields: FieldErrors | undefined;
    let retryAfter: number | undefined;
    if (cause instanceof AppError) {
      appCode = cause.appCode;
      fields = cause.fields;
      retryAfter = cause.retryAfterSeconds;
    } else if (error.code === 'BAD_REQUEST') {
      fields = fieldErrors(cause);
      if (fields) appCode = 'VALIDATION_FAILED';
    }
    const internal = error.code === 'INTERNAL_SERVER_ERROR';
    return {
      code: shape.code,
      message: internal
        ? 'Internal server error'
        : fields && appCode === 'VALIDATION_FAILED' && !(cause instanceof AppError)
          ? 'Invalid input'
          : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        ...(appCode && { appCode }),
        ...(fields && { fields }),
        ...(retryAfter !== undefined && { retryAfter }),
      },
    };
  },
});

/** Domain errors become TRPCErrors here, and only here, so their tRPC code and HTTP status follow the catalogue. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof AppError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: cause.kind, message: cause.message, cause });
  }
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(domainErrors);
/** Signed in: a valid access token whose session exists, is the subject's and is live. */
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const auth = await ctx.services.sessions.authenticate(ctx.request.authorization);
  return next({ ctx: { auth } });
});
/**
 * Signed in as an admin. Checked before the input is read: a non-admin learns nothing about the
 * procedure's rules or its target (FORBIDDEN / ADMIN_ONLY for any input).
 */
export const adminProcedure = authedProcedure.use(async ({ ctx, next }) => {
  await ctx.services.admin.requireAdmin(ctx.auth);
  return next();
});
/**
 * Like authedProcedure, for a procedure whose own query joins on the session and refuses with
 * SESSION_REVOKED when it finds nothing (user.me): the check costs no extra round trip.
 */
export const sessionJoinedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const auth = await ctx.services.sessions.authenticate(ctx.request.authorization, 'caller');
  return next({ ctx: { auth } });
});
