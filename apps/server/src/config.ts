/**
 * The one reader of process.env: every variable of the contract, validated once at start-up.
 * A bad value stops the process with one line naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  ACCESS_TOKEN_ALGORITHMS,
  type AccessTokenAlgorithm,
  DEFAULT_ACCESS_TOKEN_ALGORITHM,
  DEFAULT_MAX_BATCH_SIZE,
  MIN_SECRET_BYTES,
} from '@latchkey/protocol';
import { z } from 'zod';
import { invalidRanges, type TrustProxy } from './lib/client-address.js';
import { parseDuration } from './lib/duration.js';

export type DatabaseConfig = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string } | { kind: 'memory' };

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  database: DatabaseConfig;
  /** A direct (session-mode) PostgreSQL URL for LISTEN when DATABASE_URL is a transaction pooler. */
  databaseListenUrl: string | undefined;
  /** How often each instance proves its revocation listener still hears (REVOCATION_HEARTBEAT). */
  revocationHeartbeatSeconds: number;
  dataDir: string;
  jwtSecret: string;
  /** True when JWT_SECRET was not given and one was generated (or read back) from DATA_DIR. */
  jwtSecretGenerated: boolean;
  /** The secret before the last rotation: what it signed or MAC'd is still accepted, nothing new uses it. */
  jwtSecretPrevious: string | undefined;
  /** How access tokens are signed (ACCESS_TOKEN_ALG). */
  accessTokenAlgorithm: AccessTokenAlgorithm;
  accessTokenTtlSeconds: number;
  refreshIdleTtlSeconds: number;
  refreshAbsoluteTtlSeconds: number;
  refreshReuseGraceSeconds: number;
  /** How recent a proof of identity sensitive actions need (REAUTH_MAX_AGE). */
  reauthMaxAgeSeconds: number;
  /** How long security events are kept (SECURITY_EVENT_RETENTION); the clean-up job deletes older ones. */
  securityEventRetentionSeconds: number;
  bcryptCost: number;
  smtpUrl: string | undefined;
  /** Where mail goes: SMTP_URL, or .eml files under DATA_DIR/mail (development). */
  mailTransport: 'smtp' | 'file';
  mailFrom: string;
  baseUrl: string;
  /** Which X-Forwarded-For entry is the client: see lib/client-address.ts. */
  trustProxy: TrustProxy;
  corsOrigins: readonly string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Multiplies every per-address throttle (tests and load benchmarks come from one address). */
  rateLimitScale: number;
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  /** Worker processes sharing the port (node's cluster); 1 runs in the main process. */
  webConcurrency: number;
  /** The most calls one tRPC batch may hold; a larger one is refused before any call runs. */
  maxBatchSize: number;
  /** Passkeys: the relying party's id and name, and the page origins whose ceremonies count. */
  webauthn: Readonly<{ rpId: string; rpName: string; origins: readonly string[] }>;
  /** External sign-in: the configured providers (OIDC_<ID>_*, and GitHub's preset). */
  providers: readonly Readonly<ProviderConfig>[];
  /** Where external sign-ins may send the browser back: exact origins or URL prefixes (ALLOWED_REDIRECTS). */
  allowedRedirects: readonly string[];
}

/** An OpenID Connect provider (discovered from its issuer), or GitHub's OAuth 2 preset. */
export type ProviderConfig =
  | { kind: 'oidc'; id: string; name: string; issuer: string; clientId: string; clientSecret: string; scopes: string }
  | { kind: 'github'; id: 'github'; name: 'GitHub'; clientId: string; clientSecret: string; oauthUrl: string; apiUrl: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const seconds = parseDuration(text);
      if (seconds === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration such as 30s, 15m, 1h, 7d or a number of seconds (got ${JSON.stringify(text)})`,
        });
        return z.NEVER;
      }
      return seconds;
    });

const httpUrl = z.string().refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), 'must be an http(s) URL');

const secret = z
  .string()
  .optional()
  .refine((s) => s === undefined || Buffer.byteLength(s, 'utf8') >= MIN_SECRET_BYTES, `must be at least ${MIN_SECRET_BYTES} bytes`);

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .optional()
    .refine(
      (url) => url === undefined || url === '' || url === 'memory://' || /^postgres(ql)?:\/\/.+/.test(url),
      'must be a postgres:// URL or memory://',
    ),
  DATABASE_LISTEN_URL: z
    .string()
    .optional()
    .refine((url) => url === undefined || url === '' || /^postgres(ql)?:\/\/.+/.test(url), 'must be a postgres:// URL'),
  REVOCATION_HEARTBEAT: duration('5s'),
  DATA_DIR: z.string().min(1).default('./.data'),
  JWT_SECRET: secret,
  JWT_SECRET_PREVIOUS: secret,
  ACCESS_TOKEN_ALG: z.enum(ACCESS_TOKEN_ALGORITHMS).default(DEFAULT_ACCESS_TOKEN_ALGORITHM),
  ACCESS_TOKEN_TTL: duration('15m'),
  REFRESH_IDLE_TTL: duration('7d'),
  REFRESH_ABSOLUTE_TTL: duration('30d'),
  RATE_LIMIT_SCALE: z.coerce.number().min(0.01).max(1_000_000).default(1),
  EMAIL_VERIFICATION_TTL: duration('24h'),
  PASSWORD_RESET_TTL: duration('1h'),
  REAUTH_MAX_AGE: duration('5m'),
  SECURITY_EVENT_RETENTION: duration('90d'),
  REFRESH_REUSE_GRACE: z
    .string()
    .default('10s')
    .transform((text, ctx) => {
      // Zero is allowed here: it turns the grace window off.
      const seconds = /^\s*0+\s*[smhd]?\s*$/.test(text) ? 0 : parseDuration(text);
      if (seconds === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be a duration such as 10s (got ${JSON.stringify(text)})` });
        return z.NEVER;
      }
      return seconds;
    }),
  BCRYPT_COST: z.coerce.number().int().min(4).max(31).default(12),
  SMTP_URL: z
    .string()
    .optional()
    .refine(
      (url) => url === undefined || (URL.canParse(url) && /^smtps?:$/.test(new URL(url).protocol)),
      'must be an smtp:// or smtps:// URL',
    ),
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  SMTP_USERNAME: z.string().optional(),
  SMTP_PASSWORD: z.string().optional(),
  MAIL_TRANSPORT: z.enum(['smtp', 'file']).optional(),
  MAIL_FROM: z.string().min(3).default('Auth <no-reply@localhost>'),
  BASE_URL: httpUrl.default('http://localhost:3000'),
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((text, ctx): TrustProxy => {
      const value = text.trim().toLowerCase();
      if (['true', 'yes'].includes(value)) return true;
      if (['false', 'no', '', '0'].includes(value)) return false;
      if (/^\d+$/.test(value)) return Number(value);
      const ranges = value
        .split(',')
        .map((range) => range.trim())
        .filter(Boolean);
      const invalid = invalidRanges(ranges);
      if (invalid.length === 0) return Object.freeze(ranges);
      ctx.addIssue({
        code: 'custom',
        message: `must be true, false, a number of proxies, or comma-separated proxy addresses/CIDRs (got ${JSON.stringify(text)})`,
      });
      return z.NEVER;
    }),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      const origins = (text ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean);
      for (const origin of origins) {
        if (!URL.canParse(origin) || new URL(origin).origin !== origin.replace(/\/$/, '')) {
          ctx.addIssue({
            code: 'custom',
            message: `must be comma-separated origins such as https://app.example.com (got ${JSON.stringify(origin)})`,
          });
          return z.NEVER;
        }
      }
      return origins.map((o) => new URL(o).origin);
    }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(1),
  MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(DEFAULT_MAX_BATCH_SIZE),
  WEBAUTHN_RP_ID: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, {
      message: 'must be a domain name such as example.com (no scheme, port or path)',
    })
    .optional(),
  WEBAUTHN_RP_NAME: z.string().trim().min(1).max(64).default('Latchkey'),
  ALLOWED_REDIRECTS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const entries = text
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      for (const entry of entries) {
        const url = URL.canParse(entry) ? new URL(entry) : undefined;
        if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
          ctx.addIssue({
            code: 'custom',
            message: `must be comma-separated origins or URL prefixes such as https://app.example.com/auth/ (got ${JSON.stringify(entry)})`,
          });
          return z.NEVER;
        }
      }
      return entries.map((entry) => (new URL(entry).origin === entry.replace(/\/$/, '') ? new URL(entry).origin : new URL(entry).href));
    }),
  GITHUB_CLIENT_ID: z.string().trim().min(1).max(256).optional(),
  GITHUB_CLIENT_SECRET: z.string().trim().min(1).max(512).optional(),
  /** GitHub Enterprise Server (or a test double): where its OAuth pages and its API are. */
  GITHUB_OAUTH_URL: httpUrl.default('https://github.com'),
  GITHUB_API_URL: httpUrl.default('https://api.github.com'),
  WEBAUTHN_ORIGINS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const origins = text
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean);
      for (const origin of origins) {
        const url = URL.canParse(origin) ? new URL(origin) : undefined;
        const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && url.hostname === 'localhost');
        if (!url || url.origin !== origin.replace(/\/$/, '') || !secure) {
          ctx.addIssue({
            code: 'custom',
            message: `must be comma-separated https origins (or http://localhost) such as https://app.example.com (got ${JSON.stringify(origin)})`,
          });
          return z.NEVER;
        }
      }
      return origins.map((o) => new URL(o).origin);
    }),
});

/** Every variable the server reads: README's configuration table and .env.example list each one (test/readme-config.test.ts). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(EnvSchema.shape));

type Env = Record<string, string | undefined>;

function smtpUrlFrom(env: z.infer<typeof EnvSchema>): string | undefined {
  if (env.SMTP_URL) return env.SMTP_URL;
  if (!env.SMTP_HOST) return undefined;
  const url = new URL('smtp://localhost');
  url.hostname = env.SMTP_HOST;
  url.port = String(env.SMTP_PORT ?? 587);
  if (env.SMTP_USERNAME) url.username = env.SMTP_USERNAME;
  if (env.SMTP_PASSWORD) url.password = env.SMTP_PASSWORD;
  return url.toString();
}

/** Reads the development secret from DATA_DIR, creating it (mode 0600) the first time. */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(secret) >= MIN_SECRET_BYTES) return secret;
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  try {
    // 'wx': of two processes starting on one DATA_DIR, the first one's secret wins and both use it.
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(file, 'utf8').trim();
  }
  chmodSync(file, 0o600);
  return secret;
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  // An empty variable means "unset", as it does in most shells' .env handling.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${issue?.message ?? 'is invalid'}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);

  if (e.REFRESH_ABSOLUTE_TTL < e.REFRESH_IDLE_TTL) {
    throw new ConfigError('Invalid configuration: REFRESH_ABSOLUTE_TTL must not be shorter than REFRESH_IDLE_TTL');
  }
  if (e.NODE_ENV === 'production' && !e.JWT_SECRET) {
    throw new ConfigError(`Invalid configuration: JWT_SECRET is required when NODE_ENV=production (at least ${MIN_SECRET_BYTES} bytes)`);
  }

  if (e.JWT_SECRET_PREVIOUS !== undefined && e.JWT_SECRET_PREVIOUS === e.JWT_SECRET) {
    throw new ConfigError('Invalid configuration: JWT_SECRET_PREVIOUS must differ from JWT_SECRET (it is the secret before the rotation)');
  }
  if (e.JWT_SECRET_PREVIOUS !== undefined && e.JWT_SECRET === undefined) {
    throw new ConfigError('Invalid configuration: JWT_SECRET_PREVIOUS needs JWT_SECRET (the secret it was rotated to)');
  }

  const smtpUrl = smtpUrlFrom(e);
  if (e.MAIL_TRANSPORT === 'smtp' && !smtpUrl) {
    throw new ConfigError('Invalid configuration: MAIL_TRANSPORT=smtp needs SMTP_URL (or SMTP_HOST)');
  }
  // In production, mail written to files would silently never reach anyone: only on purpose.
  if (e.NODE_ENV === 'production' && !smtpUrl && e.MAIL_TRANSPORT !== 'file') {
    throw new ConfigError('Invalid configuration: SMTP_URL is required when NODE_ENV=production (or set MAIL_TRANSPORT=file explicitly)');
  }

  if (e.WEB_CONCURRENCY > 1 && !e.DATABASE_URL?.startsWith('postgres')) {
    throw new ConfigError(
      'Invalid configuration: WEB_CONCURRENCY above 1 needs DATABASE_URL to be PostgreSQL (an embedded database belongs to one process)',
    );
  }

  const databaseListenUrl = e.DATABASE_LISTEN_URL || undefined;
  if (databaseListenUrl !== undefined && !e.DATABASE_URL?.startsWith('postgres')) {
    throw new ConfigError('Invalid configuration: DATABASE_LISTEN_URL needs DATABASE_URL to be PostgreSQL');
  }

  const database: DatabaseConfig = !e.DATABASE_URL
    ? { kind: 'pglite', dataDir: join(dataDir, 'pgdata') }
    : e.DATABASE_URL === 'memory://'
      ? { kind: 'memory' }
      : { kind: 'postgres', url: e.DATABASE_URL };

  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    database: Object.freeze(database),
    databaseListenUrl,
    revocationHeartbeatSeconds: e.REVOCATION_HEARTBEAT,
    dataDir,
    jwtSecret: e.JWT_SECRET ?? developmentSecret(dataDir),
    jwtSecretGenerated: e.JWT_SECRET === undefined,
    jwtSecretPrevious: e.JWT_SECRET_PREVIOUS,
    accessTokenAlgorithm: e.ACCESS_TOKEN_ALG,
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL,
    refreshIdleTtlSeconds: e.REFRESH_IDLE_TTL,
    refreshAbsoluteTtlSeconds: e.REFRESH_ABSOLUTE_TTL,
    refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE,
    reauthMaxAgeSeconds: e.REAUTH_MAX_AGE,
    securityEventRetentionSeconds: e.SECURITY_EVENT_RETENTION,
    bcryptCost: e.BCRYPT_COST,
    smtpUrl,
    mailTransport: e.MAIL_TRANSPORT ?? (smtpUrl ? 'smtp' : 'file'),
    mailFrom: e.MAIL_FROM,
    baseUrl: e.BASE_URL.replace(/\/+$/, ''),
    trustProxy: e.TRUST_PROXY,
    corsOrigins: Object.freeze(e.CORS_ORIGINS),
    logLevel: e.LOG_LEVEL,
    rateLimitScale: e.RATE_LIMIT_SCALE,
    emailVerificationTtlSeconds: e.EMAIL_VERIFICATION_TTL,
    passwordResetTtlSeconds: e.PASSWORD_RESET_TTL,
    webConcurrency: e.WEB_CONCURRENCY,
    maxBatchSize: e.MAX_BATCH_SIZE,
    webauthn: webauthnSettings(e),
    providers: Object.freeze(providerSettings(env, e)),
    allowedRedirects: Object.freeze(e.ALLOWED_REDIRECTS ?? [...new Set([new URL(e.BASE_URL).origin, ...e.CORS_ORIGINS])]),
  });
}

const PROVIDER_VARIABLE = /^OIDC_([A-Z0-9]+)_(ISSUER|CLIENT_ID|CLIENT_SECRET|SCOPES|NAME)$/;

/** The part of an OIDC_<ID>_* variable name that varies: README and .env.example document the pattern. */
export const PROVIDER_VARIABLE_PATTERN = 'OIDC_<ID>_ISSUER, OIDC_<ID>_CLIENT_ID, OIDC_<ID>_CLIENT_SECRET, OIDC_<ID>_SCOPES, OIDC_<ID>_NAME';

/**
 * The providers: each `OIDC_<ID>_ISSUER` with its client id and secret (the id is `<ID>` in lower
 * case), and GitHub when GITHUB_CLIENT_ID is set. An issuer is https, or http on a loopback host
 * outside production (a provider run by the tests).
 */
function providerSettings(env: Env, e: z.infer<typeof EnvSchema>): ProviderConfig[] {
  const found = new Map<string, Partial<Record<'ISSUER' | 'CLIENT_ID' | 'CLIENT_SECRET' | 'SCOPES' | 'NAME', string>>>();
  for (const [name, value] of Object.entries(env)) {
    const match = PROVIDER_VARIABLE.exec(name);
    if (!match?.[1] || !match[2] || value === undefined || value.trim() === '') continue;
    const entry = found.get(match[1]) ?? {};
    entry[match[2] as 'ISSUER'] = value.trim();
    found.set(match[1], entry);
  }
  const providers: ProviderConfig[] = [];
  for (const [ID, entry] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    const id = ID.toLowerCase();
    for (const part of ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET'] as const) {
      if (!entry[part]) throw new ConfigError(`Invalid configuration: OIDC_${ID}_${part} is required with the other OIDC_${ID}_* settings`);
    }
    if (id === 'github')
      throw new ConfigError(
        'Invalid configuration: OIDC_GITHUB_* is reserved: GitHub is configured with GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET',
      );
    const issuer = entry.ISSUER ?? '';
    const url = URL.canParse(issuer) ? new URL(issuer) : undefined;
    const loopback = url !== undefined && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (
      !url ||
      !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback && e.NODE_ENV !== 'production')) ||
      url.search ||
      url.hash
    )
      throw new ConfigError(`Invalid configuration: OIDC_${ID}_ISSUER must be an https URL such as https://accounts.google.com`);
    if ((entry.CLIENT_ID?.length ?? 0) > 256 || (entry.CLIENT_SECRET?.length ?? 0) > 512 || (entry.NAME?.length ?? 0) > 64)
      throw new ConfigError(`Invalid configuration: OIDC_${ID}_* values are too long`);
    const scopes = entry.SCOPES ?? 'openid email profile';
    if (!scopes.split(/\s+/).includes('openid')) throw new ConfigError(`Invalid configuration: OIDC_${ID}_SCOPES must include openid`);
    providers.push({
      kind: 'oidc',
      id,
      name: entry.NAME ?? (id === 'google' ? 'Google' : ID.charAt(0) + id.slice(1)),
      issuer: url.href.replace(/\/$/, ''),
      clientId: entry.CLIENT_ID ?? '',
      clientSecret: entry.CLIENT_SECRET ?? '',
      scopes,
    });
  }
  if ((e.GITHUB_CLIENT_ID === undefined) !== (e.GITHUB_CLIENT_SECRET === undefined))
    throw new ConfigError('Invalid configuration: GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together');
  if (e.GITHUB_CLIENT_ID !== undefined && e.GITHUB_CLIENT_SECRET !== undefined)
    providers.push({
      kind: 'github',
      id: 'github',
      name: 'GitHub',
      clientId: e.GITHUB_CLIENT_ID,
      clientSecret: e.GITHUB_CLIENT_SECRET,
      oauthUrl: e.GITHUB_OAUTH_URL.replace(/\/+$/, ''),
      apiUrl: e.GITHUB_API_URL.replace(/\/+$/, ''),
    });
  return providers;
}

/**
 * The relying party of passkeys: WEBAUTHN_RP_ID (default BASE_URL's host) and WEBAUTHN_ORIGINS
 * (default BASE_URL's origin and CORS_ORIGINS). A browser only lets a page use an RP ID that is
 * its own host or a parent domain of it: set explicitly, every origin must fit it.
 */
function webauthnSettings(e: z.infer<typeof EnvSchema>): Config['webauthn'] {
  const base = new URL(e.BASE_URL);
  const rpId = e.WEBAUTHN_RP_ID ?? base.hostname;
  const origins = e.WEBAUTHN_ORIGINS ?? [...new Set([base.origin, ...e.CORS_ORIGINS])];
  if (e.WEBAUTHN_RP_ID !== undefined || e.WEBAUTHN_ORIGINS !== undefined) {
    for (const origin of origins) {
      const host = new URL(origin).hostname;
      if (host !== rpId && !host.endsWith(`.${rpId}`))
        throw new ConfigError(
          `Invalid configuration: WEBAUTHN_ORIGINS: ${origin} is not on WEBAUTHN_RP_ID ${rpId} (each origin's host must be the RP ID or a subdomain of it)`,
        );
    }
  }
  return Object.freeze({ rpId, rpName: e.WEBAUTHN_RP_NAME, origins: Object.freeze(origins) });
}
