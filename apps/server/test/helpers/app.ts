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
import { type ServedApp, servedApp } from '../../src/testing.js';
import { migratedTestDatabase } from './database.js';

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
