/**
 * The second factor over REST (issue 17): the twins of auth.mfa.* under /api/user/mfa, the login
 * that answers `mfa_required` and its second step at /api/users/login/mfa, and re-authentication
 * with a code. Codes are computed here by an RFC 6238 of this file's own (node:crypto), as
 * test/mfa.test.ts does, never by otplib.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../src/http/openapi.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { sessionResponse } from '../src/http/rest/schemas.js';
import { fromBase32, totpCode } from '../src/testing.js';
import { newUser, servedForFile } from './helpers/app.js';
import { type CallOptions, expectErrors } from './helpers/rest.js';

// Behind a proxy: each REST call comes from an X-Forwarded-For of its own, so the per-address and
// per-(account, address) counts of one test never meet another's.
const file = servedForFile({ env: { TRUST_PROXY: 'true' } });

// --- Helpers -------------------------------------------------------------------------------------

const now = () => Math.floor(file.app.clock.now().getTime() / 1000);
/** The code of the authenticator app `offset` steps from now. */
const codeFor = (secret: Buffer, offset = 0) => totpCode(secret, file.app.clock.now(), { offsetSteps: offset });
/** A well-formed code that no step the server accepts now (one either side) gives. */
function wrongCodeFor(secret: Buffer): string {
  const accepted = new Set([-1, 0, 1].map((offset) => codeFor(secret, offset)));
  return ['000000', '111111', '222222', '333333'].find((code) => !accepted.has(code)) ?? '444444';
}
/** Moves the clock to the start of the next step: a code of a step not used yet. */
const nextStep = () => file.app.clock.advance(30 - (now() % 30));

const call = (method: string, path: string, options?: CallOptions) => file.call(method, path, options);
/** A POST without a body, declared as JSON as every POST to /api must be. */
const post = (path: string, token: string) => call('POST', path, { token, raw: '', contentType: 'application/json' });

async function register(label: string) {
  const input = newUser(label);
  const answer = await call('POST', '/api/users', { json: { user: input } });
  expect(answer.status).toBe(201);
  return { input, token: sessionResponse.parse(answer.body).access_token };
}

interface Enrolment {
  factor_id: string;
  secret: string;
  otpauth_uri: string;
}

/** A user with an active authenticator app, set up over REST: its secret and recovery codes. */
async function withTotp(label: string) {
  const { input, token } = await register(label);
  const enrolled = await post('/api/user/mfa/totp', token);
  expect(enrolled.status).toBe(201);
  const { factor_id: factorId, secret: base32 } = enrolled.body as Enrolment;
  const secret = fromBase32(base32);
  const confirmed = await call('POST', '/api/user/mfa/totp/confirm', { token, json: { factor_id: factorId, code: codeFor(secret) } });
  expect(confirmed.status).toBe(200);
  nextStep();
  return { input, token, factorId, secret, recoveryCodes: (confirmed.body as { recovery_codes: string[] }).recovery_codes };
}

/** The `mfa_token` of a login with the right password for an account with a second factor. */
async function mfaTokenOf(input: { email: string; password: string }): Promise<string> {
  const answer = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ mfa_required: true });
  return (answer.body as { mfa_token: string }).mfa_token;
}

describe('setting up an authenticator app over REST', () => {
  it('POST /api/user/mfa/totp answers 201 { factor_id, secret, otpauth_uri }; confirming it answers 10 recovery_codes; GET lists it', async () => {
    const { input, token } = await register('restenrol');
    // A POST without a body still declares JSON: anything else is 415, and sets up nothing.
    expectErrors(await call('POST', '/api/user/mfa/totp', { token }), 415, { body: ['must be JSON (Content-Type: application/json)'] });
    expectErrors(await call('POST', '/api/user/mfa/totp', { token, raw: 'x', contentType: 'text/plain' }), 415, {
      body: ['must be JSON (Content-Type: application/json)'],
    });

    const enrolled = await call('POST', '/api/user/mfa/totp', { token, json: {} });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body).toEqual({
      factor_id: expect.any(String),
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      otpauth_uri: expect.any(String),
    });
    const { factor_id: factorId, secret: base32, otpauth_uri: uri } = enrolled.body as Enrolment;
    const parsed = new URL(uri);
    expect(parsed.protocol).toBe('otpauth:');
    expect(decodeURIComponent(parsed.pathname)).toBe(`/Latchkey:${input.email}`);
    expect(parsed.searchParams.get('secret')).toBe(base32);
    const secret = fromBase32(base32);
    // Pending: not listed yet, and a second set-up meanwhile is a conflict.
    expect(await call('GET', '/api/user/mfa/factors', { token })).toMatchObject({ status: 200, body: { factors: [] } });
    expectErrors(await post('/api/user/mfa/totp', token), 409, { factor: ['is already set up (or being set up)'] }, 'FACTOR_EXISTS');

    // A wrong or malformed code is a form error (422), not the end of the session; a bad id is invalid input.
    const confirm = (body: unknown) => call('POST', '/api/user/mfa/totp/confirm', { token, json: body });
    expectErrors(await confirm({ factor_id: factorId, code: wrongCodeFor(secret) }), 422, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(await confirm({ factor_id: factorId, code: '12ab56' }), 422, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(await confirm({ factor_id: 'x', code: '123456' }), 422, { factor_id: ['is invalid'] }, 'VALIDATION_FAILED');
    expectErrors(await confirm({ factor_id: factorId }), 422, { code: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(await confirm({ factor_id: crypto.randomUUID(), code: '123456' }), 404, { factor: ['not found'] }, 'FACTOR_NOT_FOUND');

    const confirmed = await confirm({ factor_id: factorId, code: `${codeFor(secret).slice(0, 3)} ${codeFor(secret).slice(3)}` });
    expect(confirmed.status).toBe(200);
    const codes = (confirmed.body as { recovery_codes: string[] }).recovery_codes;
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(/^[A-Z2-7]{10}$/);

    const listed = await call('GET', '/api/user/mfa/factors', { token });
    expect(listed).toMatchObject({
      status: 200,
      body: { factors: [{ id: factorId, type: 'totp', created_at: expect.any(String), last_used_at: expect.any(String) }] },
    });
    const [factor] = (listed.body as { factors: { created_at: string; last_used_at: string }[] }).factors;
    expect(new Date(factor?.created_at ?? '').toISOString()).toBe(factor?.created_at);
    // Active now: the same factor is not confirmed twice, and another set-up needs a proof that included it.
    nextStep();
    expectErrors(await confirm({ factor_id: factorId, code: codeFor(secret) }), 404, { factor: ['not found'] }, 'FACTOR_NOT_FOUND');
    expect(await post('/api/user/mfa/totp', token)).toMatchObject({ status: 403, body: { code: 'REAUTHENTICATION_REQUIRED' } });
    const activity = await call('GET', '/api/user/activity', { token });
    expect((activity.body as { events: { type: string }[] }).events.map((event) => event.type)).toContain('mfa.enrolled');
  });

  it('the factor routes need a token; a bad factor id is 422, a percent escape that does not decode too, another path 404', async () => {
    expectErrors(await call('GET', '/api/user/mfa/factors'), 401, { token: ['is missing'] }, 'ACCESS_TOKEN_MISSING');
    expectErrors(
      await call('DELETE', `/api/user/mfa/factors/${crypto.randomUUID()}`),
      401,
      { token: ['is missing'] },
      'ACCESS_TOKEN_MISSING',
    );
    expectErrors(await call('POST', '/api/user/mfa/recovery-codes', { json: {} }), 401, { token: ['is missing'] }, 'ACCESS_TOKEN_MISSING');
    const { token } = await register('restpath');
    for (const id of ['not-a-uuid', '%E0%A4%A', '%7Bfactor_id%7D', 'x'.repeat(3000)]) {
      expectErrors(await call('DELETE', `/api/user/mfa/factors/${id}`, { token }), 422, { factor_id: ['is invalid'] }, 'VALIDATION_FAILED');
    }
    expectErrors(await call('DELETE', `/api/user/mfa/factors/${crypto.randomUUID()}/more`, { token }), 404, { route: ['not found'] });
    expectErrors(await call('DELETE', '/api/user/mfa/factors/', { token }), 404, { route: ['not found'] });
    const wrongMethod = await call('GET', `/api/user/mfa/factors/${crypto.randomUUID()}`, { token });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('DELETE, OPTIONS');
    // No factor at all: removing one or regenerating codes finds nothing.
    expectErrors(
      await call('DELETE', `/api/user/mfa/factors/${crypto.randomUUID()}`, { token }),
      404,
      { factor: ['not found'] },
      'FACTOR_NOT_FOUND',
    );
    expectErrors(await post('/api/user/mfa/recovery-codes', token), 404, { factor: ['not found'] }, 'FACTOR_NOT_FOUND');
  });

  it("another user's factor id is 404 FACTOR_NOT_FOUND, on DELETE and on confirm", async () => {
    const owner = await withTotp('restowner');
    const { token } = await register('restother');
    const path = `/api/user/mfa/factors/${owner.factorId}`;
    expectErrors(await call('DELETE', path, { token }), 404, { factor: ['not found'] }, 'FACTOR_NOT_FOUND');
    expectErrors(
      await call('POST', '/api/user/mfa/totp/confirm', { token, json: { factor_id: owner.factorId, code: codeFor(owner.secret) } }),
      404,
      { factor: ['not found'] },
      'FACTOR_NOT_FOUND',
    );
    expect((await call('GET', '/api/user/mfa/factors', { token: owner.token })).body).toMatchObject({ factors: [{ id: owner.factorId }] });
  });
});

describe('login with a second factor over REST', () => {
  it('POST /api/users/login answers 200 { mfa_required, mfa_token, factors }; POST /api/users/login/mfa the usual user body', async () => {
    const { input, factorId, secret } = await withTotp('restlogin');
    const login = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ mfa_required: true, mfa_token: expect.any(String), factors: [{ id: factorId, type: 'totp' }] });
    const mfaToken = (login.body as { mfa_token: string }).mfa_token;
    // A wrong password is still the usual 401, and asks for nothing.
    expectErrors(
      await call('POST', '/api/users/login', { json: { user: { email: input.email, password: 'not the passphrase at all' } } }),
      401,
      { 'email or password': ['is invalid'] },
      'INVALID_CREDENTIALS',
    );

    // A wrong code is a failed sign-in: 401, without the access-token challenge.
    const wrong = await call('POST', '/api/users/login/mfa', { json: { mfa_token: mfaToken, code: wrongCodeFor(secret) } });
    expectErrors(wrong, 401, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expect(wrong.headers.get('www-authenticate')).toBeNull();

    const verified = await call('POST', '/api/users/login/mfa', { json: { mfa_token: mfaToken, code: codeFor(secret) } });
    expect(verified.status).toBe(200);
    const session = sessionResponse.parse(verified.body);
    expect(Object.keys(verified.body as object).sort()).toEqual(['access_token', 'device_token', 'refresh_token', 'user']);
    expect(session.user).toMatchObject({ email: input.email, username: input.username, token: session.access_token });
    expect(decodeJwt(session.access_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 2 });
    expect(await call('GET', '/api/user', { token: session.access_token })).toMatchObject({
      status: 200,
      body: { user: { email: input.email } },
    });

    // The pending sign-in was used up.
    nextStep();
    expectErrors(
      await call('POST', '/api/users/login/mfa', { json: { mfa_token: mfaToken, code: codeFor(secret) } }),
      401,
      { mfa_token: ['is invalid or was already used'] },
      'MFA_TOKEN_INVALID',
    );
  });

  it('malformed second steps are 4xx with their appCode: a bad code 401 MFA_CODE_INVALID, a missing or double one 422', async () => {
    const { input, secret } = await withTotp('restmalformed');
    const mfaToken = await mfaTokenOf(input);
    const second = (body: unknown) => call('POST', '/api/users/login/mfa', { json: body });
    for (const code of ['12345', 'abcdef', '1234567']) {
      expectErrors(await second({ mfa_token: mfaToken, code }), 401, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    }
    expectErrors(await second({ mfa_token: mfaToken, recovery_code: 'short' }), 401, { recovery_code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(await second({ mfa_token: mfaToken }), 422, { code: ['give one of code, recovery_code or passkey'] }, 'VALIDATION_FAILED');
    expectErrors(
      await second({ mfa_token: mfaToken, code: '123456', recovery_code: 'AAAAAAAAAA' }),
      422,
      { code: ['give one of code, recovery_code or passkey'] },
      'VALIDATION_FAILED',
    );
    expectErrors(await second({ code: '123456' }), 422, { mfa_token: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(await second({ mfa_token: 'x'.repeat(300), code: '123456' }), 422, { mfa_token: ['is invalid'] }, 'VALIDATION_FAILED');
    // Not a string: the code schema's own message (as the password schema's, "can't be blank").
    expect(await second({ mfa_token: mfaToken, code: 123456 })).toMatchObject({
      status: 422,
      body: { errors: { code: [expect.any(String)] }, code: 'VALIDATION_FAILED' },
    });
    expectErrors(await second({ mfa_token: mfaToken, code: 'x'.repeat(100) }), 422, { code: ['is invalid'] }, 'VALIDATION_FAILED');
    expectErrors(
      await second({ mfa_token: 'not-a-token-of-ours', code: '123456' }),
      401,
      { mfa_token: ['is invalid or was already used'] },
      'MFA_TOKEN_INVALID',
    );
    expect((await call('POST', '/api/users/login/mfa', { raw: '{"mfa_token": ', contentType: 'application/json' })).status).toBe(400);
    expect((await call('POST', '/api/users/login/mfa', { raw: 'x', contentType: 'text/plain' })).status).toBe(415);
    // None of these cost the pending sign-in its attempts: the right code still works.
    const verified = await second({ mfa_token: mfaToken, code: codeFor(secret) });
    expect(verified.status).toBe(200);
  });

  it('a recovery code completes the login once (case and dashes ignored); an expired mfa_token is 401 MFA_TOKEN_EXPIRED', async () => {
    const { input, secret, recoveryCodes } = await withTotp('restrecovery');
    const [first] = recoveryCodes;
    const typed = `${first?.slice(0, 5)}-${first?.slice(5)}`.toLowerCase();
    const verified = await call('POST', '/api/users/login/mfa', { json: { mfa_token: await mfaTokenOf(input), recovery_code: typed } });
    expect(verified.status).toBe(200);
    expect(decodeJwt(sessionResponse.parse(verified.body).access_token)).toMatchObject({ aal: 2 });
    expectErrors(
      await call('POST', '/api/users/login/mfa', { json: { mfa_token: await mfaTokenOf(input), recovery_code: first } }),
      401,
      { code: ['is invalid'] },
      'MFA_CODE_INVALID',
    );

    const expiring = await mfaTokenOf(input);
    file.app.clock.advance(5 * 60 + 1);
    expectErrors(
      await call('POST', '/api/users/login/mfa', { json: { mfa_token: expiring, code: codeFor(secret) } }),
      401,
      { mfa_token: ['has expired'] },
      'MFA_TOKEN_EXPIRED',
    );
  });

  it('a password reset over REST does not bypass the factor: the pending sign-in ends, and the next login asks again', async () => {
    const { input, secret } = await withTotp('restreset');
    const pending = await mfaTokenOf(input);
    expect((await call('POST', '/api/auth/forgot-password', { json: { email: input.email } })).status).toBe(200);
    const mail = (await file.app.mails()).filter((m) => m.to === input.email && m.kind === 'reset_password').at(-1);
    const token = new URLSearchParams(new URL(mail?.links[0] ?? 'http://missing/').hash.slice(1)).get('token') ?? '';
    const reset = await call('POST', '/api/auth/reset-password', { json: { token, new_password: 'a brand new passphrase for rest' } });
    expect(reset.status).toBe(200);
    expect(reset.body).not.toHaveProperty('access_token');
    expect((await call('POST', '/api/users/login/mfa', { json: { mfa_token: pending, code: codeFor(secret) } })).body).toMatchObject({
      code: 'MFA_TOKEN_INVALID',
    });
    const login = await call('POST', '/api/users/login', {
      json: { user: { email: input.email, password: 'a brand new passphrase for rest' } },
    });
    expect(login).toMatchObject({ status: 200, body: { mfa_required: true } });
  });
});

describe('re-authentication with a second factor over REST', () => {
  it('{ code } and { recovery_code } answer a fresh token with aal 2; the password alone does not unlock the factor routes', async () => {
    const { input, token, factorId, secret, recoveryCodes } = await withTotp('restsudo');
    file.app.clock.advance(6 * 60);
    const reauthenticate = (body: unknown) => call('POST', '/api/auth/reauthenticate', { token, json: body });

    const byPassword = await reauthenticate({ password: input.password });
    expect(byPassword.status).toBe(200);
    const passwordOnly = (byPassword.body as { access_token: string }).access_token;
    expect(decodeJwt(passwordOnly)).toMatchObject({ amr: ['pwd'], aal: 1 });
    const refused = { errors: { current_password: ['is required (or re-authenticate first)'] }, code: 'REAUTHENTICATION_REQUIRED' };
    expect(await call('DELETE', `/api/user/mfa/factors/${factorId}`, { token: passwordOnly })).toMatchObject({
      status: 403,
      body: refused,
    });
    expect(await post('/api/user/mfa/recovery-codes', passwordOnly)).toMatchObject({ status: 403, body: refused });
    expect(
      await call('PUT', '/api/user', {
        token: passwordOnly,
        json: { user: { email: `new-${input.email}`, current_password: input.password } },
      }),
    ).toMatchObject({ status: 403, body: refused });

    // Wrong and malformed codes are form errors (422), not the end of the session; an empty body is invalid.
    expectErrors(await reauthenticate({ code: wrongCodeFor(secret) }), 422, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(await reauthenticate({ code: 'abc' }), 422, { code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(await reauthenticate({ recovery_code: 'short' }), 422, { recovery_code: ['is invalid'] }, 'MFA_CODE_INVALID');
    expectErrors(
      await reauthenticate({ password: 'not the passphrase at all' }),
      422,
      { password: ['is incorrect'] },
      'INVALID_CREDENTIALS',
    );
    expectErrors(await reauthenticate({}), 422, { body: ['is invalid'] }, 'VALIDATION_FAILED');
    expectErrors(await reauthenticate({ code: '' }), 422, { code: ["can't be blank"] }, 'VALIDATION_FAILED');

    const byCode = await reauthenticate({ code: codeFor(secret) });
    expect(byCode.status).toBe(200);
    expect(byCode.body).toEqual({ access_token: expect.any(String), access_token_expires_at: expect.any(String) });
    const sudo = (byCode.body as { access_token: string }).access_token;
    expect(decodeJwt(sudo)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 2 });

    // Regenerating replaces the whole set: an old code no longer works, a new one does.
    const regenerated = await post('/api/user/mfa/recovery-codes', sudo);
    expect(regenerated.status).toBe(200);
    const fresh = (regenerated.body as { recovery_codes: string[] }).recovery_codes;
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((code) => recoveryCodes.includes(code))).toEqual([]);
    expectErrors(await reauthenticate({ recovery_code: recoveryCodes[0] }), 422, { recovery_code: ['is invalid'] }, 'MFA_CODE_INVALID');
    const byRecovery = await reauthenticate({ recovery_code: fresh[0] });
    expect(byRecovery.status).toBe(200);
    expect(decodeJwt((byRecovery.body as { access_token: string }).access_token)).toMatchObject({ aal: 2 });

    // Removing the factor: the login no longer asks, and a code proves nothing any more.
    expect(await call('DELETE', `/api/user/mfa/factors/${factorId}`, { token: sudo })).toMatchObject({
      status: 200,
      body: { message: 'Factor removed' },
    });
    expect((await call('GET', '/api/user/mfa/factors', { token: sudo })).body).toEqual({ factors: [] });
    expectErrors(
      await call('DELETE', `/api/user/mfa/factors/${factorId}`, { token: sudo }),
      404,
      { factor: ['not found'] },
      'FACTOR_NOT_FOUND',
    );
    nextStep();
    expectErrors(await reauthenticate({ code: codeFor(secret) }), 404, { factor: ['not found'] }, 'FACTOR_NOT_FOUND');
    const login = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(login.status).toBe(200);
    expect(sessionResponse.parse(login.body).user.email).toBe(input.email);
    expect(login.body).not.toHaveProperty('mfa_required');
  });
});

describe('the OpenAPI document', () => {
  it("shows both shapes of the login's answer, the second step, and the factor id as a path parameter", () => {
    const document = buildOpenApiDocument(restRoutes, { serverUrl: 'http://x' });
    expect(document.paths['/api/users/login']?.post?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/LoginResponse' } } },
    });
    expect(document.components.schemas.LoginResponse).toEqual({
      anyOf: [{ $ref: '#/components/schemas/SessionResponse' }, { $ref: '#/components/schemas/MfaRequiredResponse' }],
    });
    expect(document.components.schemas.MfaRequiredResponse?.required).toEqual(['mfa_required', 'mfa_token', 'factors']);
    expect(document.paths['/api/users/login/mfa']?.post?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SessionResponse' } } },
    });
    const remove = document.paths['/api/user/mfa/factors/{factor_id}']?.delete;
    expect(remove?.parameters).toEqual([expect.objectContaining({ name: 'factor_id', in: 'path', required: true })]);
    expect(Object.keys(remove?.responses ?? {})).toEqual(['200', '401', '403', '404', '422', '500']);
    expect(Object.keys(document.paths['/api/user/mfa/totp']?.post?.responses ?? {})).toEqual(['201', '401', '403', '409', '415', '500']);
  });
});
