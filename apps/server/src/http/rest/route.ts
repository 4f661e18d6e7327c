/**
 * One REST route: its method and path, what it reads and returns (zod schemas that also make the
 * OpenAPI document), and a handler that calls the same services as the tRPC procedures. A route
 * table of these is the whole REST API; the dispatcher and the document are derived from it.
 */
import { bearerToken } from '@latchkey/protocol';
import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import type { Authenticated } from '../../modules/session/session.service.js';
import type { Context } from '../../trpc/context.js';
import { fromZodError, restIssueMessage, toRestError } from './errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Statuses a route documents besides its success; those of the transport (400, 413, 415 and 422 for a body, 401 for `auth`) are added for it. */
export type DocumentedStatus = 401 | 403 | 404 | 409 | 410 | 422 | 429;

export interface SignedIn {
  auth: Authenticated;
  /** The access token presented, which RealWorld clients expect back as `user.token`. */
  accessToken: string;
}

export interface RouteInput<S extends z.ZodType> {
  /**
   * A JSON body, the query string, or the parameters of the path (`/api/user/mfa/factors/{factor_id}`):
   * each parameter of the last two a string.
   */
  from: 'body' | 'query' | 'path';
  /** The schema's name in the OpenAPI document. */
  name: string;
  schema: S;
  /** Adjusts the raw input before validation (a leniency the schema cannot express). */
  prepare?: (raw: unknown) => unknown;
}

/** The parameters of a path that is also sent a body (`PATCH /api/user/passkeys/{passkey_id}`): an object of exactly them. */
export interface RouteParams<P extends z.ZodType> {
  /** The schema's name (for messages; the document lists each parameter on its own). */
  name: string;
  schema: P;
}

export interface RouteSpec<In extends z.ZodType, Out extends z.ZodType, Auth extends boolean, Params extends z.ZodType = z.ZodUndefined> {
  method: HttpMethod;
  /** A parameter is a whole segment in braces, `{factor_id}`, read with `input.from: 'path'` (or, beside a body, as `params`). */
  path: `/api/${string}`;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Whether an access token is required (`Authorization: Bearer <jwt>` or `Token <jwt>`). */
  auth: Auth;
  /** Role admin only (with `auth`): checked before the input is read, so a refusal tells nothing about it. */
  admin?: Auth extends true ? boolean : false;
  input?: RouteInput<In>;
  /**
   * The path's parameters, for a route whose `input` is its body: both are checked, and their
   * messages answered together. A route without a body reads them as `input` (`from: 'path'`).
   */
  params?: RouteParams<Params>;
  success: { status: 200 | 201; description: string; name: string; schema: Out };
  errors?: readonly DocumentedStatus[];
  /** appCodes that mean something else on this route than their kind says. */
  statusOverrides?: Readonly<Record<string, number>>;
  handle(call: {
    input: z.output<In>;
    params: z.output<Params>;
    ctx: Context;
    signedIn: Auth extends true ? SignedIn : undefined;
  }): Promise<z.input<Out>>;
}

/** A route with its types erased, as the dispatcher and the document generator see it. */
export interface RestRoute {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description: string | undefined;
  tag: string;
  auth: boolean;
  input: RouteInput<z.ZodType> | undefined;
  /** The path's parameters beside a body (see RouteSpec.params). */
  params: RouteParams<z.ZodType> | undefined;
  success: { status: number; description: string; name: string; schema: z.ZodType };
  errors: readonly number[];
  /**
   * Authenticates, validates, runs the handler; throws `RestError` for every answer but success.
   * `raw` is what `input.from` names; `params`, the path's parameters as sent.
   */
  run(call: { raw: unknown; params?: Record<string, string>; ctx: Context }): Promise<{ status: number; body: unknown }>;
}

async function signIn(ctx: Context): Promise<SignedIn> {
  const accessToken = bearerToken(ctx.request.authorization);
  if (accessToken === undefined) throw new AppError('ACCESS_TOKEN_MISSING');
  return { auth: await ctx.services.sessions.authenticate(ctx.request.authorization), accessToken };
}

/** The names of a path's parameters: `/api/user/mfa/factors/{factor_id}` has `factor_id`. */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(/\{([^/{}]+)\}/g)].map((match) => match[1] as string);
}

/** The keys of an object schema, sorted; undefined for any other schema. */
const keysOf = (schema: z.ZodType | undefined) => (schema instanceof z.ZodObject ? Object.keys(schema.shape).sort().join() : undefined);

export function defineRoute<
  In extends z.ZodType = z.ZodUndefined,
  Out extends z.ZodType = z.ZodType,
  Auth extends boolean = boolean,
  Params extends z.ZodType = z.ZodUndefined,
>(spec: RouteSpec<In, Out, Auth, Params>): RestRoute {
  // A path with parameters reads them, and only them, as its input, or (with a body) as its
  // params: the document then lists each.
  const parameters = [...pathParameters(spec.path)].sort().join();
  const readsPath = spec.input?.from === 'path';
  if (spec.params && spec.input?.from !== 'body') {
    throw new Error(`${spec.method} ${spec.path}: params go with a body; without one, read the path as input (from: 'path')`);
  }
  if (spec.params) {
    if (keysOf(spec.params.schema) !== parameters)
      throw new Error(`${spec.method} ${spec.path}: its params must be an object of exactly its path parameters`);
  } else if (parameters !== '' || readsPath) {
    if (!readsPath || keysOf(spec.input?.schema) !== parameters) {
      throw new Error(`${spec.method} ${spec.path}: its input must be an object of exactly its path parameters (from: 'path')`);
    }
  }
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    auth: spec.auth,
    input: spec.input,
    params: spec.params,
    success: spec.success,
    errors: spec.errors ?? [],
    async run({ raw, params: rawParams = {}, ctx }) {
      try {
        // Who is asking comes before what they ask: an anonymous caller learns nothing about the rules.
        const signedIn = spec.auth ? await signIn(ctx) : undefined;
        if (spec.admin && signedIn) await ctx.services.admin.requireAdmin(signedIn.auth);
        let input: unknown;
        let params: unknown;
        // The path and the body are checked both, and what is wrong with either answered at once.
        const issues: z.core.$ZodIssue[] = [];
        if (spec.params) {
          const parsed = await spec.params.schema.safeParseAsync(rawParams, { error: restIssueMessage });
          if (parsed.success) params = parsed.data;
          else issues.push(...parsed.error.issues);
        }
        if (spec.input) {
          const prepared = spec.input.prepare ? spec.input.prepare(raw) : raw;
          const parsed = await spec.input.schema.safeParseAsync(prepared, { error: restIssueMessage });
          if (parsed.success) input = parsed.data;
          else issues.push(...parsed.error.issues);
        }
        if (issues.length > 0) throw fromZodError(new z.ZodError(issues));
        // The casts undo the erasure above: `input` and `params` were produced by their schemas (or
        // are undefined when the route reads none), and `signedIn` is present exactly when spec.auth is true.
        const result = await spec.handle({
          input: input as z.output<In>,
          params: params as z.output<Params>,
          ctx,
          signedIn: signedIn as Auth extends true ? SignedIn : undefined,
        });
        // What leaves is what the document promises: unknown keys are dropped, a mismatch is a 500.
        return { status: spec.success.status, body: spec.success.schema.parse(result) };
      } catch (error) {
        throw toRestError(error, spec.statusOverrides) ?? error;
      }
    },
  };
}
