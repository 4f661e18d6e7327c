import type { IncomingMessage } from 'node:http';
import type { Services } from '../app.js';
import type { Config } from '../config.js';
import { createAddressResolver, type TrustProxy } from '../lib/client-address.js';

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
  /** The request's id (x-request-id, or one made for it), recorded with its security events. */
  requestId?: string | undefined;
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

let resolver: { trust: TrustProxy; resolve: ReturnType<typeof createAddressResolver> } | undefined;

/**
 * The client's address: the socket's, unless the operator says proxies stand in front
 * (TRUST_PROXY, Express's `trust proxy` semantics; lib/client-address.ts). Undefined when it
 * cannot be known (a connection already reset): throttles then count it under a shared key.
 */
export function clientAddress(req: IncomingMessage, trustProxy: TrustProxy): string | undefined {
  // One resolver per setting: the configuration is made once per process.
  if (resolver?.trust !== trustProxy) resolver = { trust: trustProxy, resolve: createAddressResolver(trustProxy) };
  return resolver.resolve(req.socket.remoteAddress, req.headers['x-forwarded-for']);
}

export function requestInfo(req: IncomingMessage, trustProxy: TrustProxy, requestId: string): RequestInfo {
  return {
    authorization: req.headers.authorization,
    ip: clientAddress(req, trustProxy),
    userAgent: req.headers['user-agent'],
    requestId,
  };
}
