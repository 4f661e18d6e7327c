/**
 * The composition root: every dependency is built here, once, in layer order (lib, db, modules),
 * and each service is handed exactly what it uses. No service constructs another.
 */
import { join } from 'node:path';
import type { Config } from './config.js';
import { createDatabase, type DatabaseHandle, type Db, migrateToLatest } from './db/database.js';
import { type Clock, systemClock } from './lib/clock.js';
import { createDeviceTokenCodec, type DeviceTokenCodec } from './lib/device-token.js';
import { type AccessTokens, createAccessTokens } from './lib/jwt.js';
import { accessTokenKeys, rotatingMac } from './lib/keys.js';
import { createLogger, type Logger } from './lib/logger.js';
import { createFileTransport, createSmtpTransport, type MailTransport } from './lib/mailer.js';
import { createPasswordHasher, type PasswordHasher } from './lib/password.js';
import { createRefreshTokenCodec, type RefreshTokenCodec } from './lib/refresh-token.js';
import { createSecretBox, type SecretBox } from './lib/secret-box.js';
import { createAccountService } from './modules/account/account.service.js';
import { queueSecondFactorMail } from './modules/account/account-mail.js';
import { createSignInService } from './modules/account/sign-in.service.js';
import { createAdminService } from './modules/admin/admin.service.js';
import { createAuditService } from './modules/audit/audit.service.js';
import { countIdentities, createIdentityService } from './modules/identity/identity.service.js';
import type { ProviderClient } from './modules/identity/oidc-client.js';
import { createMailWorker } from './modules/mail/mail.worker.js';
import { createMfaService } from './modules/mfa/mfa.service.js';
import { createPasskeyService } from './modules/mfa/passkey.service.js';
import { createRevocations, probeListen, type Revocations } from './modules/session/revocations.js';
import { createSessionService } from './modules/session/session.service.js';
import { createThrottle, type Throttle } from './modules/throttle/throttle.service.js';
import { createUserService } from './modules/user/user.service.js';
import type { Runtime } from './trpc/context.js';

/** The parts the services are made of: lib pieces and the database, built before any service. */
export interface ServiceParts {
  config: Readonly<Config>;
  db: Db;
  clock: Clock;
  hasher: PasswordHasher;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokenCodec;
  deviceTokens: DeviceTokenCodec;
  /** Seals TOTP secrets and recovery keys at rest. */
  secretBox: SecretBox;
  /** Seals the nonce and PKCE verifier of external sign-in flows. */
  flowBox: SecretBox;
  /** Provider clients to use instead of openid-client's from the configuration (tests). */
  providerClients?: ReadonlyMap<string, ProviderClient> | undefined;
  throttle: Throttle;
  revocations: Revocations;
  /** Called after a transaction that queued mail committed: wakes the mail worker, if this process runs one. */
  mailQueued: () => void;
}

/** The feature services, each given only what it uses, in the order they depend on each other. */
export function createServices(parts: ServiceParts) {
  const { config, db, clock, hasher, throttle, deviceTokens, mailQueued } = parts;
  const users = createUserService({ db, clock });
  const audit = createAuditService({ db, clock });
  const sessions = createSessionService({
    db,
    clock,
    config,
    accessTokens: parts.accessTokens,
    refreshTokens: parts.refreshTokens,
    revocations: parts.revocations,
    throttle,
    audit,
  });
  const mfa = createMfaService({
    db,
    clock,
    users,
    sessions,
    throttle,
    audit,
    secretBox: parts.secretBox,
    notify: queueSecondFactorMail,
    mailQueued,
  });
  const passkeys = createPasskeyService({
    db,
    clock,
    config,
    users,
    sessions,
    throttle,
    audit,
    mfa,
    notify: queueSecondFactorMail,
    mailQueued,
    // An account without a password keeps a way in: a passkey, or an external identity.
    otherWaysIn: countIdentities,
  });
  const signIn = createSignInService({
    db,
    clock,
    config,
    hasher,
    throttle,
    users,
    sessions,
    audit,
    mfa,
    passkeys,
    deviceTokens,
    mailQueued,
  });
  const accounts = createAccountService({ db, clock, config, hasher, throttle, users, sessions, audit, mfa, passkeys, mailQueued });
  const admin = createAdminService({ db, clock, users, sessions, audit, mfa, mailQueued });
  const identities = createIdentityService({
    db,
    clock,
    config,
    users,
    throttle,
    audit,
    mfa,
    signIn,
    secretBox: parts.flowBox,
    ...(parts.providerClients && { clients: parts.providerClients }),
  });
  return { users, audit, sessions, mfa, passkeys, signIn, accounts, admin, identities };
}

export type Services = ReturnType<typeof createServices>;

export interface App extends Runtime {
  database: DatabaseHandle;
  logger: Logger;
  clock: Clock;
  revocations: Revocations;
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
  /** The revocation list to use instead of one following this database (tests). */
  revocations?: Revocations;
  /** External sign-in clients by provider id, instead of openid-client's from the configuration (tests). */
  providerClients?: ReadonlyMap<string, ProviderClient>;
}

/** Composes the application: database (migrated), side effects, services. No HTTP. */
export async function createApp(config: Readonly<Config>, overrides: AppOverrides = {}): Promise<App> {
  // lib: what knows no table and no feature.
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const hasher = overrides.hasher ?? createPasswordHasher(config.bcryptCost);
  // Everything is signed and MAC'd with JWT_SECRET; what JWT_SECRET_PREVIOUS made is still accepted.
  const secrets = { current: config.jwtSecret, previous: config.jwtSecretPrevious };
  const accessTokens = createAccessTokens({
    keys: accessTokenKeys(secrets, config.accessTokenAlgorithm),
    ttlSeconds: config.accessTokenTtlSeconds,
    clock,
  });
  const refreshTokens = createRefreshTokenCodec(rotatingMac(secrets, 'refresh-token'));
  const deviceTokens = createDeviceTokenCodec(rotatingMac(secrets, 'device-token'));
  const secretBox = createSecretBox(secrets, 'totp-secret');

  // db: opened and migrated.
  const ownsDatabase = overrides.database === undefined;
  const database =
    overrides.database ?? (await createDatabase(config.database, { prepareStatements: config.databaseListenUrl === undefined }));
  try {
    if (ownsDatabase) await migrateToLatest(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }

  // modules: the stateful parts first, then the services.
  const throttle = createThrottle(database.relaxed, config.rateLimitScale);
  // LISTEN on DATABASE_LISTEN_URL when given (DATABASE_URL may be a transaction pooler), else DATABASE_URL.
  const postgresUrl =
    overrides.postgresUrl ?? config.databaseListenUrl ?? (config.database.kind === 'postgres' ? config.database.url : undefined);
  if (overrides.revocations === undefined && postgresUrl !== undefined) {
    try {
      await probeListen(database.db, postgresUrl, config.databaseListenUrl ? 'DATABASE_LISTEN_URL' : 'DATABASE_URL');
    } catch (error) {
      if (ownsDatabase) await database.close();
      throw error;
    }
  }
  const revocations =
    overrides.revocations ??
    createRevocations({
      db: database.db,
      clock,
      logger,
      // An access token can be presented until its expiry, give or take the verifier's clock tolerance.
      retainSeconds: config.accessTokenTtlSeconds + 60,
      postgresUrl,
      heartbeatMs: config.revocationHeartbeatSeconds * 1000,
    });
  if (overrides.revocations === undefined) await revocations.ready();
  const worker = overrides.deliverMail
    ? createMailWorker({
        db: database.db,
        clock,
        logger,
        transport:
          overrides.transport ??
          (config.mailTransport === 'smtp' && config.smtpUrl
            ? createSmtpTransport(config.smtpUrl, config.mailFrom)
            : createFileTransport(join(config.dataDir, 'mail'), config.mailFrom, logger)),
      })
    : undefined;
  worker?.start();
  const services = createServices({
    config,
    db: database.db,
    clock,
    hasher,
    accessTokens,
    refreshTokens,
    deviceTokens,
    secretBox,
    flowBox: createSecretBox(secrets, 'oidc-flow'),
    providerClients: overrides.providerClients,
    throttle,
    revocations,
    mailQueued: () => worker?.nudge(),
  });

  return {
    config,
    services,
    database,
    logger,
    clock,
    revocations,
    async close() {
      await worker?.stop();
      await throttle.flushBuffered();
      await revocations.close();
      if (ownsDatabase) await database.close();
    },
  };
}
