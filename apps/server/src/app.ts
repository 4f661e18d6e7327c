import { join } from 'node:path';
import type { Config } from './config.js';
import { createDatabase, type DatabaseHandle, migrateToLatest } from './db/database.js';
import { createRevocations } from './db/revocations.js';
import { type Clock, systemClock } from './lib/clock.js';
import { createLogger, type Logger } from './lib/logger.js';
import { createFileTransport, createSmtpTransport, type MailTransport } from './lib/mailer.js';
import type { PasswordHasher } from './lib/password.js';
import { createMailWorker } from './modules/mail/mail.worker.js';
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
  /** The PostgreSQL URL other instances share, for revocation notices (defaults to DATABASE_URL). */
  postgresUrl?: string;
  /** Run this process's mail worker (the server does; tests usually read the outbox instead). */
  deliverMail?: boolean;
  /** Where the worker sends mail (default: SMTP_URL, or .eml files in DATA_DIR/mail). */
  transport?: MailTransport;
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
  const clock = overrides.clock ?? systemClock;
  const revocations = createRevocations({
    db: database.db,
    clock,
    logger,
    // An access token can be presented until its expiry, give or take the verifier's clock tolerance.
    retainSeconds: config.accessTokenTtlSeconds + 60,
    postgresUrl: overrides.postgresUrl ?? (config.database.kind === 'postgres' ? config.database.url : undefined),
  });
  await revocations.ready();
  const worker = overrides.deliverMail
    ? createMailWorker({
        db: database.db,
        clock,
        logger,
        transport:
          overrides.transport ??
          (config.smtpUrl
            ? createSmtpTransport(config.smtpUrl, config.mailFrom)
            : createFileTransport(join(config.dataDir, 'mail'), config.mailFrom, logger)),
      })
    : undefined;
  worker?.start();
  const deps = createDeps({
    config,
    db: database.db,
    relaxedDb: database.relaxed,
    clock,
    logger,
    hasher: overrides.hasher,
    revocations,
    mailQueued: () => worker?.nudge(),
  });
  const inner: InnerContext = { ...deps, services: createServices(deps) };
  return {
    config,
    database,
    inner,
    logger,
    async close() {
      await worker?.stop();
      await deps.limiter.flushBuffered();
      await revocations.close();
      if (ownsDatabase) await database.close();
    },
  };
}
