/**
 * Passkeys over REST (issue 18): the twins of auth.passkeys.* under /api/user/passkeys, signing in
 * with a passkey alone at /api/users/login/passkey, as the second factor at /api/users/login/mfa,
 * and re-authenticating with one. The authenticator is the kit's software one (checked against
 * @simplewebauthn/server in its own test); the server's RP is BASE_URL's host and origin.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../src/http/openapi.js';
import {
  authenticationOptionsResponse,
  passkeysResponse,
  registeredPasskeyResponse,
  registrationOptionsResponse,
} from '../src/http/rest/passkey-schemas.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { errorResponse, sessionResponse } from '../src/http/rest/schemas.js';
import { type SoftwareAuthenticatorOptions, softwareAuthenticator } from '../src/testing.js';
import { newUser, servedForFile } from './helpers/app.js';
import { type Answer, type CallOptions, expectErrors } from './helpers/rest.js';

const ORIGIN = 'http://localhost:3000';
// Behind a proxy: each REST call comes from an X-Forwarded-For of its own, so per-address limits
// (ceremonies started, failed logins) of one test never meet another's.
const file = servedForFile({ env: { TRUST_PROXY: 'true', BASE_URL: ORIGIN } });

// --- Helpers -------------------------------------------------------------------------------------

const call = (method: string, path: string, options?: CallOptions) => file.call(method, path, options);
/** A POST without a body, declared as JSON as every POST to /api must be. */
const post = (path: string, token: string) => call('POST', path, { token, raw: '', contentType: 'application/json' });

const NOT_VERIFIED = { passkey: ['could not be verified'] };
const CHALLENGE_GONE = { challenge: ['is unknown, used or expired'] };

async function register(label: string) {
  const input = newUser(label);
  const answer = await call('POST', '/api/users', { json: { user: input } });
  expect(answer.status).toBe(201);
  return { input, token: sessionResponse.parse(answer.body).access_token };
}

/** A new account (its sign-up is a recent proof) with a passkey registered over REST on an authenticator of its own. */
async function withPasskey(label: string, options: Partial<SoftwareAuthenticatorOptions> = {}) {
  const { input, token } = await register(label);
  const authenticator = softwareAuthenticator({ origin: ORIGIN, ...options });
  const creation = await post('/api/user/passkeys/registration-options', token);
  expect(creation.status).toBe(200);
  const response = await authenticator.register(registrationOptionsResponse.parse(creation.body));
  const registered = await call('POST', '/api/user/passkeys', { token, json: { response, name: 'Laptop' } });
  expect(registered.status).toBe(201);
  const { passkey, recovery_codes: recoveryCodes } = registeredPasskeyResponse.parse(registered.body);
  return { input, token, authenticator, passkey, recoveryCodes, registration: response };
}

/** The options of an assertion from one of the options routes: `{ challenge_id, options }`. */
async function assertionOptions(answer: Promise<Answer>) {
  const answered = await answer;
  expect(answered.status).toBe(200);
  const { challenge_id: challengeId, options } = authenticationOptionsResponse.parse(answered.body);
  return { challengeId, options };
}

const loginOptions = (body: unknown) => assertionOptions(call('POST', '/api/users/login/passkey/options', { json: body }));
const reauthenticationOptions = (token: string) => assertionOptions(post('/api/user/passkeys/reauthentication-options', token));

/** The `mfa_token` of a login with the right password for an account with a second factor. */
async function mfaTokenOf(input: { email: string; password: string }): Promise<string> {
  const answer = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ mfa_required: true });
  return (answer.body as { mfa_token: string }).mfa_token;
}

/** A response that passes every bound of the schemas and names a well-formed challenge no ceremony made. */
function answerToNoChallenge(): unknown {
  const clientData = { type: 'webauthn.get', challenge: randomBytes(32).toString('base64url'), origin: ORIGIN, crossOrigin: false };
  const id = randomBytes(16).toString('base64url');
  return {
    id,
    rawId: id,
    type: 'public-key',
    response: {
      clientDataJSON: Buffer.from(JSON.stringify(clientData)).toString('base64url'),
      authenticatorData: randomBytes(37).toString('base64url'),
      signature: randomBytes(70).toString('base64url'),
    },
    clientExtensionResults: {},
  };
}

describe('registering and managing passkeys over REST', () => {
  it("registration-options answers WebAuthn's own JSON as is; POST /api/user/passkeys answers 201 { passkey, recovery_codes }", async () => {
    const { input, token } = await register('restpkreg');
    // A POST without a body still declares JSON: anything else is 415.
    expectErrors(await call('POST', '/api/user/passkeys/registration-options', { token }), 415, {
      body: ['must be JSON (Content-Type: application/json)'],
    });
    const creation = await post('/api/user/passkeys/registration-options', token);
    expect(creation.status).toBe(200);
    const options = registrationOptionsResponse.parse(creation.body);
    // camelCase, every field the server made (none dropped on the way out).
    expect(Object.keys(options).sort()).toEqual(
      [
        'attestation',
        'authenticatorSelection',
        'challenge',
        'excludeCredentials',
        'extensions',
        'hints',
        'pubKeyCredParams',
        'rp',
        'timeout',
        'user',
      ].sort(),
    );
    expect(options).toMatchObject({
      rp: { id: 'localhost', name: 'Latchkey' },
      user: { id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), name: input.email, displayName: input.username },
      challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      excludeCredentials: [],
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      attestation: 'none',
      extensions: { credProps: true },
    });

    const authenticator = softwareAuthenticator({ origin: ORIGIN });
    // An answer made for another origin does not verify, and uses the challenge up: single use, pass or fail.
    const foreign = await authenticator.register(options, { origin: 'https://evil.example' });
    expectErrors(await call('POST', '/api/user/passkeys', { token, json: { response: foreign } }), 422, NOT_VERIFIED, 'PASSKEY_INVALID');
    expectErrors(
      await call('POST', '/api/user/passkeys', { token, json: { response: foreign } }),
      422,
      CHALLENGE_GONE,
      'CHALLENGE_EXPIRED',
    );

    const again = await post('/api/user/passkeys/registration-options', token);
    const response = await authenticator.register(registrationOptionsResponse.parse(again.body));
    const registered = await call('POST', '/api/user/passkeys', { token, json: { response, name: '  Laptop  ' } });
    expect(registered.status).toBe(201);
    expect(registered.body).toEqual({
      passkey: {
        id: expect.any(String),
        name: 'Laptop',
        created_at: expect.any(String),
        last_used_at: null,
        backed_up: false,
        device_type: 'singleDevice',
      },
      recovery_codes: expect.any(Array),
    });
    const { passkey, recovery_codes: codes } = registeredPasskeyResponse.parse(registered.body);
    expect(codes).toHaveLength(10);
    expect(new Date(passkey.created_at).toISOString()).toBe(passkey.created_at);

    // The same answer again registers nothing: with a passkey, the sign-up's password is no longer proof enough.
    expect(await call('POST', '/api/user/passkeys', { token, json: { response } })).toMatchObject({
      status: 403,
      body: { code: 'REAUTHENTICATION_REQUIRED' },
    });
    expect(passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token })).body)).toEqual({ passkeys: [passkey] });
    // The passkey is a second factor too.
    expect((await call('GET', '/api/user/mfa/factors', { token })).body).toMatchObject({ factors: [{ id: passkey.id, type: 'passkey' }] });
    const activity = await call('GET', '/api/user/activity', { token });
    expect((activity.body as { events: { type: string }[] }).events.map((event) => event.type)).toContain('passkey.added');
  });

  it('a synced passkey is multiDevice; a second one needs a proof with the first and comes without recovery codes', async () => {
    const { token, authenticator, passkey } = await withPasskey('restpksecond');
    // With a passkey, the sign-up's password is not proof enough for another.
    expect(await post('/api/user/passkeys/registration-options', token)).toMatchObject({
      status: 403,
      body: { code: 'REAUTHENTICATION_REQUIRED' },
    });
    const { options } = await reauthenticationOptions(token);
    const fresh = await call('POST', '/api/auth/reauthenticate', { token, json: { passkey: await authenticator.authenticate(options) } });
    expect(fresh.status).toBe(200);
    const sudo = (fresh.body as { access_token: string }).access_token;
    const creation = await post('/api/user/passkeys/registration-options', sudo);
    expect(creation.body).toMatchObject({ excludeCredentials: [{ id: authenticator.credentials[0]?.id, type: 'public-key' }] });
    const synced = softwareAuthenticator({ origin: ORIGIN, backupEligible: true, backedUp: true });
    const response = await synced.register(registrationOptionsResponse.parse(creation.body));
    const second = await call('POST', '/api/user/passkeys', { token: sudo, json: { response } });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ passkey: { name: 'Passkey', backed_up: true, device_type: 'multiDevice' }, recovery_codes: [] });
    const listed = passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token })).body).passkeys;
    // Both made at one instant of the test's clock: compared as a set.
    expect(listed.map((p) => p.id).sort()).toEqual([passkey.id, (second.body as { passkey: { id: string } }).passkey.id].sort());
    // The first was used once (for the proof).
    expect(listed.find((p) => p.id === passkey.id)?.last_used_at).toEqual(expect.any(String));
  });

  it('PATCH renames; a bad id and a bad name are answered together, another id is 404 PASSKEY_NOT_FOUND', async () => {
    const { token, passkey } = await withPasskey('restpkrename');
    const rename = (id: string, body: unknown) => call('PATCH', `/api/user/passkeys/${id}`, { token, json: body });
    const renamed = await rename(passkey.id, { name: 'Work laptop' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toEqual({ passkey: { ...passkey, name: 'Work laptop' } });
    expect(passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token })).body).passkeys[0]?.name).toBe('Work laptop');

    expectErrors(await rename(passkey.id, { name: '   ' }), 422, { name: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(await rename(passkey.id, {}), 422, { name: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(
      await rename(passkey.id, { name: 'x'.repeat(65) }),
      422,
      { name: ['is too long (maximum is 64 characters)'] },
      'VALIDATION_FAILED',
    );
    expectErrors(
      await rename('not-a-uuid', { name: 7 }),
      422,
      { passkey_id: ['is invalid'], name: [expect.any(String)] },
      'VALIDATION_FAILED',
    );
    expectErrors(await rename(randomUUID(), { name: 'Mine now' }), 404, { passkey: ['not found'] }, 'PASSKEY_NOT_FOUND');
    // Another user's passkey is not found either, and keeps its name.
    const other = await register('restpkrenameother');
    expectErrors(
      await call('PATCH', `/api/user/passkeys/${passkey.id}`, { token: other.token, json: { name: 'Mine now' } }),
      404,
      { passkey: ['not found'] },
      'PASSKEY_NOT_FOUND',
    );
    expect(passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token })).body).passkeys[0]?.name).toBe('Work laptop');
    // Not JSON, and another method on the path.
    expect((await call('PATCH', `/api/user/passkeys/${passkey.id}`, { token, raw: 'name=x', contentType: 'text/plain' })).status).toBe(415);
    const wrongMethod = await call('PUT', `/api/user/passkeys/${passkey.id}`, { token, json: { name: 'x' } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('PATCH, DELETE, OPTIONS');
  });

  it('the passkey routes need a token, checked before the input', async () => {
    const missing = { token: ['is missing'] };
    expectErrors(await call('GET', '/api/user/passkeys'), 401, missing, 'ACCESS_TOKEN_MISSING');
    expectErrors(await call('POST', '/api/user/passkeys', { json: { response: 'x' } }), 401, missing, 'ACCESS_TOKEN_MISSING');
    expectErrors(await call('POST', '/api/user/passkeys/registration-options', { json: {} }), 401, missing, 'ACCESS_TOKEN_MISSING');
    expectErrors(await call('POST', '/api/user/passkeys/reauthentication-options', { json: {} }), 401, missing, 'ACCESS_TOKEN_MISSING');
    expectErrors(await call('PATCH', '/api/user/passkeys/x', { json: { name: 7 } }), 401, missing, 'ACCESS_TOKEN_MISSING');
    expectErrors(await call('DELETE', `/api/user/passkeys/${randomUUID()}`), 401, missing, 'ACCESS_TOKEN_MISSING');
  });
});

describe('signing in with a passkey over REST', () => {
  it('the password login answers mfa_required with the passkey among the factors; { mfa_token, passkey } completes it', async () => {
    const { input, authenticator, passkey } = await withPasskey('restpkmfa');
    const login = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ mfa_required: true, mfa_token: expect.any(String), factors: [{ id: passkey.id, type: 'passkey' }] });
    const mfaToken = (login.body as { mfa_token: string }).mfa_token;

    // Options bound to the pending sign-in list the account's passkey.
    const first = await loginOptions({ mfa_token: mfaToken });
    expect(first.options).toMatchObject({
      rpId: 'localhost',
      userVerification: 'required',
      allowCredentials: [{ id: authenticator.credentials[0]?.id, type: 'public-key' }],
    });
    // An answer without user verification is a failed second step: 401, counted, the token still alive.
    const unverified = await authenticator.authenticate(first.options, { userVerified: false });
    const refused = await call('POST', '/api/users/login/mfa', { json: { mfa_token: mfaToken, passkey: unverified } });
    expectErrors(refused, 401, NOT_VERIFIED, 'PASSKEY_INVALID');
    expect(refused.headers.get('www-authenticate')).toBeNull();

    const second = await loginOptions({ mfa_token: mfaToken });
    const verified = await call('POST', '/api/users/login/mfa', {
      json: { mfa_token: mfaToken, passkey: await authenticator.authenticate(second.options) },
    });
    expect(verified.status).toBe(200);
    expect(Object.keys(verified.body as object).sort()).toEqual(['access_token', 'device_token', 'refresh_token', 'user']);
    const session = sessionResponse.parse(verified.body);
    expect(session.user).toMatchObject({ email: input.email, token: session.access_token });
    expect(decodeJwt(session.access_token)).toMatchObject({ amr: ['pwd', 'hwk', 'mfa'], aal: 2 });
    // The pending sign-in is used up, and its options with it.
    expectErrors(
      await call('POST', '/api/users/login/mfa', {
        json: { mfa_token: mfaToken, passkey: await authenticator.authenticate(second.options) },
      }),
      401,
      { mfa_token: ['is invalid or was already used'] },
      'MFA_TOKEN_INVALID',
    );
    expectErrors(
      await call('POST', '/api/users/login/passkey/options', { json: { mfa_token: mfaToken } }),
      401,
      { mfa_token: ['is invalid or was already used'] },
      'MFA_TOKEN_INVALID',
    );
  });

  it("a sign-in passkey's options do not answer the second step, nor the second step's a sign-in", async () => {
    const { input, authenticator } = await withPasskey('restpkpurpose');
    const mfaToken = await mfaTokenOf(input);
    const signIn = await loginOptions({});
    expectErrors(
      await call('POST', '/api/users/login/mfa', {
        json: { mfa_token: mfaToken, passkey: await authenticator.authenticate(signIn.options) },
      }),
      401,
      NOT_VERIFIED,
      'PASSKEY_INVALID',
    );
    const secondStep = await loginOptions({ mfa_token: mfaToken });
    expectErrors(
      await call('POST', '/api/users/login/passkey', {
        json: { challenge_id: secondStep.challengeId, response: await authenticator.authenticate(secondStep.options) },
      }),
      401,
      NOT_VERIFIED,
      'PASSKEY_INVALID',
    );
  });

  it('the passkey alone signs in, usernameless or for an email: amr hwk, aal 2; its challenge is single use', async () => {
    const { input, authenticator } = await withPasskey('restpkalone');
    const { challengeId, options } = await loginOptions({});
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required', allowCredentials: [] });
    const response = await authenticator.authenticate(options);
    const signedIn = await call('POST', '/api/users/login/passkey', { json: { challenge_id: challengeId, response } });
    expect(signedIn.status).toBe(200);
    expect(Object.keys(signedIn.body as object).sort()).toEqual(['access_token', 'device_token', 'refresh_token', 'user']);
    const session = sessionResponse.parse(signedIn.body);
    expect(session.user.email).toBe(input.email);
    expect(decodeJwt(session.access_token)).toMatchObject({ amr: ['hwk'], aal: 2 });
    expect(await call('GET', '/api/user', { token: session.access_token })).toMatchObject({
      status: 200,
      body: { user: { email: input.email } },
    });
    // The same answer again: its challenge is gone.
    expectErrors(
      await call('POST', '/api/users/login/passkey', { json: { challenge_id: challengeId, response } }),
      422,
      CHALLENGE_GONE,
      'CHALLENGE_EXPIRED',
    );

    const forEmail = await loginOptions({ email: ` ${input.email.toUpperCase()} ` });
    expect(forEmail.options.allowCredentials).toEqual([]);
    const byEmail = await call('POST', '/api/users/login/passkey', {
      json: { challenge_id: forEmail.challengeId, response: await authenticator.authenticate(forEmail.options) },
    });
    expect(byEmail.status).toBe(200);
    expect(decodeJwt(sessionResponse.parse(byEmail.body).access_token)).toMatchObject({ amr: ['hwk'], aal: 2 });
    // The passkey's use is listed.
    const listed = passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token: session.access_token })).body).passkeys;
    expect(listed[0]?.last_used_at).toEqual(expect.any(String));
  });

  it("an email without an account gets the same answer, and its challenge takes nobody's passkey", async () => {
    const { input, authenticator } = await withPasskey('restpknoemail');
    const known = await call('POST', '/api/users/login/passkey/options', { json: { email: input.email } });
    const unknown = await call('POST', '/api/users/login/passkey/options', { json: { email: `nobody-${input.email}` } });
    const shape = (answer: Answer) => {
      const { challenge_id: id, options } = authenticationOptionsResponse.parse(answer.body);
      return { status: answer.status, id: typeof id, options: { ...options, challenge: typeof options.challenge } };
    };
    expect(shape(unknown)).toEqual(shape(known));
    const { challenge_id: challengeId, options } = authenticationOptionsResponse.parse(unknown.body);
    expectErrors(
      await call('POST', '/api/users/login/passkey', {
        json: { challenge_id: challengeId, response: await authenticator.authenticate(options) },
      }),
      401,
      NOT_VERIFIED,
      'PASSKEY_INVALID',
    );
  });

  it('an unknown challenge_id is 422 CHALLENGE_EXPIRED, and uses up the challenge the answer signed', async () => {
    const { authenticator } = await withPasskey('restpkunknown');
    const { challengeId, options } = await loginOptions({});
    const response = await authenticator.authenticate(options);
    expectErrors(
      await call('POST', '/api/users/login/passkey', { json: { challenge_id: randomUUID(), response } }),
      422,
      CHALLENGE_GONE,
      'CHALLENGE_EXPIRED',
    );
    expectErrors(
      await call('POST', '/api/users/login/passkey', { json: { challenge_id: challengeId, response } }),
      422,
      CHALLENGE_GONE,
      'CHALLENGE_EXPIRED',
    );
    // Expired: five minutes after the options.
    const late = await loginOptions({});
    const lateResponse = await authenticator.authenticate(late.options);
    file.app.clock.advance(5 * 60 + 1);
    expectErrors(
      await call('POST', '/api/users/login/passkey', { json: { challenge_id: late.challengeId, response: lateResponse } }),
      422,
      CHALLENGE_GONE,
      'CHALLENGE_EXPIRED',
    );
  });
});

describe('re-authenticating with a passkey over REST, and removing it', () => {
  it('reauthentication-options and { passkey } answer a fresh token; then DELETE removes it and the login asks for nothing', async () => {
    const { input, token, authenticator, passkey } = await withPasskey('restpkremove');
    file.app.clock.advance(6 * 60);
    const remove = (id: string, bearer = token) => call('DELETE', `/api/user/passkeys/${id}`, { token: bearer });
    expect(await remove(passkey.id)).toMatchObject({ status: 403, body: { code: 'REAUTHENTICATION_REQUIRED' } });
    // The password alone does not unlock it: the account has a second factor.
    const byPassword = await call('POST', '/api/auth/reauthenticate', { token, json: { password: input.password } });
    expect(await remove(passkey.id, (byPassword.body as { access_token: string }).access_token)).toMatchObject({
      status: 403,
      body: { code: 'REAUTHENTICATION_REQUIRED' },
    });

    const reauthenticate = (body: unknown) => call('POST', '/api/auth/reauthenticate', { token, json: body });
    const first = await reauthenticationOptions(token);
    expect(first.options.allowCredentials).toEqual([
      { id: authenticator.credentials[0]?.id, type: 'public-key', transports: ['internal'] },
    ]);
    // A passkey that does not verify is a form error here (422), not the end of the session.
    expectErrors(
      await reauthenticate({ passkey: await authenticator.authenticate(first.options, { userVerified: false }) }),
      422,
      NOT_VERIFIED,
      'PASSKEY_INVALID',
    );
    // Another session's options do not re-authenticate this one.
    const elsewhere = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(elsewhere.body).toMatchObject({ mfa_required: true });
    const signIn = await loginOptions({});
    expectErrors(await reauthenticate({ passkey: await authenticator.authenticate(signIn.options) }), 422, NOT_VERIFIED, 'PASSKEY_INVALID');

    const second = await reauthenticationOptions(token);
    const fresh = await reauthenticate({ passkey: await authenticator.authenticate(second.options) });
    expect(fresh.status).toBe(200);
    expect(fresh.body).toEqual({ access_token: expect.any(String), access_token_expires_at: expect.any(String) });
    const sudo = (fresh.body as { access_token: string }).access_token;
    expect(decodeJwt(sudo)).toMatchObject({ amr: ['pwd', 'hwk', 'mfa'], aal: 2 });

    expect(await remove(passkey.id, sudo)).toMatchObject({ status: 200, body: { message: 'Passkey removed' } });
    expect((await call('GET', '/api/user/passkeys', { token: sudo })).body).toEqual({ passkeys: [] });
    expectErrors(await remove(passkey.id, sudo), 404, { passkey: ['not found'] }, 'PASSKEY_NOT_FOUND');
    expectErrors(await remove('not-a-uuid', sudo), 422, { passkey_id: ['is invalid'] }, 'VALIDATION_FAILED');
    const activity = await call('GET', '/api/user/activity', { token: sudo });
    expect((activity.body as { events: { type: string }[] }).events.map((event) => event.type)).toContain('passkey.removed');
    // No second factor left: the password signs in alone, and the removed passkey signs in no more.
    const login = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(login.status).toBe(200);
    expect(login.body).not.toHaveProperty('mfa_required');
    const gone = await loginOptions({});
    expectErrors(
      await call('POST', '/api/users/login/passkey', {
        json: { challenge_id: gone.challengeId, response: await authenticator.authenticate(gone.options) },
      }),
      401,
      NOT_VERIFIED,
      'PASSKEY_INVALID',
    );
  });
});

describe('bad input over REST is 4xx with an appCode, never 5xx', () => {
  const huge = 'A'.repeat(200_000);
  const malformed: unknown[] = [
    'x',
    42,
    null,
    [],
    {},
    { id: 'x' },
    {
      id: 'x',
      rawId: 'x',
      type: 'public-key',
      response: { clientDataJSON: huge, attestationObject: 'AA', authenticatorData: 'AA', signature: 'AA' },
    },
    { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: '!!', authenticatorData: 'AA', signature: 'AA' } },
    // Well-formed base64url of something that is not client data.
    { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'bm90IGpzb24', authenticatorData: 'AA', signature: 'AA' } },
    { id: 'x'.repeat(5000), rawId: 'x', type: 'public-key', response: {} },
  ];

  function expect4xx(answer: Answer, label: string) {
    expect(answer.status, label).toBeGreaterThanOrEqual(400);
    expect(answer.status, label).toBeLessThan(500);
    expect(errorResponse.parse(answer.body).code, label).toEqual(expect.any(String));
  }

  it('registering: a malformed or huge response is 422 PASSKEY_INVALID; a missing one, or a bad name, 422 VALIDATION_FAILED', async () => {
    const { token } = await register('restpkbadreg');
    for (const response of malformed) {
      expectErrors(await call('POST', '/api/user/passkeys', { token, json: { response } }), 422, NOT_VERIFIED, 'PASSKEY_INVALID');
    }
    expectErrors(await call('POST', '/api/user/passkeys', { token, json: {} }), 422, { response: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(
      await call('POST', '/api/user/passkeys', { token, json: { response: {}, name: 'x'.repeat(65) } }),
      422,
      { name: ['is too long (maximum is 64 characters)'] },
      'VALIDATION_FAILED',
    );
    expect((await call('POST', '/api/user/passkeys', { token, raw: '{"response": ', contentType: 'application/json' })).status).toBe(400);
    expect((await call('POST', '/api/user/passkeys', { token, json: { response: { huge: 'x'.repeat(1024 * 1024) } } })).status).toBe(413);
    expect(passkeysResponse.parse((await call('GET', '/api/user/passkeys', { token })).body).passkeys).toEqual([]);
  });

  it('signing in: malformed answers are 401 PASSKEY_INVALID, an answer to no challenge 422 CHALLENGE_EXPIRED, bad ids and bodies 422', async () => {
    const { input } = await withPasskey('restpkbadlogin');
    const signIn = (body: unknown) => call('POST', '/api/users/login/passkey', { json: body });
    for (const response of malformed) {
      const answer = await signIn({ challenge_id: randomUUID(), response });
      expect4xx(answer, JSON.stringify(response).slice(0, 80));
      expectErrors(answer, 401, NOT_VERIFIED, 'PASSKEY_INVALID');
    }
    expectErrors(await signIn({ challenge_id: randomUUID(), response: answerToNoChallenge() }), 422, CHALLENGE_GONE, 'CHALLENGE_EXPIRED');
    expectErrors(await signIn({ challenge_id: 'x', response: {} }), 422, { challenge_id: ['is invalid'] }, 'VALIDATION_FAILED');
    expectErrors(await signIn({ challenge_id: randomUUID() }), 422, { response: ["can't be blank"] }, 'VALIDATION_FAILED');
    // The id's schema (auth.passkeys.authenticate's) says "is invalid" of a missing one too.
    expectErrors(await signIn({}), 422, { challenge_id: ['is invalid'], response: ["can't be blank"] }, 'VALIDATION_FAILED');

    const options = (body: unknown) => call('POST', '/api/users/login/passkey/options', { json: body });
    expectErrors(await options({ email: 'no' }), 422, { email: [expect.any(String)] }, 'VALIDATION_FAILED');
    expectErrors(
      await options({ email: input.email, mfa_token: 'x' }),
      422,
      { mfa_token: ['give email or mfa_token, not both'] },
      'VALIDATION_FAILED',
    );
    expectErrors(
      await options({ mfa_token: 'not-a-token-of-ours' }),
      401,
      { mfa_token: ['is invalid or was already used'] },
      'MFA_TOKEN_INVALID',
    );
    expect((await call('POST', '/api/users/login/passkey/options', { raw: '', contentType: 'application/json' })).status).toBe(400);
    expect((await call('POST', '/api/users/login/passkey/options', { raw: '{}', contentType: 'text/plain' })).status).toBe(415);

    // The second step: malformed passkeys are failed attempts (401), a passkey beside a code is invalid input.
    const mfaToken = await mfaTokenOf(input);
    const second = (body: unknown) => call('POST', '/api/users/login/mfa', { json: body });
    for (const passkey of ['x', null, { id: 'x' }]) {
      expectErrors(await second({ mfa_token: mfaToken, passkey }), 401, NOT_VERIFIED, 'PASSKEY_INVALID');
    }
    expectErrors(
      await second({ mfa_token: mfaToken, passkey: {}, code: '123456' }),
      422,
      { code: ['give one of code, recovery_code or passkey'] },
      'VALIDATION_FAILED',
    );
  });

  it('re-authenticating: a malformed passkey is 422 PASSKEY_INVALID and costs nothing; well-formed answers count per account (429 after 10); an empty body is invalid input', async () => {
    const { token } = await withPasskey('restpkbadreauth');
    const reauthenticate = (body: unknown) => call('POST', '/api/auth/reauthenticate', { token, json: body });
    // A malformed answer guesses nothing: refused before it is counted, however many.
    for (const passkey of [...malformed, ...malformed]) {
      const answer = await reauthenticate({ passkey });
      expect4xx(answer, JSON.stringify(passkey).slice(0, 80));
      expectErrors(answer, 422, NOT_VERIFIED, 'PASSKEY_INVALID');
    }
    // Each well-formed answer counts, pass or fail, in the account's second-factor checks (10 per 15 minutes).
    for (let i = 0; i < 10; i += 1)
      expectErrors(await reauthenticate({ passkey: answerToNoChallenge() }), 422, CHALLENGE_GONE, 'CHALLENGE_EXPIRED');
    const throttled = await reauthenticate({ passkey: answerToNoChallenge() });
    expect(throttled).toMatchObject({ status: 429, body: { code: 'RATE_LIMITED' } });
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    // Invalid input is refused before anything is counted.
    expectErrors(await reauthenticate({}), 422, { body: ['is invalid'] }, 'VALIDATION_FAILED');
  });
});

describe('the OpenAPI document', () => {
  it('documents the passkey routes: the path parameter beside the body, and the options as open objects', () => {
    const document = buildOpenApiDocument(restRoutes, { serverUrl: 'http://x' });
    const patch = document.paths['/api/user/passkeys/{passkey_id}']?.patch;
    expect(patch?.parameters).toEqual([expect.objectContaining({ name: 'passkey_id', in: 'path', required: true })]);
    expect(patch?.requestBody?.content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/RenamePasskeyRequest' });
    expect(Object.keys(patch?.responses ?? {})).toEqual(['200', '400', '401', '404', '413', '415', '422', '500']);
    expect(Object.keys(document.paths['/api/user/passkeys/{passkey_id}']?.delete?.responses ?? {})).toEqual([
      '200',
      '401',
      '403',
      '404',
      '409',
      '422',
      '500',
    ]);
    expect(document.paths['/api/users/login/passkey']?.post?.security).toBeUndefined();
    expect(document.paths['/api/users/login/passkey']?.post?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SessionResponse' } } },
    });
    const { schemas } = document.components;
    expect(schemas.PasskeyRegistrationOptions?.additionalProperties).toEqual({});
    expect(schemas.PasskeyRegistrationOptions?.required).toEqual(['rp', 'user', 'challenge', 'pubKeyCredParams']);
    expect(schemas.PasskeyAuthenticationOptionsResponse?.properties?.options).toEqual({
      $ref: '#/components/schemas/PasskeyRequestOptions',
    });
    expect(schemas.LoginPasskeyRequest?.required).toEqual(['challenge_id', 'response']);
    expect(schemas.PasskeysResponse?.properties?.passkeys).toMatchObject({ items: { $ref: '#/components/schemas/PasskeyJson' } });
  });
});
