import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { errorResponse } from '../../src/http/rest/schemas.js';

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when there is none). */
  body: unknown;
}

export interface CallOptions {
  /** Sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as is, with `contentType` if given. */
  raw?: string;
  contentType?: string;
  /** An access token, sent as `Authorization: <scheme> <token>`. */
  token?: string;
  scheme?: 'Token' | 'Bearer';
  headers?: Record<string, string>;
}

let addresses = 0;
/** A client address of its own, so that tests sharing a database (and its throttles) never share a limit by accident. */
export function freshAddress(): string {
  addresses += 1;
  return `10.${(addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}`;
}

/** A REST client for one served app: every call comes from a fresh X-Forwarded-For unless told otherwise. */
export function restClient(baseUrl: string) {
  return async function call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { 'x-forwarded-for': freshAddress(), ...options.headers };
    if (options.token !== undefined) headers.authorization = `${options.scheme ?? 'Token'} ${options.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined && { body }) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
}

/** Sends a raw POST with a body, optionally chunked (no Content-Length); tolerates the server closing early. */
export function rawPost(url: string, body: Buffer | string, options: { chunked?: boolean; contentType?: string } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const req = httpRequest(url, {
      method: 'POST',
      headers: {
        'content-type': options.contentType ?? 'application/json',
        ...(options.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': data.length }),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    // The server may answer and close before the whole body is sent.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    if (options.chunked) {
      for (let offset = 0; offset < data.length; offset += 64 * 1024) req.write(data.subarray(offset, offset + 64 * 1024));
      req.end();
    } else {
      req.end(data);
    }
  });
}

/** The RealWorld error shape, exactly (messages may be matchers), with its appCode; and as the OpenAPI document says. */
export function expectErrors(answer: Answer, status: number, errors: Record<string, unknown[]>, code?: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { errors, ...(code !== undefined && { code }) } });
  errorResponse.parse(answer.body);
}
