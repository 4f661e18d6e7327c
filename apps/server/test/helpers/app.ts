import { Writable } from 'node:stream';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { App } from '../../src/app.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { ShiftedClock } from '../../src/lib/clock.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import type { AppRouter } from '../../src/router.js';
import { type Caller, createTestKit, TEST_JWT_SECRET, type TestClock, type TestKit, testConfig } from '../../src/testing.js';
import type { RequestInfo } from '../../src/trpc/context.js';

export const TEST_SECRET = TEST_JWT_SECRET;
export { testConfig };

export interface TestAppOptions {
  env?: Record<string, string>;
  logger?: Logger;
  /** `manual` (default) stands still at 2026-01-01 until advanced; `shifted` follows real time plus what was advanced. */
  clock?: 'manual' | 'shifted';
  /** Which tRPC HTTP handler the served app uses (default: the server's default, `fast`). */
  trpcAdapter?: 'fast' | 'standard';
  /** tRPC's batching options for both handlers (default: the server's). */
  trpcBatching?: { allowBatching?: boolean; maxBatchSize?: number };
}

export interface TestApp extends App {
  clock: TestClock;
  mails: TestKit['mails'];
  /** A caller as from a client at `ip` with the given access token. */
  caller(request?: Partial<RequestInfo> & { accessToken?: string }): Caller;
}

/** The real application on a shared, already migrated test database: the test kit, on the suite's database. */
export async function testApp(database: DatabaseHandle, options: TestAppOptions = {}): Promise<TestApp> {
  const kit = await createTestKit({
    database,
    ...(options.env && { env: options.env }),
    ...(options.logger && { logger: options.logger }),
    ...(options.clock === 'shifted' && { clock: new ShiftedClock() }),
  });
  return { ...kit.app, clock: kit.clock, mails: kit.mails, caller: (request = {}) => kit.callerFor(request), close: () => kit.close() };
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
  const http = createHttpServer({
    runtime: app,
    database: app.database,
    logger: app.logger,
    ...(options.trpcAdapter && { trpcAdapter: options.trpcAdapter }),
    ...(options.trpcBatching && { trpcBatching: options.trpcBatching }),
  });
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
