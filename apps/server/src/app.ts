import type { Config } from './config.js';
import { createDatabase, type DatabaseHandle, migrateToLatest } from './db/database.js';
import { type Clock, systemClock } from './lib/clock.js';
import { createLogger, type Logger } from './lib/logger.js';
import type { PasswordHasher } from './lib/password.js';
import { createDeps, createServices } from './services.js';
import type { InnerContext } from './trpc/context.js';

export interface App {
  config: Readonly<Config>;
  database: DatabaseHandle;
  inner: InnerContext;
  logger: Logger;
  close(): Promise<void>;
}

export interface AppOverrides {
  clock?: Clock;
  logger?: Logger;
  hasher?: PasswordHasher;
  /** An already migrated database (tests share one per file); the app then does not close it. */
  database?: DatabaseHandle;
}

/** Composes the application: database (migrated), side effects, services. No HTTP. */
export async function createApp(config: Readonly<Config>, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const ownsDatabase = overrides.database === undefined;
  const database = overrides.database ?? (await createDatabase(config.database));
  try {
    if (ownsDatabase) await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const deps = createDeps({ config, db: database.db, clock: overrides.clock ?? systemClock, logger, hasher: overrides.hasher });
  const inner: InnerContext = { ...deps, services: createServices(deps) };
  return {
    config,
    database,
    inner,
    logger,
    async close() {
      if (ownsDatabase) await database.close();
    },
  };
}
