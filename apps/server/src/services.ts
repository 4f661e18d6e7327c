import type { Config } from './config.js';
import type { Db } from './db/database.js';
import type { Revocations } from './db/revocations.js';
import type { Clock } from './lib/clock.js';
import { createAccessTokens } from './lib/jwt.js';
import { deriveKey } from './lib/keys.js';
import type { Logger } from './lib/logger.js';
import { createPasswordHasher, type PasswordHasher } from './lib/password.js';
import { createRateLimiter, type RateLimiter } from './lib/rate-limiter.js';
import { createRefreshTokenCodec } from './lib/refresh-token.js';
import { createAccountService } from './modules/auth/account.service.js';
import { createAuthService } from './modules/auth/auth.service.js';
import { createSessionService } from './modules/auth/session.service.js';
import { createUserService } from './modules/user/user.service.js';

/** What every request may use: the inner tRPC context's dependencies, built once per process. */
export interface Deps {
  config: Readonly<Config>;
  db: Db;
  clock: Clock;
  logger: Logger;
  hasher: PasswordHasher;
  limiter: RateLimiter;
  revocations: Revocations;
  /** Called after a transaction that queued mail committed: wakes the mail worker, if this process runs one. */
  mailQueued: () => void;
}

export function createServices(deps: Deps) {
  const { config, clock } = deps;
  const accessTokens = createAccessTokens({ secret: config.jwtSecret, ttlSeconds: config.accessTokenTtlSeconds, clock });
  const refreshTokens = createRefreshTokenCodec(deriveKey(config.jwtSecret, 'refresh-token'));
  return {
    auth: createAuthService({ ...deps, accessTokens, refreshTokens }),
    sessions: createSessionService(deps),
    users: createUserService(deps),
    accounts: createAccountService(deps),
  };
}

export type Services = ReturnType<typeof createServices>;

export function createDeps(
  options: Omit<Deps, 'hasher' | 'limiter' | 'mailQueued'> & {
    hasher?: PasswordHasher | undefined;
    mailQueued?: (() => void) | undefined;
    /** Where throttle counters are written: DatabaseHandle.relaxed (on PGlite the same as `db`). */
    relaxedDb: Db;
  },
): Deps {
  const { relaxedDb, ...rest } = options;
  return {
    mailQueued: () => {},
    ...rest,
    hasher: options.hasher ?? createPasswordHasher(options.config.bcryptCost),
    limiter: createRateLimiter(relaxedDb, options.config.rateLimitScale),
  };
}
