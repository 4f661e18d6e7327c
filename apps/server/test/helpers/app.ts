// The suite's apps come from the test kit (`@latchkey/server/testing`), the one copy the packages' tests use too.
export {
  newUser,
  type RequestLogEntry,
  type ServedApp,
  servedApp,
  TEST_JWT_SECRET as TEST_SECRET,
  type TestApp,
  type TestAppOptions,
  testApp,
  testConfig,
} from '../../src/testing.js';

import { afterAll, beforeAll } from 'vitest';
import { type ServedApp, servedApp, type TestApp, type TestAppOptions, testApp } from '../../src/testing.js';
import { migratedTestDatabase, type TestDatabase } from './database.js';
import { restClient } from './rest.js';

/**
 * Runs `start` on a migrated database of the file's own before the file's tests, and closes what
 * it started and the database after them. The result is read through `current()`, which is there
 * once the file's beforeAll ran.
 */
function perFile<T extends { app: { close(): Promise<void> } }>(start: (database: TestDatabase) => Promise<T>) {
  let started: (T & { database: TestDatabase }) | undefined;
  beforeAll(async () => {
    const database = await migratedTestDatabase();
    started = { ...(await start(database)), database };
  });
  afterAll(async () => {
    await started?.app.close();
    await started?.database.close();
  });
  return (): T & { database: TestDatabase } => {
    if (!started) throw new Error("used before the file's beforeAll ran");
    return started;
  };
}

/** What `appForFile` gives a test file: its app (no HTTP) on a database of its own. */
export interface FileApp {
  readonly app: TestApp;
  readonly database: TestDatabase;
}

/** The test app (callers, no HTTP) on a migrated database of the file's own, for the file's tests. */
export function appForFile(options: TestAppOptions = {}): FileApp {
  const current = perFile(async (database) => ({ app: await testApp(database, options) }));
  return {
    get app() {
      return current().app;
    },
    get database() {
      return current().database;
    },
  };
}

/** What `servedForFile` gives a test file: its app on a database of its own, and a REST client of it. */
export interface FileServer {
  readonly app: ServedApp;
  readonly database: TestDatabase;
  readonly call: ReturnType<typeof restClient>;
}

/**
 * The test app served on a migrated database of the file's own, started before the file's tests
 * and closed after them; `call` sends each REST request from an X-Forwarded-For of its own (so give
 * `TRUST_PROXY` in `env` when the test counts per address).
 */
export function servedForFile(options: TestAppOptions = {}): FileServer {
  const current = perFile(async (database) => {
    const app = await servedApp(database, options);
    return { app, call: restClient(app.url) };
  });
  return {
    get app() {
      return current().app;
    },
    get database() {
      return current().database;
    },
    get call() {
      return current().call;
    },
  };
}

/**
 * The same test app served twice on one migrated database, through the lean tRPC handler and
 * through tRPC's own adapter, for the file's tests (started before them, closed after them).
 */
export function servedOnBothTrpcPaths(env: Record<string, string> = {}): Record<'fast' | 'standard', ServedApp | undefined> {
  const apps: Record<'fast' | 'standard', ServedApp | undefined> = { fast: undefined, standard: undefined };
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const database = await migratedTestDatabase();
    apps.fast = await servedApp(database, { trpcAdapter: 'fast', env });
    apps.standard = await servedApp(database, { trpcAdapter: 'standard', env });
    close = async () => {
      await apps.fast?.close();
      await apps.standard?.close();
      await database.close();
    };
  });
  afterAll(async () => {
    await close?.();
  });
  return apps;
}

/** A login's answer when it must have started a session (an account without a second factor). */
export async function signedIn<T extends object>(login: Promise<T>): Promise<Exclude<T, { mfaRequired: true }>> {
  const answer = await login;
  if ('mfaRequired' in answer) throw new Error('the login asked for a second factor');
  return answer as Exclude<T, { mfaRequired: true }>;
}
