/**
 * tRPC's HTTP wire format for a listed set of hot procedures, without the standard adapter's
 * per-request Fetch `Request`, `Headers` and `AbortController`: 2.02 x the req/s of
 * `nodeHTTPRequestHandler` on user.me (apps/bench/RESULTS.md, 2026-12-01).
 *
 * Fenced: only public tRPC imports; the router's own config (errorFormatter, transformer,
 * pathSeparator) through `_def._config`, the one internal it reads, which is why tRPC is pinned
 * exactly in the catalog; batching as the adapter's `allowBatching` and `maxBatchSize` say. A
 * request it is not sure to answer exactly as the adapter would (a path not listed or of the
 * other type, a batch the options refuse, subscriptions, streaming, other content types) is
 * declined before anything is read, and the adapter answers it. test/trpc-adapter.test.ts runs
 * every procedure through both and compares status, body and every header.
 *
 * A listed procedure made by `directMutation` (trpc/init.ts: auth.refresh) is run through its
 * direct call, without tRPC's middleware chain, once its input passes; 1.06 x the refresh rate
 * (RESULTS.md, 2026-12-03, fourth session).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AnyRouter,
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  TRPCError,
  transformTRPCResponse,
} from '@trpc/server';
import { getHTTPStatusCode } from '@trpc/server/http';
import type { DirectCall } from '../trpc/init.js';
import { BodyError, readBody } from './respond.js';

/** The procedures the lean handler answers, by path, with their type. */
export type FastProcedures = Readonly<Record<string, 'query' | 'mutation'>>;

export interface FastTrpcOptions<TContext> {
  router: AnyRouter;
  procedures: FastProcedures;
  /** As the adapter's options of the same names. */
  allowBatching: boolean;
  maxBatchSize: number | undefined;
  createContext: () => TContext;
  /**
   * A listed procedure's direct call (trpc/init.ts `directMutation`), run in place of tRPC's
   * middleware chain when its input passes; undefined for the others.
   */
  directCall?: (path: string) => DirectCall<TContext> | undefined;
  maxBodyBytes: number;
  onError: (opts: { error: TRPCError; path: string | undefined }) => void;
  /** Extra response headers, given the errors of the call, as the adapter's `responseMeta` gives them (arrays are appended). */
  headersFor: (errors: TRPCError[]) => Record<string, string | string[]>;
}

type Responses = Parameters<typeof getHTTPStatusCode>[0];
type TRPCResponse = Extract<Responses, readonly unknown[]>[number];

/** The procedure paths of a URL path, or undefined when the request is not for this handler. */
function procedurePaths<TContext>(urlPath: string, type: 'query' | 'mutation', isBatch: boolean, options: FastTrpcOptions<TContext>) {
  if (isBatch && !options.allowBatching) return undefined;
  const separator = options.router._def._config.pathSeparator;
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const paths = (isBatch ? decoded.split(',') : [decoded]).map((p) => (separator === '.' ? p : p.split(separator).join('.')));
  if (isBatch && options.maxBatchSize !== undefined && paths.length > options.maxBatchSize) return undefined;
  return paths.every((p) => Object.hasOwn(options.procedures, p) && options.procedures[p] === type) ? paths : undefined;
}

/** Handles the request and returns true, or returns false (having read nothing) to decline it. */
export async function handleTrpcFast<TContext>(
  req: IncomingMessage,
  res: ServerResponse,
  urlPath: string,
  url: URL,
  options: FastTrpcOptions<TContext>,
): Promise<boolean> {
  const method = req.method;
  if (method !== 'GET' && method !== 'POST') return false;
  if (req.headers['trpc-accept'] !== undefined || req.headers.upgrade !== undefined) return false;
  const contentType = req.headers['content-type'];
  if (method === 'POST' && !/^application\/json\b/i.test(contentType ?? '')) return false;
  const type = method === 'GET' ? 'query' : 'mutation';
  const isBatch = url.searchParams.get('batch') === '1';
  const paths = procedurePaths(urlPath, type, isBatch, options);
  if (!paths) return false;

  const { router } = options;
  const config = router._def._config;
  const errors: TRPCError[] = [];
  let ctx: TContext | undefined;

  const failure = (error: TRPCError, at: string | undefined, input: unknown): TRPCResponse => {
    errors.push(error);
    options.onError({ error, path: at });
    return { error: getTRPCErrorShape({ config, error, type, path: at, input, ctx }) };
  };

  // Read now (the size limit applies at once), parse only when a procedure asks for its input,
  // as tRPC does: a procedure without input ignores whatever came with it.
  let text: string | null;
  try {
    text = method === 'GET' ? url.searchParams.get('input') : (await readBody(req, options.maxBodyBytes)).toString('utf8');
  } catch (cause) {
    if (!(cause instanceof BodyError)) throw cause;
    const error = new TRPCError({ code: 'PAYLOAD_TOO_LARGE' });
    send(
      res,
      isBatch,
      paths.map((at) => failure(error, at, undefined)),
      config,
      errors,
      options,
    );
    return true;
  }
  let parsed: { ok: true; value: unknown } | { ok: false; error: TRPCError } | undefined;
  const rawInputs = (): unknown => {
    if (!parsed) {
      try {
        parsed = { ok: true, value: text === null || text === '' ? undefined : JSON.parse(text) };
      } catch (cause) {
        parsed = {
          ok: false,
          error: new TRPCError({ code: 'BAD_REQUEST', message: cause instanceof Error ? cause.message : 'Invalid JSON', cause }),
        };
      }
    }
    if (!parsed.ok) throw parsed.error;
    return parsed.value;
  };

  const context = options.createContext();
  ctx = context;
  const responses = await Promise.all(
    paths.map(async (at, index): Promise<TRPCResponse> => {
      const rawInput = (): unknown => {
        const all = rawInputs();
        return isBatch ? (all as Record<string, unknown> | undefined)?.[index] : all;
      };
      const getRawInput = async () => {
        const raw = rawInput();
        if (raw === undefined) return undefined;
        try {
          return config.transformer.input.deserialize(raw);
        } catch (cause) {
          // As the adapter's input reader: what does not deserialise is the request's fault.
          if (cause instanceof TRPCError) throw cause;
          throw new TRPCError({ code: 'BAD_REQUEST', message: cause instanceof Error ? cause.message : 'Invalid input', cause });
        }
      };
      try {
        const direct = options.directCall?.(at);
        if (direct) {
          // What tRPC's chain would do first: read the input (its errors are answered alike, below).
          const input = direct.parse(await getRawInput());
          if (input) return { result: { data: await direct.run(context, input.value) } };
          // An input that does not pass: tRPC's own call gives it tRPC's own error.
        }
        const data: unknown = await callTRPCProcedure({
          router,
          path: at,
          getRawInput,
          ctx,
          type,
          signal: undefined,
          batchIndex: index,
        });
        return { result: { data } };
      } catch (cause) {
        let input: unknown;
        try {
          input = rawInput();
        } catch {
          input = undefined;
        }
        return failure(getTRPCErrorFromUnknown(cause), at, input);
      }
    }),
  );
  send(res, isBatch, responses, config, errors, options);
  return true;
}

/**
 * Answers one error for the whole request, in the shape and with the headers tRPC's adapter gives
 * an error it finds before any call runs (a single error, not one per call).
 */
export function sendTrpcRequestError(
  res: ServerResponse,
  router: AnyRouter,
  error: TRPCError,
  type: 'query' | 'mutation',
  headersFor: FastTrpcOptions<unknown>['headersFor'],
): void {
  const config = router._def._config;
  const response: TRPCResponse = { error: getTRPCErrorShape({ config, error, type, path: undefined, input: undefined, ctx: undefined }) };
  send(res, false, [response], config, [error], { headersFor });
}

function send<TContext>(
  res: ServerResponse,
  isBatch: boolean,
  responses: TRPCResponse[],
  config: AnyRouter['_def']['_config'],
  errors: TRPCError[],
  options: Pick<FastTrpcOptions<TContext>, 'headersFor'>,
): void {
  const status = getHTTPStatusCode(isBatch ? responses : (responses[0] as TRPCResponse), errors);
  const body = JSON.stringify(transformTRPCResponse(config, isBatch ? responses : (responses[0] as TRPCResponse)));
  // As the adapter answers: its Vary first (responseMeta's values are appended to it). Framed
  // with Content-Length where the adapter streams chunks: the body is whole here, and one write
  // instead of the chunked framing's several made refresh about a quarter faster (RESULTS.md).
  const { vary = [], ...extra } = options.headersFor(errors);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    vary: ['trpc-accept', 'accept', ...[vary].flat()].join(', '),
    ...extra,
  });
  res.end(body);
}
