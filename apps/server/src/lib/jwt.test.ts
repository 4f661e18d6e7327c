import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { FORGED_SESSION_ID, FORGED_USER_ID, forgedAccessTokens, validAccessToken } from '../../test/fixtures/forged-access-tokens.js';
import { ManualClock } from './clock.js';
import { type AppCode, AppError } from './errors.js';
import { createAccessTokens } from './jwt.js';
import { type AccessTokenKeys, accessTokenKeys, ed25519KeyPair } from './keys.js';

const SECRET = 'jwt-test-secret-that-is-at-least-32-bytes';
const TTL_SECONDS = 900;
const START = new Date('2026-03-04T05:06:07.890Z');
const USER_ID = '3f2b8c1d-7a64-4e19-b0c5-d8e7f6a5b4c3';
const SESSION_ID = 'a1b2c3d4-e5f6-4789-8abc-def012345678';
const NEXT_SECRET = 'the-secret-jwt-test-rotates-to-of-32-bytes';
/** A password login at the start of the test. */
const PROOF = { authTime: START, authMethods: ['pwd'] } as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KID = ed25519KeyPair(SECRET).jwk.kid;

const EDDSA = accessTokenKeys({ current: SECRET }, 'EdDSA');
const HS256 = accessTokenKeys({ current: SECRET }, 'HS256');

function setup(keys: AccessTokenKeys = EDDSA) {
  const clock = new ManualClock(START);
  return { clock, tokens: createAccessTokens({ keys, ttlSeconds: TTL_SECONDS, clock }) };
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

  it('the header says alg EdDSA, typ at+jwt and the kid of the key JWT_SECRET derives', async () => {
    const { tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: KID });
  });

  it('another service verifies an EdDSA token with jose and the published JWKS alone, with every option pinned', async () => {
    const { tokens } = setup();
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });
    const options = {
      algorithms: ['EdDSA'],
      issuer: 'latchkey',
      audience: 'latchkey',
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
      currentDate: START,
    };

    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [...EDDSA.jwks.keys] }), options);

    expect(payload).toMatchObject({ sub: USER_ID, sid: SESSION_ID });
    const otherKeys = { keys: [...accessTokenKeys({ current: NEXT_SECRET }, 'EdDSA').jwks.keys] };
    await expect(jwtVerify(token, createLocalJWKSet(otherKeys), options)).rejects.toThrow(/no applicable key/);
  });

  it('with HS256 the header says alg HS256 and typ at+jwt, and names no kid (the tutorial model)', async () => {
    const { tokens } = setup(HS256);
    const { token } = await tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'at+jwt' });
  });

  it('another service verifies an HS256 token with jose and the UTF-8 bytes of JWT_SECRET, with every option pinned', async () => {
    const { tokens } = setup(HS256);
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
    const other = createAccessTokens({ keys: accessTokenKeys({ current: SECRET }, 'EdDSA'), ttlSeconds: TTL_SECONDS, clock });
    const { token } = await other.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    await expect(setup().tokens.verify(token)).resolves.toMatchObject({ userId: USER_ID, sessionId: SESSION_ID });
  });
});

describe.each([
  ['EdDSA', EDDSA],
  ['HS256', HS256],
] as const)('forged access tokens (%s)', async (alg, keys) => {
  const forged = await forgedAccessTokens(SECRET, START, alg);

  it('the fixture baseline is accepted, so each refusal below is caused by its one difference', async () => {
    const { tokens } = setup(keys);

    await expect(tokens.verify(await validAccessToken(SECRET, START, alg))).resolves.toMatchObject({
      userId: FORGED_USER_ID,
      sessionId: FORGED_SESSION_ID,
    });
  });

  it.each(forged)('refuses a token with $name as $appCode', async ({ token, appCode }) => {
    const { tokens } = setup(keys);

    expect(await refusal(tokens.verify(token))).toBe(appCode);
  });
});

describe('across a rotation of JWT_SECRET (JWT_SECRET_PREVIOUS)', () => {
  const rotated = (alg: 'EdDSA' | 'HS256', previous?: string) => {
    const clock = new ManualClock(START);
    return createAccessTokens({ keys: accessTokenKeys({ current: NEXT_SECRET, previous }, alg), ttlSeconds: TTL_SECONDS, clock });
  };

  it.each(['EdDSA', 'HS256'] as const)(
    '%s: a token signed before the rotation is accepted while the previous secret is set',
    async (alg) => {
      const { token } = await setup(alg === 'EdDSA' ? EDDSA : HS256).tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

      await expect(rotated(alg, SECRET).verify(token)).resolves.toMatchObject({ userId: USER_ID, sessionId: SESSION_ID });
      expect(await refusal(rotated(alg).verify(token))).toBe('ACCESS_TOKEN_INVALID');
    },
  );

  it('new EdDSA tokens carry the new kid, and a server that never knew the new secret refuses them', async () => {
    const { token } = await rotated('EdDSA', SECRET).sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(decodeProtectedHeader(token).kid).toBe(ed25519KeyPair(NEXT_SECRET).jwk.kid);
    expect(await refusal(setup().tokens.verify(token))).toBe('ACCESS_TOKEN_INVALID');
  });

  it('HS256: new tokens are signed with the current secret only', async () => {
    const { token } = await rotated('HS256', SECRET).sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });

    expect(await refusal(setup(HS256).tokens.verify(token))).toBe('ACCESS_TOKEN_INVALID');
    await expect(rotated('HS256').verify(token)).resolves.toMatchObject({ userId: USER_ID });
  });

  it('an expired token of the previous secret is ACCESS_TOKEN_EXPIRED, as before the rotation', async () => {
    for (const alg of ['EdDSA', 'HS256'] as const) {
      const old = setup(alg === 'EdDSA' ? EDDSA : HS256);
      const { token } = await old.tokens.sign({ userId: USER_ID, sessionId: SESSION_ID, ...PROOF });
      const clock = new ManualClock(START);
      const tokens = createAccessTokens({ keys: accessTokenKeys({ current: NEXT_SECRET, previous: SECRET }, alg), ttlSeconds: 60, clock });
      clock.advance(TTL_SECONDS + 6);
      expect(await refusal(tokens.verify(token)), alg).toBe('ACCESS_TOKEN_EXPIRED');
    }
  });
});

describe('the verified-token cache', () => {
  it('never serves a token past its expiry', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const tokens = createAccessTokens({ keys: accessTokenKeys({ current: 'a'.repeat(40) }, 'EdDSA'), ttlSeconds: 60, clock });
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
    const tokens = createAccessTokens({ keys: accessTokenKeys({ current: 'a'.repeat(40) }, 'EdDSA'), ttlSeconds: 60, clock });
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
