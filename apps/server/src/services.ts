import type { Config } from './config.js';
import type { Db } from './db/database.js';
import type { Clock } from './lib/clock.js';
import { createAccessTokens } from './lib/jwt.js';
import { deriveKey } from './lib/keys.js';
import type { Logger } from './lib/logger.js';
import { createPasswordHasher, type PasswordHasher } from './lib/password.js';
import { createRefreshTokenCodec } from './lib/refresh-token.js';
import { createAuthService } from './modules/auth/auth.service.js';

/** What every request may use: the inner tRPC context, built once per process. */
export interface Deps {
  config: Readonly<Config>;
  db: Db;
  clock: Clock;
  logger: Logger;
  hasher: PasswordHasher;
}

export function createServices(deps: Deps) {
  const { config, db, clock, hasher } = deps;
  const accessTokens = createAccessTokens({ secret: config.jwtSecret, ttlSeconds: config.accessTokenTtlSeconds, clock });
  const refreshTokens = createRefreshTokenCodec(deriveKey(config.jwtSecret, 'refresh-token'));
  return {
    auth: createAuthService({ db, clock, config, hasher, accessTokens, refreshTokens }),
  };
}

export type Services = ReturnType<typeof createServices>;

export function createDeps(options: { config: Readonly<Config>; db: Db; clock: Clock; logger: Logger; hasher?: PasswordHasher }): Deps {
  return { ...options, hasher: options.hasher ?? createPasswordHasher(options.config.bcryptCost) };
}
