/**
 * tRPC's HTTP wire format for queries and mutations, batched or not, without the standard
 * adapter's per-request Fetch `Request`, `Headers` and `AbortController` (measured: most of its
 * ~270 us a request). Routing, input parsing, middlewares, error shapes (the router's own
 * errorFormatter through `getErrorShape`), status codes (`getHTTPStatusCode`, 207 for mixed
 * batches) and the transformer are tRPC's own functions. Anything else (subscriptions, streaming
 * `trpc-accept`, form data, other content types) is declined and left to the standard adapter.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyRouter, TRPCError } from '@trpc/server';
import {
  callProcedure,
  getErrorShape,
  getHTTPStatusCode,
  getProcedureAtPath,
  getTRPCErrorFromUnknown,
  TRPCError as TRPCErrorClass,
  type TRPCResponse,
  transformTRPCResponse,
} from '@trpc/server/unstable-core-do-not-import';

export interface FastTrpcOptions<TContext> {
  router: AnyRouter;
  createContext: () => TContext;
  maxBodyBytes: number;
  onError: (opts: { error: TRPCError; path: string | undefined }) => void;
  /** Extra response headers, given the errors of the call (e.g. Retry-After). */
  headersFor: (errors: TRPCError[]) => Record<string, string>;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Handles the request and returns true, or returns false (having read nothing) to decline it. */
export async function handleTrpcFast<TContext>(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  url: URL,
  options: FastTrpcOptions<TContext>,
): Promise<boolean> {
  const method = req.method;
  if (method !== 'GET' && method !== 'POST') return false;
  if (req.headers['trpc-accept'] !== undefined || req.headers.upgrade !== undefined) return false;
  const contentType = req.headers['content-type'];
  if (method === 'POST' && contentType !== undefined && !/^application\/json\b/i.test(contentType)) return false;

  const { router } = options;
  const config = router._def._config;
  const type = method === 'GET' ? 'query' : 'mutation';
  const isBatch = url.searchParams.get('batch') === '1';
  const paths = isBatch ? decodeURIComponent(path).split(',') : [decodeURIComponent(path)];
  const errors: TRPCError[] = [];
  let ctx: TContext | undefined;

  const failure = (error: TRPCError, at: string | undefined, input: unknown): TRPCResponse => {
    errors.push(error);
    options.onError({ error, path: at });
    return { error: getErrorShape({ config, error, type, path: at, input, ctx }) };
  };

  // Read now (the size limit applies at once), parse only when a procedure asks for its input,
  // as tRPC does: a procedure without input ignores whatever came with it.
  let text: string | null;
  try {
    text = method === 'GET' ? url.searchParams.get('input') : await readBody(req, options.maxBodyBytes);
  } catch (cause) {
    if (!(cause instanceof BodyTooLarge)) throw cause;
    const error = new TRPCErrorClass({ code: 'PAYLOAD_TOO_LARGE' });
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
          error: new TRPCErrorClass({ code: 'BAD_REQUEST', message: cause instanceof Error ? cause.message : 'Invalid JSON', cause }),
        };
      }
    }
    if (!parsed.ok) throw parsed.error;
    return parsed.value;
  };

  ctx = options.createContext();
  const responses = await Promise.all(
    paths.map(async (at, index): Promise<TRPCResponse> => {
      const rawInput = (): unknown => {
        const all = rawInputs();
        return isBatch ? (all as Record<string, unknown> | undefined)?.[index] : all;
      };
      try {
        const procedure = await getProcedureAtPath(router, at);
        if (!procedure) throw new TRPCErrorClass({ code: 'NOT_FOUND', message: `No procedure found on path "${at}"` });
        if (procedure._def.type !== type) {
          throw new TRPCErrorClass({
            code: 'METHOD_NOT_SUPPORTED',
            message: `Unsupported ${method}-request to ${procedure._def.type} procedure at path "${at}"`,
          });
        }
        const data: unknown = await callProcedure({
          router,
          path: at,
          getRawInput: async () => {
            const raw = rawInput();
            return raw === undefined ? undefined : config.transformer.input.deserialize(raw);
          },
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

function send<TContext>(
  res: ServerResponse,
  isBatch: boolean,
  responses: TRPCResponse[],
  config: AnyRouter['_def']['_config'],
  errors: TRPCError[],
  options: FastTrpcOptions<TContext>,
): void {
  const status = getHTTPStatusCode(isBatch ? responses : (responses[0] as TRPCResponse), errors);
  const body = JSON.stringify(transformTRPCResponse(config, isBatch ? responses : (responses[0] as TRPCResponse)));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...options.headersFor(errors),
  });
  res.end(body);
}
