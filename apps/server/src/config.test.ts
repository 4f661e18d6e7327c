import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.js';

const SECRET = 'config-test-secret-at-least-32-bytes-long';

const tempDirs: string[] = [];
function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-config-'));
  tempDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The ConfigError that loading `env` throws; fails the test if it loads or throws anything else. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig defaults', () => {
  it('match the contract table', () => {
    const config = loadConfig({ JWT_SECRET: SECRET });

    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      dataDir: resolve('.data'),
      jwtSecret: SECRET,
      jwtSecretGenerated: false,
      jwtSecretPrevious: undefined,
      accessTokenAlgorithm: 'EdDSA',
      accessTokenTtlSeconds: 900,
      refreshIdleTtlSeconds: 7 * 86_400,
      refreshAbsoluteTtlSeconds: 30 * 86_400,
      refreshReuseGraceSeconds: 10,
      securityEventRetentionSeconds: 90 * 86_400,
      bcryptCost: 12,
      smtpUrl: undefined,
      mailTransport: 'file',
      mailFrom: 'Auth <no-reply@localhost>',
      baseUrl: 'http://localhost:3000',
      trustProxy: false,
      corsOrigins: [],
      logLevel: 'info',
      maxBatchSize: 10,
    });
  });

  it('does not read process.env when given an env object', () => {
    const before = process.env.PORT;
    process.env.PORT = '4321';
    try {
      expect(loadConfig({ JWT_SECRET: SECRET }).port).toBe(3000);
    } finally {
      if (before === undefined) delete process.env.PORT;
      else process.env.PORT = before;
    }
  });

  it('an empty variable counts as unset', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, PORT: '', BCRYPT_COST: '' })).toMatchObject({ port: 3000, bcryptCost: 12 });
  });

  it('reads the values given', () => {
    const config = loadConfig({
      JWT_SECRET: SECRET,
      NODE_ENV: 'test',
      PORT: '8080',
      HOST: '127.0.0.1',
      ACCESS_TOKEN_TTL: '30s',
      REFRESH_IDLE_TTL: '1h',
      REFRESH_ABSOLUTE_TTL: '2d',
      REFRESH_REUSE_GRACE: '0',
      BCRYPT_COST: '4',
      MAIL_FROM: 'Latchkey <auth@example.com>',
      BASE_URL: 'https://auth.example.com/',
      TRUST_PROXY: 'true',
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com/',
      LOG_LEVEL: 'debug',
      MAX_BATCH_SIZE: '25',
    });

    expect(config).toMatchObject({
      nodeEnv: 'test',
      port: 8080,
      host: '127.0.0.1',
      accessTokenTtlSeconds: 30,
      refreshIdleTtlSeconds: 3600,
      refreshAbsoluteTtlSeconds: 2 * 86_400,
      refreshReuseGraceSeconds: 0,
      bcryptCost: 4,
      mailFrom: 'Latchkey <auth@example.com>',
      baseUrl: 'https://auth.example.com',
      trustProxy: true,
      corsOrigins: ['https://app.example.com', 'https://admin.example.com'],
      logLevel: 'debug',
      maxBatchSize: 25,
    });
  });

  it('MAX_BATCH_SIZE below 1 is refused naming it', () => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, MAX_BATCH_SIZE: '0' })).toThrow(/^Invalid configuration: MAX_BATCH_SIZE /);
  });
});

describe('loadConfig database', () => {
  it('DATABASE_URL unset uses PGlite under DATA_DIR', () => {
    const dataDir = freshDataDir();

    const { database } = loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir });

    expect(database).toEqual({ kind: 'pglite', dataDir: expect.stringContaining(`${dataDir}${sep}`) });
  });

  it('memory:// uses an in-memory database', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'memory' });
  });

  it('DATABASE_LISTEN_URL names the connection to LISTEN on, and needs PostgreSQL behind DATABASE_URL', () => {
    const pooled = 'postgres://app@pooler.example.com:6543/auth';
    const direct = 'postgres://app@db.example.com:5432/auth';
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: pooled }).databaseListenUrl).toBeUndefined();
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: pooled, DATABASE_LISTEN_URL: direct }).databaseListenUrl).toBe(direct);
    expect(() => loadConfig({ JWT_SECRET: SECRET, DATABASE_LISTEN_URL: direct })).toThrow(/DATABASE_LISTEN_URL/);
    expect(() => loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: pooled, DATABASE_LISTEN_URL: 'mysql://x' })).toThrow(/DATABASE_LISTEN_URL/);
  });

  it('SECURITY_EVENT_RETENTION takes a duration, and refuses what is not one', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, SECURITY_EVENT_RETENTION: '30d' }).securityEventRetentionSeconds).toBe(30 * 86_400);
    expect(() => loadConfig({ JWT_SECRET: SECRET, SECURITY_EVENT_RETENTION: 'forever' })).toThrow(/SECURITY_EVENT_RETENTION/);
  });

  it('REVOCATION_HEARTBEAT defaults to 5 s and takes a duration', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).revocationHeartbeatSeconds).toBe(5);
    expect(loadConfig({ JWT_SECRET: SECRET, REVOCATION_HEARTBEAT: '2s' }).revocationHeartbeatSeconds).toBe(2);
    expect(() => loadConfig({ JWT_SECRET: SECRET, REVOCATION_HEARTBEAT: '0' })).toThrow(/REVOCATION_HEARTBEAT/);
  });

  it('postgres:// and postgresql:// use PostgreSQL with the URL as given', () => {
    for (const url of ['postgres://app:pw@db.example.com:5432/auth', 'postgresql://localhost/auth']) {
      expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: url }).database).toEqual({ kind: 'postgres', url });
    }
  });

  it('mysql:// is refused naming DATABASE_URL', () => {
    expect(configError({ JWT_SECRET: SECRET, DATABASE_URL: 'mysql://localhost/auth' }).message).toContain('DATABASE_URL');
  });
});

describe('TRUST_PROXY and the mail transport', () => {
  it('TRUST_PROXY takes true, a number of hops, or proxy CIDRs', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ JWT_SECRET: SECRET, TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ JWT_SECRET: SECRET, TRUST_PROXY: '10.0.0.0/8, 2001:db8::/32' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '2001:db8::/32',
    ]);
  });

  it('production without SMTP refuses to start unless MAIL_TRANSPORT=file is explicit', () => {
    expect(configError({ JWT_SECRET: SECRET, NODE_ENV: 'production' }).message).toContain('MAIL_TRANSPORT=file');
    expect(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'production', MAIL_TRANSPORT: 'file' }).mailTransport).toBe('file');
    expect(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'production', SMTP_URL: 'smtp://mail:25' }).mailTransport).toBe('smtp');
  });
});

describe('loadConfig refuses a bad value with one line naming the variable', () => {
  it.each([
    ['BCRYPT_COST', '3'],
    ['BCRYPT_COST', '32'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['ACCESS_TOKEN_TTL', 'forever'],
    ['REFRESH_IDLE_TTL', '0'],
    ['JWT_SECRET', 'x'.repeat(31)],
    ['JWT_SECRET_PREVIOUS', 'x'.repeat(31)],
    ['ACCESS_TOKEN_ALG', 'none'],
    ['ACCESS_TOKEN_ALG', 'RS256'],
    ['ACCESS_TOKEN_ALG', 'hs256'],
    ['BASE_URL', 'ftp://x'],
    ['CORS_ORIGINS', 'not a url'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['WEBAUTHN_RP_ID', 'https://example.com'],
    ['WEBAUTHN_RP_ID', 'example.com:443'],
    ['WEBAUTHN_RP_NAME', 'x'.repeat(65)],
    ['WEBAUTHN_ORIGINS', 'http://app.example.com'],
    ['WEBAUTHN_ORIGINS', 'https://app.example.com/path'],
    ['WEBAUTHN_ORIGINS', 'https://evil.example.net'],
    ['LOG_LEVEL', 'loud'],
    ['SMTP_URL', 'http://x'],
    ['TRUST_PROXY', 'maybe'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.0/8,proxy.local'],
    ['MAIL_TRANSPORT', 'pigeon'],
    ['MAIL_TRANSPORT', 'smtp'],
    ['NODE_ENV', 'staging'],
  ])('%s=%j', (name, value) => {
    const error = configError({ JWT_SECRET: SECRET, [name]: value });

    expect(error.message).toContain(name);
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it('a malformed JWT_SECRET_PREVIOUS is refused in one line naming it, without echoing it', () => {
    const short = 'abcdefghijklmnopqrstuvwxyz01234';

    const error = configError({ JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: short });

    expect(error.message).toBe('Invalid configuration: JWT_SECRET_PREVIOUS must be at least 32 bytes');
    expect(error.message).not.toContain(short);
  });

  it('JWT_SECRET_PREVIOUS equal to JWT_SECRET, or without JWT_SECRET, is refused naming it', () => {
    expect(configError({ JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: SECRET }).message).toMatch(
      /^Invalid configuration: JWT_SECRET_PREVIOUS must differ from JWT_SECRET/,
    );
    expect(configError({ JWT_SECRET_PREVIOUS: SECRET }).message).toMatch(/^Invalid configuration: JWT_SECRET_PREVIOUS needs JWT_SECRET/);
  });

  it('ACCESS_TOKEN_ALG takes EdDSA or HS256, and JWT_SECRET_PREVIOUS is kept as given', () => {
    const previous = 'the-secret-before-the-rotation-of-32-bytes';
    expect(loadConfig({ JWT_SECRET: SECRET, ACCESS_TOKEN_ALG: 'HS256' }).accessTokenAlgorithm).toBe('HS256');
    expect(loadConfig({ JWT_SECRET: SECRET, ACCESS_TOKEN_ALG: 'EdDSA' }).accessTokenAlgorithm).toBe('EdDSA');
    expect(loadConfig({ JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: previous }).jwtSecretPrevious).toBe(previous);
  });

  it('a JWT_SECRET of 31 bytes is refused without echoing it', () => {
    const short = 'abcdefghijklmnopqrstuvwxyz01234';

    const error = configError({ JWT_SECRET: short });

    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).not.toContain(short);
  });

  it('a JWT_SECRET of 32 bytes is accepted, counting UTF-8 bytes', () => {
    expect(loadConfig({ JWT_SECRET: 'x'.repeat(32) }).jwtSecret).toBe('x'.repeat(32));
    expect(loadConfig({ JWT_SECRET: 'é'.repeat(16) }).jwtSecret).toBe('é'.repeat(16));
  });

  it('REFRESH_ABSOLUTE_TTL shorter than REFRESH_IDLE_TTL is refused naming both', () => {
    const error = configError({ JWT_SECRET: SECRET, REFRESH_IDLE_TTL: '7d', REFRESH_ABSOLUTE_TTL: '1d' });

    expect(error.message).toContain('REFRESH_ABSOLUTE_TTL');
    expect(error.message).toContain('REFRESH_IDLE_TTL');
  });

  it('a value containing a line break still gives a one-line message', () => {
    const error = configError({ JWT_SECRET: SECRET, ACCESS_TOKEN_TTL: '15m\nLOG_LEVEL ok' });

    expect(error.message).toContain('ACCESS_TOKEN_TTL');
    expect(error.message).not.toMatch(/[\r\n]/);
  });
});

describe('loadConfig JWT_SECRET', () => {
  it('NODE_ENV=production without JWT_SECRET is refused naming JWT_SECRET, and nothing is written', () => {
    const dataDir = freshDataDir();

    const error = configError({ NODE_ENV: 'production', DATA_DIR: dataDir });

    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).not.toMatch(/[\r\n]/);
    expect(existsSync(join(dataDir, 'jwt-secret'))).toBe(false);
  });

  it('in development a secret is generated into DATA_DIR/jwt-secret with mode 0600 and read back next time', () => {
    const dataDir = freshDataDir();

    const first = loadConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'jwt-secret');
    const second = loadConfig({ DATA_DIR: dataDir });

    expect(first.jwtSecretGenerated).toBe(true);
    expect(Buffer.byteLength(first.jwtSecret, 'utf8')).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.jwtSecret);
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(second.jwtSecretGenerated).toBe(true);
  });

  it('different data directories get different generated secrets', () => {
    expect(loadConfig({ DATA_DIR: freshDataDir() }).jwtSecret).not.toBe(loadConfig({ DATA_DIR: freshDataDir() }).jwtSecret);
  });

  it('a given JWT_SECRET is used as is and no secret file is written', () => {
    const dataDir = freshDataDir();

    const config = loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir });

    expect(config).toMatchObject({ jwtSecret: SECRET, jwtSecretGenerated: false });
    expect(existsSync(join(dataDir, 'jwt-secret'))).toBe(false);
  });
});

describe('loadConfig mail', () => {
  it("the tutorial's SMTP_HOST, SMTP_PORT, SMTP_USERNAME and SMTP_PASSWORD become smtpUrl", () => {
    const { smtpUrl } = loadConfig({
      JWT_SECRET: SECRET,
      SMTP_HOST: 'smtp.example.com',
      SMTP_PORT: '2525',
      SMTP_USERNAME: 'mailer@example.com',
      SMTP_PASSWORD: 'p@ss:w/rd #1',
    });

    expect(smtpUrl).toBeDefined();
    const url = new URL(smtpUrl ?? '');
    expect(url.protocol).toBe('smtp:');
    expect(url.hostname).toBe('smtp.example.com');
    expect(url.port).toBe('2525');
    expect(decodeURIComponent(url.username)).toBe('mailer@example.com');
    expect(decodeURIComponent(url.password)).toBe('p@ss:w/rd #1');
  });

  it('SMTP_URL is used as given', () => {
    const smtpUrl = 'smtps://user:secret@mail.example.com:465';

    expect(loadConfig({ JWT_SECRET: SECRET, SMTP_URL: smtpUrl }).smtpUrl).toBe(smtpUrl);
  });
});

describe('passkey settings', () => {
  it('default to the host and origin of BASE_URL, and CORS_ORIGINS', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, BASE_URL: 'https://auth.example.com', CORS_ORIGINS: 'https://app.example.com' });
    expect(config.webauthn).toEqual({
      rpId: 'auth.example.com',
      rpName: 'Latchkey',
      origins: ['https://auth.example.com', 'https://app.example.com'],
    });
  });

  it('take an RP ID that is a parent domain of every origin, and refuse an origin off it', () => {
    const config = loadConfig({
      JWT_SECRET: SECRET,
      WEBAUTHN_RP_ID: 'Example.com',
      WEBAUTHN_RP_NAME: 'Acme',
      WEBAUTHN_ORIGINS: 'https://app.example.com, https://example.com/',
    });
    expect(config.webauthn).toEqual({ rpId: 'example.com', rpName: 'Acme', origins: ['https://app.example.com', 'https://example.com'] });
    // BASE_URL's default origin (http://localhost:3000) is not on example.com.
    expect(configError({ JWT_SECRET: SECRET, WEBAUTHN_RP_ID: 'example.com' }).message).toMatch(
      /^Invalid configuration: WEBAUTHN_ORIGINS: http:\/\/localhost:3000 is not on WEBAUTHN_RP_ID example.com/,
    );
    expect(
      configError({ JWT_SECRET: SECRET, WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://notexample.com' }).message,
    ).toContain('WEBAUTHN_ORIGINS');
  });
});

describe('external sign-in settings', () => {
  it('read each OIDC_<ID>_* provider and the GitHub preset; ALLOWED_REDIRECTS defaults to BASE_URL and CORS_ORIGINS', () => {
    const config = loadConfig({
      JWT_SECRET: SECRET,
      BASE_URL: 'https://auth.example.com',
      CORS_ORIGINS: 'https://app.example.com',
      OIDC_GOOGLE_ISSUER: 'https://accounts.google.com',
      OIDC_GOOGLE_CLIENT_ID: 'google-id',
      OIDC_GOOGLE_CLIENT_SECRET: 'google-secret',
      OIDC_ACME_ISSUER: 'https://login.acme.test/realms/main/',
      OIDC_ACME_CLIENT_ID: 'acme',
      OIDC_ACME_CLIENT_SECRET: 's',
      OIDC_ACME_SCOPES: 'openid email',
      OIDC_ACME_NAME: 'Acme SSO',
      GITHUB_CLIENT_ID: 'gh',
      GITHUB_CLIENT_SECRET: 'gh-secret',
    });
    expect(config.providers).toEqual([
      {
        kind: 'oidc',
        id: 'acme',
        name: 'Acme SSO',
        issuer: 'https://login.acme.test/realms/main',
        clientId: 'acme',
        clientSecret: 's',
        scopes: 'openid email',
      },
      {
        kind: 'oidc',
        id: 'google',
        name: 'Google',
        issuer: 'https://accounts.google.com',
        clientId: 'google-id',
        clientSecret: 'google-secret',
        scopes: 'openid email profile',
      },
      {
        kind: 'github',
        id: 'github',
        name: 'GitHub',
        clientId: 'gh',
        clientSecret: 'gh-secret',
        oauthUrl: 'https://github.com',
        apiUrl: 'https://api.github.com',
      },
    ]);
    expect(config.allowedRedirects).toEqual(['https://auth.example.com', 'https://app.example.com']);
    expect(
      loadConfig({ JWT_SECRET: SECRET, ALLOWED_REDIRECTS: 'https://app.example.com/auth/, https://admin.example.com' }).allowedRedirects,
    ).toEqual(['https://app.example.com/auth/', 'https://admin.example.com']);
  });

  it.each([
    [{ OIDC_X_ISSUER: 'https://x.example' }, 'OIDC_X_CLIENT_ID'],
    [{ OIDC_X_ISSUER: 'http://x.example', OIDC_X_CLIENT_ID: 'a', OIDC_X_CLIENT_SECRET: 'b' }, 'OIDC_X_ISSUER'],
    [
      {
        OIDC_X_ISSUER: 'http://127.0.0.1:9',
        OIDC_X_CLIENT_ID: 'a',
        OIDC_X_CLIENT_SECRET: 'b',
        NODE_ENV: 'production',
        MAIL_TRANSPORT: 'file',
      },
      'OIDC_X_ISSUER',
    ],
    [{ OIDC_X_ISSUER: 'https://x.example', OIDC_X_CLIENT_ID: 'a', OIDC_X_CLIENT_SECRET: 'b', OIDC_X_SCOPES: 'email' }, 'OIDC_X_SCOPES'],
    [{ OIDC_GITHUB_ISSUER: 'https://x.example', OIDC_GITHUB_CLIENT_ID: 'a', OIDC_GITHUB_CLIENT_SECRET: 'b' }, 'OIDC_GITHUB'],
    [{ GITHUB_CLIENT_ID: 'a' }, 'GITHUB_CLIENT_SECRET'],
    [{ ALLOWED_REDIRECTS: 'javascript:alert(1)' }, 'ALLOWED_REDIRECTS'],
    [{ ALLOWED_REDIRECTS: 'https://app.example.com/?next=x' }, 'ALLOWED_REDIRECTS'],
  ])('refuses %j, naming %s', (env, name) => {
    const error = configError({ JWT_SECRET: SECRET, ...env });
    expect(error.message).toContain(name);
    expect(error.message).not.toMatch(/[\r\n]/);
  });
});

describe('loadConfig result', () => {
  it('is frozen', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: 'https://app.example.com' });

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.corsOrigins)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('its nested database settings are frozen too', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://localhost/auth' });

    expect(Object.isFrozen(config.database)).toBe(true);
  });
});

describe('the documentation of the configuration', () => {
  const root = join(import.meta.dirname, '..', '..', '..');

  it("README's configuration table names every variable the server reads", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    const named = new Set(rows.flatMap((row) => [...row.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1])));
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(20);
    expect(CONFIG_VARIABLES.filter((name) => !named.has(name))).toEqual([]);
  });

  it('.env.example has a line for every variable the server reads', () => {
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const named = new Set([...example.matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    expect(CONFIG_VARIABLES.filter((name) => !named.has(name))).toEqual([]);
  });
});
