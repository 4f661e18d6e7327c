import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  migratedTestDatabase,
  newUser,
  type ServedApp,
  servedApp,
  TEST_JWT_SECRET as TEST_SECRET,
  type TestDatabase,
} from '@latchkey/server/testing';
import { forgedAccessTokens, validAccessToken } from '@latchkey/server/testing/forged-access-tokens';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Claims,
  createVerifier,
  isVerifyError,
  KeySetUnavailableError,
  type VerifierOptions,
  VerifyError,
  type VerifyErrorCode,
  withAuth,
} from '../src/index.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** The code the verifier refuses with, or `accepted`. */
async function verdict(
  input: string | undefined,
  v: { verify(input: string | undefined): Promise<unknown> },
): Promise<VerifyErrorCode | 'accepted'> {
  try {
    await v.verify(input);
    return 'accepted';
  } catch (error) {
    if (isVerifyError(error)) return error.code;
    throw error;
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const stop = (server: Server | undefined) => new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));

const jwksUrlOf = (app: ServedApp) => `${app.url}/.well-known/jwks.json`;

/** The same cases for both ways of verifying, each against a server signing that way. */
const MODES = [
  { alg: 'EdDSA', how: 'the JWKS URL', env: {}, keys: (app: ServedApp): VerifierOptions => ({ jwksUrl: jwksUrlOf(app) }) },
  { alg: 'HS256', how: 'the secret', env: { ACCESS_TOKEN_ALG: 'HS256' }, keys: (): VerifierOptions => ({ secret: TEST_SECRET }) },
] as const;

describe.each(MODES)('$alg tokens, verified with $how', ({ alg, env, keys }) => {
  let app: ServedApp;
  beforeAll(async () => {
    // The server's clock stands still at 2026-01-01 until a test moves it; the verifier reads the same clock.
    app = await servedApp(database, { env });
  });
  afterAll(async () => {
    await app?.close();
  });

  const verifier = (extra: Partial<VerifierOptions> = {}) =>
    createVerifier({ ...keys(app), now: () => app.clock.now(), ...extra } as VerifierOptions);

  /** The code the server itself refuses the same `Authorization` header with, or `accepted`. */
  async function serverVerdict(authorization: string | undefined): Promise<string> {
    try {
      await app.caller({ authorization }).user.me();
      return 'accepted';
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause && typeof cause === 'object' && 'appCode' in cause) return String(cause.appCode);
      throw error;
    }
  }

  async function sessionIdOf(userId: string): Promise<string> {
    const row = await database.db.selectFrom('sessions').select('id').where('user_id', '=', userId).executeTakeFirstOrThrow();
    return row.id;
  }

  describe('tokens the server issued', () => {
    it('are accepted, with the user, the session, the expiry and the proof of identity the server gave them', async () => {
      const session = await app.caller().auth.register(newUser());
      const claims: Claims = await verifier().verify(session.accessToken);
      expect(claims).toEqual({
        userId: session.user.id,
        sessionId: await sessionIdOf(session.user.id),
        expiresAt: session.accessTokenExpiresAt,
        // A registration is a password sign-in, just now: what a service needs for its own step-up rules.
        authTime: app.clock.now(),
        authMethods: ['pwd'],
        assuranceLevel: 1,
      });
    });

    it('are accepted from an Authorization header with the Bearer or Token scheme, in any case', async () => {
      const { accessToken } = await app.caller().auth.register(newUser());
      const v = verifier();
      for (const header of [`Bearer ${accessToken}`, `Token ${accessToken}`, `bearer ${accessToken}`, `TOKEN\t${accessToken} `]) {
        expect(await verdict(header, v), header).toBe('accepted');
      }
    });

    it('read the Authorization header exactly as the server does', async () => {
      const { accessToken } = await app.caller().auth.register(newUser());
      const headers = [
        undefined,
        '',
        'Bearer',
        'Bearer ',
        'Token',
        `Basic ${accessToken}`,
        `Bearer ${accessToken} extra`,
        `Bearer  ${accessToken}`,
        `Bearer${accessToken}`,
        `Bearer ${accessToken}`,
        `Token ${accessToken}`,
        'Bearer not-a-jwt',
      ];
      const v = verifier();
      for (const header of headers) expect(await verdict(header, v), String(header)).toBe(await serverVerdict(header));
    });

    it('are refused once expired, exactly when the server refuses them (5 s of clock tolerance)', async () => {
      const session = await app.caller().auth.register(newUser());
      const header = `Bearer ${session.accessToken}`;
      const lifetime = (session.accessTokenExpiresAt.getTime() - app.clock.now().getTime()) / 1000;
      const v = verifier();
      app.clock.advance(lifetime + 4);
      expect(await verdict(header, v)).toBe('accepted');
      expect(await serverVerdict(header)).toBe('accepted');
      app.clock.advance(2);
      expect(await verdict(header, v)).toBe('ACCESS_TOKEN_EXPIRED');
      expect(await serverVerdict(header)).toBe('ACCESS_TOKEN_EXPIRED');
    });

    it('are refused when the verifier expects another issuer or audience', async () => {
      const { accessToken } = await app.caller().auth.register(newUser());
      expect(await verdict(accessToken, verifier({ issuer: 'elsewhere' }))).toBe('ACCESS_TOKEN_INVALID');
      expect(await verdict(accessToken, verifier({ audience: 'elsewhere' }))).toBe('ACCESS_TOKEN_INVALID');
      expect(await verdict(accessToken, verifier({ issuer: 'latchkey', audience: 'latchkey' }))).toBe('accepted');
    });
  });

  describe('forged and malformed tokens (the server’s own cases)', () => {
    it('are each refused with the code the server refuses them with', async () => {
      const cases = await forgedAccessTokens(TEST_SECRET, app.clock.now(), alg);
      expect(cases.length).toBeGreaterThan(20);
      const v = verifier();
      expect(await verdict(await validAccessToken(TEST_SECRET, app.clock.now(), alg), v)).toBe('accepted');
      for (const { name, token, appCode } of cases) {
        expect(await verdict(token, v), name).toBe(appCode);
        expect(await verdict(`Bearer ${token}`, v), name).toBe(appCode);
        expect(await serverVerdict(`Bearer ${token}`), name).toBe(appCode);
      }
    });

    it('keep why they failed in the error’s cause, not in its message', async () => {
      const [wrongIssuer] = (await forgedAccessTokens(TEST_SECRET, app.clock.now(), alg)).filter((c) => c.name === 'wrong iss');
      const error = await verifier()
        .verify(wrongIssuer?.token)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VerifyError);
      expect(error).toMatchObject({ name: 'VerifyError', code: 'ACCESS_TOKEN_INVALID', message: 'The access token is invalid' });
      expect(String((error as VerifyError).cause)).toMatch(/iss/);
    });
  });

  it('refuses the tokens of the other algorithm, signed with the same secret', async () => {
    const other = alg === 'EdDSA' ? 'HS256' : 'EdDSA';
    expect(await verdict(await validAccessToken(TEST_SECRET, app.clock.now(), other), verifier())).toBe('ACCESS_TOKEN_INVALID');
  });
});

describe('createVerifier({ jwksUrl })', () => {
  let app: ServedApp;
  beforeAll(async () => {
    app = await servedApp(database);
  });
  afterAll(async () => {
    await app?.close();
  });
  const jwksFetches = () => app.requests.filter((r) => r.path === '/.well-known/jwks.json').length;
  const now = () => app.clock.now();

  /** A token signed by a key the server does not have, under its own kid. */
  async function unknownKidToken(): Promise<string> {
    const { privateKey } = await generateKeyPair('EdDSA');
    const kid = `stranger-${randomUUID()}`;
    return new SignJWT({ sid: randomUUID() })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .setSubject(randomUUID())
      .setIssuer('latchkey')
      .setAudience('latchkey')
      .setIssuedAt(Math.floor(now().getTime() / 1000))
      .setExpirationTime(Math.floor(now().getTime() / 1000) + 900)
      .setJti(randomUUID())
      .sign(privateKey);
  }

  it('fetches the key set once and then verifies from its cache', async () => {
    const v = createVerifier({ jwksUrl: jwksUrlOf(app), now });
    const before = jwksFetches();
    for (let i = 0; i < 5; i++) {
      const { accessToken } = await app.caller().auth.register(newUser('cached'));
      expect(await verdict(accessToken, v)).toBe('accepted');
    }
    expect(jwksFetches() - before).toBe(1);
  });

  it('an unknown kid is ACCESS_TOKEN_INVALID and refetches no more often than the cooldown allows', async () => {
    const v = createVerifier({ jwksUrl: jwksUrlOf(app), now });
    const { accessToken } = await app.caller().auth.register(newUser('kid'));
    expect(await verdict(accessToken, v)).toBe('accepted');
    const before = jwksFetches();
    // Within the (default, 30 s) cooldown of the first fetch: refused without asking again.
    for (let i = 0; i < 5; i++) expect(await verdict(await unknownKidToken(), v)).toBe('ACCESS_TOKEN_INVALID');
    expect(jwksFetches() - before).toBe(0);
  });

  it('with no cooldown, each unknown kid refetches once, and only once', async () => {
    const v = createVerifier({ jwksUrl: jwksUrlOf(app), now, jwks: { cooldownSeconds: 0 } });
    const { accessToken } = await app.caller().auth.register(newUser('nocooldown'));
    expect(await verdict(accessToken, v)).toBe('accepted');
    const before = jwksFetches();
    for (let i = 0; i < 3; i++) expect(await verdict(await unknownKidToken(), v)).toBe('ACCESS_TOKEN_INVALID');
    expect(jwksFetches() - before).toBe(3);
  });

  it('picks up a key added after rotation through the refetch an unknown kid causes', async () => {
    // A stand-in for the server's JWKS, whose content changes as a rotation would change it.
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const newKey = { ...(await exportJWK(publicKey)), kid: 'the-new-key', alg: 'EdDSA', use: 'sig' };
    const served = (await (await fetch(jwksUrlOf(app))).json()) as { keys: unknown[] };
    let keys = served.keys;
    const stand = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    const url = await listen(stand);
    try {
      const v = createVerifier({ jwksUrl: `${url}/jwks.json`, now, jwks: { cooldownSeconds: 0 } });
      const { accessToken } = await app.caller().auth.register(newUser('rotation'));
      expect(await verdict(accessToken, v)).toBe('accepted');
      const token = await new SignJWT({ sid: randomUUID() })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'the-new-key' })
        .setSubject(randomUUID())
        .setIssuer('latchkey')
        .setAudience('latchkey')
        .setIssuedAt(Math.floor(now().getTime() / 1000))
        .setExpirationTime(Math.floor(now().getTime() / 1000) + 900)
        .setJti(randomUUID())
        .sign(privateKey);
      expect(await verdict(token, v)).toBe('ACCESS_TOKEN_INVALID');
      keys = [newKey, ...served.keys];
      expect(await verdict(token, v)).toBe('accepted');
      expect(await verdict(accessToken, v)).toBe('accepted');
    } finally {
      await stop(stand);
    }
  });

  it('never fetches what a token header points to (jku, x5u, jwk)', async () => {
    let fetched = 0;
    const elsewhere = createServer((_req, res) => {
      fetched += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    const url = await listen(elsewhere);
    try {
      const v = createVerifier({ jwksUrl: jwksUrlOf(app), now, jwks: { cooldownSeconds: 0 } });
      const cases = await forgedAccessTokens(TEST_SECRET, now(), 'EdDSA', `${url}/jwks.json`);
      const pointing = cases.filter((c) => /jku|x5u|jwk/.test(c.name));
      expect(pointing.length).toBeGreaterThanOrEqual(4);
      for (const { name, token } of pointing) expect(await verdict(token, v), name).toBe('ACCESS_TOKEN_INVALID');
      expect(fetched).toBe(0);
    } finally {
      await stop(elsewhere);
    }
  });

  it('rejects (not refuses) while the key set cannot be fetched, and withAuth answers 503', async () => {
    // Nothing listens on port 1.
    const v = createVerifier({ jwksUrl: 'http://127.0.0.1:1/.well-known/jwks.json', now });
    const { accessToken } = await app.caller().auth.register(newUser('unreachable'));
    const error = await v.verify(accessToken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeySetUnavailableError);
    const failures: unknown[] = [];
    const server = createServer(withAuth(v, (_req, res) => void res.end('let through'), { onError: (e) => failures.push(e) }));
    const url = await listen(server);
    try {
      const response = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(response.status).toBe(503);
      expect(failures).toHaveLength(1);
    } finally {
      await stop(server);
    }
  });

  it('takes one way of verifying: jwksUrl or secret, an http(s) URL, sane durations', () => {
    expect(() => createVerifier({ jwksUrl: jwksUrlOf(app), secret: TEST_SECRET } as unknown as VerifierOptions)).toThrow(TypeError);
    expect(() => createVerifier({} as VerifierOptions)).toThrow(TypeError);
    expect(() => createVerifier({ jwksUrl: 'file:///etc/keys.json' })).toThrow(TypeError);
    expect(() => createVerifier({ jwksUrl: 'not a url' })).toThrow(TypeError);
    expect(() => createVerifier({ jwksUrl: jwksUrlOf(app), jwks: { cooldownSeconds: -1 } })).toThrow(RangeError);
    expect(() => createVerifier({ jwksUrl: new URL(jwksUrlOf(app)) })).not.toThrow();
  });
});

describe('options', () => {
  const sign = (exp: number) =>
    new SignJWT({ sid: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(randomUUID())
      .setIssuer('latchkey')
      .setAudience('latchkey')
      .setIssuedAt(exp - 900)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(TEST_SECRET));

  it('clockToleranceSeconds narrows or widens the grace after expiry, up to 60 s', async () => {
    const exp = Math.floor(Date.UTC(2030, 0, 1) / 1000);
    const token = await sign(exp);
    const at = (seconds: number) => () => new Date((exp + seconds) * 1000);
    expect(await verdict(token, createVerifier({ secret: TEST_SECRET, now: at(-1), clockToleranceSeconds: 0 }))).toBe('accepted');
    expect(await verdict(token, createVerifier({ secret: TEST_SECRET, now: at(0), clockToleranceSeconds: 0 }))).toBe(
      'ACCESS_TOKEN_EXPIRED',
    );
    expect(await verdict(token, createVerifier({ secret: TEST_SECRET, now: at(59), clockToleranceSeconds: 60 }))).toBe('accepted');
    expect(() => createVerifier({ secret: TEST_SECRET, clockToleranceSeconds: 61 })).toThrow(RangeError);
    expect(() => createVerifier({ secret: TEST_SECRET, clockToleranceSeconds: -1 })).toThrow(RangeError);
    expect(() => createVerifier({ secret: TEST_SECRET, clockToleranceSeconds: Number.NaN })).toThrow(RangeError);
  });

  it('refuses a secret shorter than the 32 bytes the server requires', () => {
    expect(() => createVerifier({ secret: 'short' })).toThrow(RangeError);
    expect(() => createVerifier({ secret: TEST_SECRET })).not.toThrow();
  });

  it('a closed verifier refuses to answer rather than answer without its revocation list', async () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const v = createVerifier({ secret: TEST_SECRET, now: () => at });
    const accessToken = await validAccessToken(TEST_SECRET, at, 'HS256');
    expect(await verdict(accessToken, v)).toBe('accepted');
    expect(v.revocationStatus).toBe('off');
    await v.close();
    await expect(v.verify(accessToken)).rejects.toThrow(/closed/);
  });
});
