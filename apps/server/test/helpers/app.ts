import { Writable } from 'node:stream';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import { type App, createApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { ManualClock, ShiftedClock } from '../../src/lib/clock.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { type AppRouter, createCaller } from '../../src/router.js';
import type { RequestInfo } from '../../src/trpc/context.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

export function testConfig(env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_SECRET,
    BCRYPT_COST: '4',
    DATABASE_URL: 'memory://',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export interface TestClock {
  now(): Date;
  advance(seconds: number): void;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  logger?: Logger;
  /** `manual` (default) stands still at 2026-01-01 until advanced; `shifted` follows real time plus what was advanced. */
  clock?: 'manual' | 'shifted';
}

export interface TestApp extends App {
  clock: TestClock;
  /** A caller as from a client at `ip` with the given access token. */
  caller(request?: Partial<RequestInfo> & { accessToken?: string }): ReturnType<typeof createCaller>;
}

/** The real application on a shared, already migrated test database, with a clock tests move. */
export async function testApp(database: DatabaseHandle, options: TestAppOptions = {}): Promise<TestApp> {
  const clock = options.clock === 'shifted' ? new ShiftedClock() : new ManualClock(new Date('2026-01-01T00:00:00Z'));
  const app = await createApp(testConfig(options.env), { database, clock, logger: options.logger ?? createLogger('silent') });
  return {
    ...app,
    clock,
    caller({ accessToken, ...request } = {}) {
      return createCaller({
        ...app.inner,
        request: {
          authorization: accessToken ? `Bearer ${accessToken}` : undefined,
          ip: '192.0.2.1',
          userAgent: 'vitest',
          ...request,
        },
      });
    },
  };
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
}

export interface ServedApp extends TestApp {
  url: string;
  http: HttpServer;
  /** Every request the server has logged, in order (when no logger of the caller's was given). */
  requests: RequestLogEntry[];
  client(accessToken?: () => string | undefined, options?: { batch?: boolean }): TRPCClient<AppRouter>;
}

/** The test app behind the real HTTP server, on a free port of 127.0.0.1. */
export async function servedApp(database: DatabaseHandle, options: TestAppOptions = {}): Promise<ServedApp> {
  const requests: RequestLogEntry[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as Partial<RequestLogEntry> & { msg?: string };
        if (entry.msg === 'request')
          requests.push({ method: String(entry.method), path: String(entry.path), status: Number(entry.status) });
      }
      done();
    },
  });
  const app = await testApp(database, { logger: createLogger('info', sink), ...options });
  const http = createHttpServer({ inner: app.inner, database: app.database, logger: app.logger });
  const { port } = await http.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  return {
    ...app,
    url,
    http,
    requests,
    client(accessToken, { batch = true } = {}) {
      const link = (batch ? httpBatchLink : httpLink)({
        url: `${url}/trpc`,
        transformer: superjson,
        headers: () => {
          const token = accessToken?.();
          return token ? { authorization: `Bearer ${token}` } : {};
        },
      });
      return createTRPCClient<AppRouter>({ links: [link] });
    },
    async close() {
      await http.close(1_000);
      await app.close();
    },
  };
}

let counter = 0;
/** Distinct credentials for each call, so tests sharing a database never collide. */
export function newUser(prefix = 'user') {
  counter += 1;
  const id = `${prefix}${counter}${Math.random().toString(36).slice(2, 8)}`;
  return { username: id, email: `${id}@example.com`, password: `a long passphrase for ${id}` };
}
