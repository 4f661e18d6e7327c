/**
 * The HTTP edge, once for tRPC, REST and the pages: JSON request bodies read under a size limit,
 * and JSON answers (errors included).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers a failure; when the answer had already begun, all the client can still learn is a cut connection. */
export function sendError(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, body, headers);
}

/** Whether the body declares (Content-Length) more than `limit` bytes: refused before a byte is read. */
export function declaresMoreThan(req: IncomingMessage, limit: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && Number(declared) > limit;
}

export type BodyFailure =
  /** 413: declared or streamed over the limit. */
  | 'too_large'
  /** 415: the media type is not `application/json`. */
  | 'not_json'
  /** 415: the media type is not `application/x-www-form-urlencoded` (readFormBody). */
  | 'not_form'
  /** 400: the bytes do not parse as JSON. */
  | 'malformed';

/**
 * Why a body was refused. The parser's own message is never kept: it quotes the body, which may
 * hold a password.
 */
export class BodyError extends Error {
  readonly failure: BodyFailure;
  constructor(failure: BodyFailure) {
    super(`request body refused: ${failure}`);
    this.name = 'BodyError';
    this.failure = failure;
  }
}

export function isJsonMediaType(contentType: string | undefined): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

/** The raw body, or `undefined` once it exceeds `limit` (reading stops there and the rest is left unread). */
function readBytesUpTo(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => {
      stop();
      reject(new Error('the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The raw body, or BodyError `too_large` as soon as its declared or streamed size passes `limit`. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (declaresMoreThan(req, limit)) throw new BodyError('too_large');
  const bytes = await readBytesUpTo(req, limit);
  if (bytes === undefined) throw new BodyError('too_large');
  return bytes;
}

/**
 * The parsed JSON body, or a BodyError: `too_large` as soon as the declared or streamed size
 * passes `limit`, `not_json` for any media type but `application/json` (checked after the size),
 * `malformed` when it does not parse.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (declaresMoreThan(req, limit)) throw new BodyError('too_large');
  if (!isJsonMediaType(req.headers['content-type'])) throw new BodyError('not_json');
  const bytes = await readBody(req, limit);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BodyError('malformed');
  }
}

/**
 * The fields of an `application/x-www-form-urlencoded` body (an HTML form), or a BodyError:
 * `too_large` past `limit`, `not_form` for any other media type.
 */
export async function readFormBody(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  if (declaresMoreThan(req, limit)) throw new BodyError('too_large');
  const mediaType = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/x-www-form-urlencoded') throw new BodyError('not_form');
  return new URLSearchParams((await readBody(req, limit)).toString('utf8'));
}

/**
 * The request's URL. An origin-form target (`/path?query`) is read as a path, always: as a
 * relative URL, `//host/...` would name another host, and `//`, `//x:abc/` would not parse at all.
 * An absolute-form target (`http://host/path`) is read as itself. Undefined when it does not parse
 * (answered 400, never 500).
 */
export function requestUrl(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  try {
    return target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target, 'http://localhost');
  } catch {
    return undefined;
  }
}
