import { describe, expect, it } from 'vitest';
import { accessTokenClaims, jwtVerifyOptions, type VerifiedJwt, verifyAccessToken } from './access-token.js';

const NOW = new Date('2026-03-04T05:06:07Z');
const IAT = Math.floor(NOW.getTime() / 1000);
const USER_ID = '3f2b8c1d-7a64-4e19-b0c5-d8e7f6a5b4c3';
const SESSION_ID = 'a1b2c3d4-e5f6-4789-8abc-def012345678';
const HS256 = { algorithm: 'HS256' } as const;
const EDDSA = { algorithm: 'EdDSA' } as const;

function verified(payload: Record<string, unknown> = {}, header: Record<string, unknown> = {}): VerifiedJwt {
  const claims: Record<string, unknown> = {
    sub: USER_ID,
    sid: SESSION_ID,
    iss: 'latchkey',
    aud: 'latchkey',
    iat: IAT,
    exp: IAT + 900,
    jti: 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b',
  };
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return { payload: claims, protectedHeader: { alg: 'HS256', typ: 'at+jwt', ...header } };
}

describe('jwtVerifyOptions', () => {
  it('pins the algorithm, typ, issuer, audience, required claims and clock tolerance', () => {
    expect(jwtVerifyOptions(HS256, NOW)).toEqual({
      algorithms: ['HS256'],
      typ: 'at+jwt',
      issuer: 'latchkey',
      audience: 'latchkey',
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
      clockTolerance: 5,
      currentDate: NOW,
    });
    expect(jwtVerifyOptions({ algorithm: 'EdDSA', issuer: 'i', audience: 'a', clockToleranceSeconds: 0 }, NOW)).toMatchObject({
      algorithms: ['EdDSA'],
      issuer: 'i',
      audience: 'a',
      clockTolerance: 0,
    });
  });
});

describe('accessTokenClaims', () => {
  it('maps sub, sid and exp to the user, the session and the expiry', () => {
    expect(accessTokenClaims(verified(), HS256)).toEqual({
      ok: true,
      claims: {
        userId: USER_ID,
        sessionId: SESSION_ID,
        expiresAt: new Date((IAT + 900) * 1000),
        authTime: new Date(0),
        authMethods: [],
        assuranceLevel: 1,
      },
    });
  });

  it('maps auth_time, amr and aal to the last proof of identity, its methods and the assurance level', () => {
    const checked = accessTokenClaims(verified({ auth_time: IAT - 60, amr: ['pwd', 'otp', 'mfa'], aal: 2 }), HS256);
    expect(checked).toMatchObject({
      ok: true,
      claims: { authTime: new Date((IAT - 60) * 1000), authMethods: ['pwd', 'otp', 'mfa'], assuranceLevel: 2 },
    });
  });

  it.each([
    ['auth_time after iat', { auth_time: IAT + 60 }],
    ['auth_time a string', { auth_time: String(IAT) }],
    ['amr not a list', { amr: 'pwd' }],
    ['amr with an unknown method', { amr: ['pwd', 'magic'] }],
    ['aal 3', { aal: 3 }],
  ])('refuses a token whose %s', (_name, payload) => {
    expect(accessTokenClaims(verified(payload), HS256).ok).toBe(false);
  });

  it('accepts typ as jose compares it, and aud as a list that names this audience', () => {
    expect(accessTokenClaims(verified({}, { typ: 'application/AT+JWT' }), HS256).ok).toBe(true);
    expect(accessTokenClaims(verified({ aud: ['other', 'latchkey'] }), HS256).ok).toBe(true);
  });

  it.each([
    ['typ JWT', verified({}, { typ: 'JWT' }), 'typ'],
    ['no typ', verified({}, { typ: undefined }), 'typ'],
    ['alg HS512', verified({}, { alg: 'HS512' }), 'alg'],
    ['wrong iss', verified({ iss: 'someone-else' }), 'iss'],
    ['no iss', verified({ iss: undefined }), 'iss'],
    ['wrong aud', verified({ aud: 'another-service' }), 'aud'],
    ['aud list without this audience', verified({ aud: ['another-service'] }), 'aud'],
    ['no exp', verified({ exp: undefined }), 'exp'],
    ['exp not a number', verified({ exp: '2030-01-01' }), 'exp'],
    ['no iat', verified({ iat: undefined }), 'iat'],
    ['no jti', verified({ jti: undefined }), 'jti'],
    ['no sub', verified({ sub: undefined }), 'sub'],
    ['sub not a UUID', verified({ sub: 'admin' }), 'sub'],
    ['sub an upper-case UUID', verified({ sub: USER_ID.toUpperCase() }), 'sub'],
    ['no sid', verified({ sid: undefined }), 'sid'],
    ['sid not a UUID', verified({ sid: 1 }), 'sid'],
  ])('refuses a token with %s', (_name, token, problem) => {
    const checked = accessTokenClaims(token, HS256);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.problem).toContain(problem);
  });

  it('checks the issuer and audience the policy names, not the defaults', () => {
    expect(accessTokenClaims(verified(), { ...HS256, issuer: 'elsewhere' }).ok).toBe(false);
    expect(accessTokenClaims(verified(), { ...HS256, audience: 'elsewhere' }).ok).toBe(false);
    expect(accessTokenClaims(verified({ iss: 'i', aud: 'a' }), { ...HS256, issuer: 'i', audience: 'a' }).ok).toBe(true);
  });

  it('accepts only the algorithm the policy names, whatever the token says', () => {
    expect(accessTokenClaims(verified({}, { alg: 'EdDSA', kid: 'k' }), EDDSA).ok).toBe(true);
    expect(accessTokenClaims(verified({}, { alg: 'EdDSA', kid: 'k' }), HS256)).toEqual({ ok: false, problem: 'alg is not HS256' });
    expect(accessTokenClaims(verified({}, { alg: 'HS256', kid: 'k' }), EDDSA)).toEqual({ ok: false, problem: 'alg is not EdDSA' });
  });

  it('refuses an EdDSA token that names no kid', () => {
    expect(accessTokenClaims(verified({}, { alg: 'EdDSA' }), EDDSA)).toEqual({ ok: false, problem: 'no kid' });
  });

  it.each(['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64'])('refuses a token whose header carries %s', (parameter) => {
    const header = { alg: 'EdDSA', kid: 'k', [parameter]: 'https://attacker.example/keys' };
    expect(accessTokenClaims(verified({}, header), EDDSA)).toEqual({ ok: false, problem: `unexpected header parameter ${parameter}` });
  });
});

describe('verifyAccessToken', () => {
  it('hands jose the pinned options and returns the claims of what it verified', async () => {
    const seen: unknown[] = [];
    const verdict = await verifyAccessToken(
      'the-token',
      async (token, options) => {
        seen.push(token, options);
        return verified();
      },
      { ...HS256, now: NOW },
    );
    expect(verdict).toEqual({
      ok: true,
      claims: {
        userId: USER_ID,
        sessionId: SESSION_ID,
        expiresAt: new Date((IAT + 900) * 1000),
        authTime: new Date(0),
        authMethods: [],
        assuranceLevel: 1,
      },
    });
    expect(seen).toEqual(['the-token', jwtVerifyOptions(HS256, NOW)]);
  });

  it("refuses as ACCESS_TOKEN_EXPIRED only for jose's expiry, keeping jose's error as the cause", async () => {
    const expired = Object.assign(new Error('"exp" claim timestamp check failed'), { code: 'ERR_JWT_EXPIRED' });
    const other = Object.assign(new Error('signature verification failed'), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    await expect(verifyAccessToken('t', () => Promise.reject(expired), { ...HS256, now: NOW })).resolves.toEqual({
      ok: false,
      appCode: 'ACCESS_TOKEN_EXPIRED',
      cause: expired,
    });
    await expect(verifyAccessToken('t', () => Promise.reject(other), { ...HS256, now: NOW })).resolves.toEqual({
      ok: false,
      appCode: 'ACCESS_TOKEN_INVALID',
      cause: other,
    });
  });

  it('refuses as ACCESS_TOKEN_INVALID what jose let through but the contract does not', async () => {
    const verdict = await verifyAccessToken('t', async () => verified({ sub: 'admin' }), { ...HS256, now: NOW });
    expect(verdict).toMatchObject({ ok: false, appCode: 'ACCESS_TOKEN_INVALID' });
    expect(String(!verdict.ok && verdict.cause)).toMatch(/sub/);
  });
});
