import type { IncomingMessage } from 'node:http';
import type { Services } from '../app.js';
import type { Config } from '../config.js';

/** What every request of a process shares: the settings and the services, built once in app.ts. */
export interface Runtime {
  config: Readonly<Config>;
  services: Services;
}

/** What one request brings. */
export interface RequestInfo {
  authorization: string | undefined;
  ip: string | undefined;
  userAgent: string | undefined;
}

/**
 * A procedure's context, what `createCaller` receives: the services and what the request brings,
 * nothing else. tRPC copies
 * the context into a new object at every middleware, so every key here costs on every call.
 */
export interface Context {
  services: Services;
  request: RequestInfo;
}

/**
 * The client's address: the socket's, unless the operator says a proxy stands in front
 * (TRUST_PROXY), in which case the address that proxy appended (the last one) is taken; earlier
 * entries come from the client and could be anything.
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const list = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const last = list.at(-1);
    if (last) return last;
  }
  return req.socket.remoteAddress;
}

export function requestInfo(req: IncomingMessage, trustProxy: boolean): RequestInfo {
  return {
    authorization: req.headers.authorization,
    ip: clientAddress(req, trustProxy),
    userAgent: req.headers['user-agent'],
  };
}
