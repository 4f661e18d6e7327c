import { randomUUID } from 'node:crypto';
import {
  migratedTestDatabase,
  newUser,
  TEST_JWT_SECRET as TEST_SECRET,
  type TestApp,
  type TestDatabase,
  testApp,
} from '@latchkey/server/testing';
import { forgedAccessTokens } from '@latchkey/server/testing/forged-access-tokens';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Claims, createVerifier, isVerifyError, VerifyError, type VerifyErrorCode } from '../src/index.js';

let database: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // The server's clock stands still at 2026-01-01 until a test moves it; the verifier reads the same clock.
  app = await testApp(database);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

const verifier = () => createVerifier({ secret: TEST_SECRET, now: () => app.clock.now() });

/** The code the verifier refuses with, or `accepted`. */
async function verdict(input: string | undefined, v = verifier()): Promise<VerifyErrorCode | 'accepted'> {
  try {
    await v.verify(input);
    return 'accepted';
  } catch (error) {
    if (isVerifyError(error)) return error.code;
    throw error;
  }
}

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
  it('are accepted, with the user, the session and the expiry the server gave them', async () => {
    const session = await app.caller().auth.register(newUser());
    const claims: Claims = await verifier().verify(session.accessToken);
    expect(claims).toEqual({
      userId: session.user.id,
      sessionId: await sessionIdOf(session.user.id),
      expiresAt: session.accessTokenExpiresAt,
    });
  });

  it('are accepted from an Authorization header with the Bearer or Token scheme, in any case', async () => {
    const { accessToken } = await app.caller().auth.register(newUser());
    for (const header of [`Bearer ${accessToken}`, `Token ${accessToken}`, `bearer ${accessToken}`, `TOKEN\t${accessToken} `]) {
      expect(await verdict(header), header).toBe('accepted');
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
    for (const header of headers) expect(await verdict(header), String(header)).toBe(await serverVerdict(header));
  });

  it('are refused once expired, exactly when the server refuses them (5 s of clock tolerance)', async () => {
    const session = await app.caller().auth.register(newUser());
    const header = `Bearer ${session.accessToken}`;
    const lifetime = (session.accessTokenExpiresAt.getTime() - app.clock.now().getTime()) / 1000;
    app.clock.advance(lifetime + 4);
    expect(await verdict(header)).toBe('accepted');
    expect(await serverVerdict(header)).toBe('accepted');
    app.clock.advance(2);
    expect(await verdict(header)).toBe('ACCESS_TOKEN_EXPIRED');
    expect(await serverVerdict(header)).toBe('ACCESS_TOKEN_EXPIRED');
  });

  it('are refused when the verifier expects another issuer or audience', async () => {
    const { accessToken } = await app.caller().auth.register(newUser());
    const now = () => app.clock.now();
    expect(await verdict(accessToken, createVerifier({ secret: TEST_SECRET, now, issuer: 'elsewhere' }))).toBe('ACCESS_TOKEN_INVALID');
    expect(await verdict(accessToken, createVerifier({ secret: TEST_SECRET, now, audience: 'elsewhere' }))).toBe('ACCESS_TOKEN_INVALID');
    expect(await verdict(accessToken, createVerifier({ secret: TEST_SECRET, now, issuer: 'latchkey', audience: 'latchkey' }))).toBe(
      'accepted',
    );
  });
});

describe('forged and malformed tokens (the server’s own cases)', () => {
  it('are each refused with the code the server refuses them with', async () => {
    const cases = await forgedAccessTokens(TEST_SECRET, app.clock.now());
    expect(cases.length).toBeGreaterThan(20);
    for (const { name, token, appCode } of cases) {
      expect(await verdict(token), name).toBe(appCode);
      expect(await verdict(`Bearer ${token}`), name).toBe(appCode);
      expect(await serverVerdict(`Bearer ${token}`), name).toBe(appCode);
    }
  });

  it('keep why they failed in the error’s cause, not in its message', async () => {
    const [wrongIssuer] = (await forgedAccessTokens(TEST_SECRET, app.clock.now())).filter((c) => c.name === 'wrong iss');
    const error = await verifier()
      .verify(wrongIssuer?.token)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerifyError);
    expect(error).toMatchObject({ name: 'VerifyError', code: 'ACCESS_TOKEN_INVALID', message: 'The access token is invalid' });
    expect(String((error as VerifyError).cause)).toMatch(/iss/);
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
    const v = verifier();
    const { accessToken } = await app.caller().auth.register(newUser());
    expect(await verdict(accessToken, v)).toBe('accepted');
    expect(v.revocationStatus).toBe('off');
    await v.close();
    await expect(v.verify(accessToken)).rejects.toThrow(/closed/);
  });
});
