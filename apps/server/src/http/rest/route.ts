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

export interface RouteSpec<In extends z.ZodType, Out extends z.ZodType, Auth extends boolean> {
  method: HttpMethod;
  /** A parameter is a whole segment in braces, `{factor_id}`, read with `input.from: 'path'`. */
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
  success: { status: 200 | 201; description: string; name: string; schema: Out };
  errors?: readonly DocumentedStatus[];
  /** appCodes that mean something else on this route than their kind says. */
  statusOverrides?: Readonly<Record<string, number>>;
  handle(call: { input: z.output<In>; ctx: Context; signedIn: Auth extends true ? SignedIn : undefined }): Promise<z.input<Out>>;
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
  success: { status: number; description: string; name: string; schema: z.ZodType };
  errors: readonly number[];
  /** Authenticates, validates, runs the handler; throws `RestError` for every answer but success. */
  run(call: { raw: unknown; ctx: Context }): Promise<{ status: number; body: unknown }>;
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

export function defineRoute<In extends z.ZodType = z.ZodUndefined, Out extends z.ZodType = z.ZodType, Auth extends boolean = boolean>(
  spec: RouteSpec<In, Out, Auth>,
): RestRoute {
  // A path with parameters reads them, and only them, as its input: the document then lists each.
  const parameters = pathParameters(spec.path);
  const readsPath = spec.input?.from === 'path';
  const shape = spec.input?.schema instanceof z.ZodObject ? Object.keys(spec.input.schema.shape).sort() : undefined;
  if (parameters.length > 0 || readsPath) {
    if (!readsPath || shape === undefined || shape.join() !== [...parameters].sort().join()) {
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
    success: spec.success,
    errors: spec.errors ?? [],
    async run({ raw, ctx }) {
      try {
        // Who is asking comes before what they ask: an anonymous caller learns nothing about the rules.
        const signedIn = spec.auth ? await signIn(ctx) : undefined;
        if (spec.admin && signedIn) await ctx.services.admin.requireAdmin(signedIn.auth);
        let input: unknown;
        if (spec.input) {
          const prepared = spec.input.prepare ? spec.input.prepare(raw) : raw;
          const parsed = await spec.input.schema.safeParseAsync(prepared, { error: restIssueMessage });
          if (!parsed.success) throw fromZodError(parsed.error);
          input = parsed.data;
        }
        // The casts undo the erasure above: `input` was produced by spec.input.schema (or is undefined
        // when the route reads nothing), and `signedIn` is present exactly when spec.auth is true.
        const result = await spec.handle({
          input: input as z.output<In>,
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
