import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import type { z } from 'zod';
import { type AppCode, AppError, type FieldErrors, unstorableTextError } from '../lib/errors.js';
import { fieldErrorsFromIssues, type SchemaIssue } from '../lib/field-errors.js';
import * as wire from '../lib/wire-json.js';
import type { Context } from './context.js';

/** Per-field messages from a zod (or any Standard Schema) failure; an issue about the whole input is under `input`. */
function fieldErrors(cause: unknown): FieldErrors | undefined {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause) || !Array.isArray(cause.issues)) return undefined;
  return fieldErrorsFromIssues(cause.issues as SchemaIssue[], 'input');
}

const t = initTRPC.context<Context>().create({
  // superjson both ways (lib/wire-json.ts): inputs with their meta bounded first, answers with a
  // shortcut for plain objects that gives superjson's very output.
  transformer: {
    input: { serialize: (value) => superjson.serialize(value), deserialize: wire.deserializeInput },
    output: { serialize: wire.serialize, deserialize: (value) => superjson.deserialize(value) },
  },
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

/** The domain error a failure is, if any: an AppError, or text the database cannot store (a 400). */
function domainErrorOf(cause: unknown): AppError | undefined {
  return cause instanceof AppError ? cause : unstorableTextError(cause);
}

/** A domain error as the TRPCError whose code (and so HTTP status) the catalogue gives it. */
function trpcErrorOf(cause: AppError): TRPCError {
  return new TRPCError({ code: cause.kind, message: cause.message, cause });
}

/** Domain errors become TRPCErrors here (and in `directMutation`'s call, alike), so their tRPC code and HTTP status follow the catalogue. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const domain = domainErrorOf(result.error.cause);
    if (domain) throw trpcErrorOf(domain);
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

/**
 * What the lean handler (http/trpc-fast.ts) may run in place of a procedure's middleware chain:
 * the procedure's input schema and its resolver, with domain errors converted as `domainErrors`
 * converts them. Nothing else: only procedures made by `directMutation` have one, and their chain
 * is exactly `domainErrors`, the input parser and the resolver.
 */
export interface DirectCall<TContext = Context> {
  /** The input as the procedure's parser gives it, or undefined when it does not pass (tRPC's own call then answers it). */
  parse(raw: unknown): { value: unknown } | undefined;
  run(ctx: TContext, input: unknown): Promise<unknown>;
}

const directCalls = new WeakMap<object, DirectCall>();

/** The direct call of a procedure made by `directMutation`, or undefined. */
export function directCallOf(procedure: object): DirectCall | undefined {
  return directCalls.get(procedure);
}

/**
 * A public mutation the lean handler can call without tRPC's middleware machinery, which copies
 * the call's options into a new object at every step (about a twentieth of a refresh's time on
 * the event loop, apps/bench/RESULTS.md). For the hottest public procedures only (auth.refresh):
 * tRPC still answers it everywhere else (the standard adapter, `createCaller`), and
 * test/trpc-adapter.test.ts checks that both answer alike.
 */
export function directMutation<TSchema extends z.ZodType, TOutput>(
  schema: TSchema,
  resolve: (ctx: Context, input: z.output<TSchema>) => Promise<TOutput>,
) {
  const procedure = publicProcedure.input(schema).mutation(({ ctx, input }) => resolve(ctx, input as z.output<TSchema>));
  directCalls.set(procedure, {
    parse(raw) {
      try {
        const parsed = schema.safeParse(raw);
        return parsed.success ? { value: parsed.data } : undefined;
      } catch {
        // An asynchronous refinement: tRPC's parser handles it.
        return undefined;
      }
    },
    async run(ctx, input) {
      try {
        return await resolve(ctx, input as z.output<TSchema>);
      } catch (cause) {
        const domain = domainErrorOf(cause);
        throw domain ? trpcErrorOf(domain) : cause;
      }
    },
  });
  return procedure;
}
