import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { FORGED_SESSION_ID, FORGED_USER_ID, forgedAccessTokens, validAccessToken } from '../../test/fixtures/forged-access-tokens.js';
import { ManualClock } from './clock.js';
import { type AppCode, AppError } from './errors.js';
import { createAccessTokens } from './jwt.js';

const SECRET = 'jwt-test-secret-that-is-at-least-32-bytes';
const TTL_SECONDS = 900;
const START = new Date('2026-03-04T05:06:07.890Z');
const USER_ID = '3f2b8c1d-7a64-4e19-b0c5-d8e7f6a5b4c3';
const SESSION_ID = 'a1b2c3d4-e5f6-4789-8abc-def012345678';
const FORGED = await forgedAccessTokens(SECRET, START);
/** A password login at the start of the test. */
const PROOF = { authTime: START, authMethods: ['pwd'] } as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function setup() {
  const clock = new ManualClock(START);
  return { clock, tokens: createAccessTokens({ secret: SECRET, ttlSeconds: TTL_SECONDS, clock }) };
}

/** The appCode a verification was refused with; fails the test if it succeeded or threw anything else. */
async function refusal(promise: Promise<unknown>): Promise<AppCode> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ rejected: error }),
  );
  if (!('rejected' in outcome)) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.resolved)}`);
  if (!(outcome.rejected instanceof AppError)) throw new Error(`expected an AppError, got ${String(outcome.rejected)}`);
  return outcome.rejected.appCode;
}

describe('access tokens', () => {
  it('verify returns the user id, session id and expiry that sign put in', async () => {
    const { tokens } = setup();
    const signed = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    const claims = await tokens.verify(signed.token);

    expect(claims).toEqual({
      userId: USER_ID,
      sessionId: SESSION_ID,
      expiresAt: signed.expiresAt,
      authTime: new Date(Math.floor(START.getTime() / 1000) * 1000),
      authMethods: ['pwd'],
      assuranceLevel: 1,
    });
    expect(signed.expiresAt.getTime()).toBe(Math.floor(START.getTime() / 1000) * 1000 + TTL_SECONDS * 1000);
  });

  it('the header says alg HS256 and typ at+jwt', async () => {
    const { tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'at+jwt' });
  });

  it('another service verifies a token with jose and the UTF-8 bytes of JWT_SECRET, with every option pinned', async () => {
    const { tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      issuer: 'latchkey',
      audience: 'latchkey',
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
      currentDate: START,
    });

    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: USER_ID, sid: SESSION_ID });
    await expect(jwtVerify(token, new TextEncoder().encode(`${SECRET}x`), { currentDate: START })).rejects.toThrow('signature');
  });

  it('the claims are sub, sid, iat, exp, iss, aud, jti, auth_time, amr and aal', async () => {
    const { tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });
    const iat = Math.floor(START.getTime() / 1000);

    const claims = decodeJwt(token);

    expect(claims).toEqual({
      sub: USER_ID,
      sid: SESSION_ID,
      iat,
      exp: iat + TTL_SECONDS,
      iss: 'latchkey',
      aud: 'latchkey',
      jti: expect.stringMatching(UUID),
      auth_time: iat,
      amr: ['pwd'],
      aal: 1,
    });
  });

  it('auth_time is the proof given, never later than iat; two methods with mfa are aal 2', async () => {
    const { clock, tokens } = setup();
    clock.advance(600);
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, authTime: START, authMethods: ['pwd', 'otp', 'mfa'] });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ auth_time: Math.floor(START.getTime() / 1000), amr: ['pwd', 'otp', 'mfa'], aal: 2 });
    expect(claims.iat).toBe(Math.floor(START.getTime() / 1000) + 600);
  });

  it('each token gets its own jti', async () => {
    const { tokens } = setup();
    const first = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });
    const second = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(decodeJwt(first.token).jti).not.toBe(decodeJwt(second.token).jti);
  });

  it('a token is still accepted 4 s after exp (clock tolerance) and expired 6 s after', async () => {
    const { clock, tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    clock.advance(TTL_SECONDS + 4);
    await expect(tokens.verify(token)).resolves.toMatchObject({ userId: USER_ID });

    clock.advance(2);
    expect(await refusal(tokens.verify(token))).toBe('ACCESS_TOKEN_EXPIRED');
  });

  it('a token signed by another instance with the same secret is accepted', async () => {
    const clock = new ManualClock(START);
    const other = createAccessTokens({ secret: SECRET, ttlSeconds: TTL_SECONDS, clock });
    const { token } = await other.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    await expect(setup().tokens.verify(token)).resolves.toMatchObject({ userId: USER_ID, sessionId: SESSION_ID });
  });
});

describe('forged access tokens', () => {
  it('the fixture baseline is accepted, so each refusal below is caused by its one difference', async () => {
    const { tokens } = setup();

    await expect(tokens.verify(await validAccessToken(SECRET, START))).resolves.toMatchObject({
      userId: FORGED_USER_ID,
      sessionId: FORGED_SESSION_ID,
    });
  });

  it.each(FORGED)('refuses a token with $name as $appCode', async ({ token, appCode }) => {
    const { tokens } = setup();

    expect(await refusal(tokens.verify(token))).toBe(appCode);
  });
});

describe('the verified-token cache', () => {
  it('never serves a token past its expiry', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const tokens = createAccessTokens({ secret: 'a'.repeat(40), ttlSeconds: 60, clock });
    const { token } = await tokens.sign({
      userId: '00000000-0000-4000-8000-000000000001',
      sessionId: '00000000-0000-4000-8000-000000000002',
      ...PROOF,
    });
    await expect(tokens.verify(token)).resolves.toHaveProperty('userId');
    await expect(tokens.verify(token)).resolves.toHaveProperty('userId'); // from the cache
    clock.advance(60 + 6);
    await expect(tokens.verify(token)).rejects.toMatchObject({ appCode: 'ACCESS_TOKEN_EXPIRED' });
  });

  it('remembers only tokens that verified', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const tokens = createAccessTokens({ secret: 'a'.repeat(40), ttlSeconds: 60, clock });
    const { token } = await tokens.sign({
      userId: '00000000-0000-4000-8000-000000000001',
      sessionId: '00000000-0000-4000-8000-000000000002',
      ...PROOF,
    });
    const tampered = `${token.slice(0, -3)}${token.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    await expect(tokens.verify(tampered)).rejects.toMatchObject({ appCode: 'ACCESS_TOKEN_INVALID' });
    await expect(tokens.verify(tampered)).rejects.toMatchObject({ appCode: 'ACCESS_TOKEN_INVALID' });
  });
});
