/**
 * Passkeys (issue 18) through the router: registration, the assertions that sign in alone,
 * confirm a password login or re-authenticate, and the attacks on each (replayed, foreign,
 * unverified, cloned). The authenticator is the kit's software one (node:crypto ES256, its own
 * CBOR), checked against @simplewebauthn/server in its own test; the browser's ceremonies are
 * in packages/client's browser tests.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { onPostgres, type SoftwareAuthenticatorOptions, softwareAuthenticator } from '../src/testing.js';
import { appForFile, newUser } from './helpers/app.js';
import { failure } from './helpers/failure.js';

const ORIGIN = 'http://localhost:3000';
const file = appForFile({ env: { BASE_URL: ORIGIN } });

type Caller = ReturnType<typeof file.app.caller>;

async function eventsOf(userId: string, type: string) {
  return file.database.db.selectFrom('security_events').selectAll().where('user_id', '=', userId).where('type', '=', type).execute();
}

/** A new account (its sign-up is a recent proof) with a passkey on a software authenticator of its own. */
async function withPasskey(label = 'passkey', options: Partial<SoftwareAuthenticatorOptions> = {}) {
  const input = newUser(label);
  const session = await file.app.caller().auth.register(input);
  const as = (accessToken = session.accessToken): Caller => file.app.caller({ accessToken });
  const authenticator = softwareAuthenticator({ origin: ORIGIN, ...options });
  const creation = await as().auth.passkeys.registrationOptions();
  const registered = await as().auth.passkeys.register({ response: await authenticator.register(creation), name: 'Laptop' });
  return { input, session, as, authenticator, creation, registered };
}

/** A caller of the account whose token carries a fresh proof with its passkey (what adding or removing one needs). */
async function proven(as: () => Caller, authenticator: ReturnType<typeof softwareAuthenticator>): Promise<Caller> {
  const { options } = await as().auth.passkeys.authenticationOptions({ reauthenticate: true });
  const fresh = await as().auth.reauthenticate({ passkey: await authenticator.authenticate(options) });
  return file.app.caller({ accessToken: fresh.accessToken });
}

/** Signs in with the authenticator's passkey, usernameless (or for `email`). */
async function signInWith(
  authenticator: ReturnType<typeof softwareAuthenticator>,
  input: { email: string } | undefined = undefined,
  overrides = {},
) {
  const { challengeId, options } = await file.app.caller().auth.passkeys.authenticationOptions(input);
  const response = await authenticator.authenticate(options, overrides);
  return { challengeId, response, result: file.app.caller().auth.passkeys.authenticate({ challengeId, response }) };
}

describe('registering a passkey', () => {
  it('options ask for a discoverable, user-verified credential under a random handle (never the email or id), excluding the passkeys the account has', async () => {
    const { session, as, creation, authenticator } = await withPasskey('options');
    expect(creation.rp).toEqual({ id: 'localhost', name: 'Latchkey' });
    expect(creation.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    expect(creation.attestation).toBe('none');
    expect(creation.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(creation.excludeCredentials).toEqual([]);
    const handle = Buffer.from(creation.user.id, 'base64url');
    expect(handle).toHaveLength(32);
    expect(handle.toString('utf8')).not.toContain(session.user.email);
    expect(creation.user.id).not.toContain(session.user.id.replaceAll('-', ''));
    expect(creation.user.name).toBe(session.user.email);

    // With a passkey, adding another needs a proof that included it (the sign-up's password is not enough).
    expect(await failure(as().auth.passkeys.registrationOptions())).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    const again = await (await proven(as, authenticator)).auth.passkeys.registrationOptions();
    expect(again.user.id).toBe(creation.user.id);
    expect(again.challenge).not.toBe(creation.challenge);
    expect(again.excludeCredentials?.map((c) => c.id)).toEqual([authenticator.credentials[0]?.id]);
  });

  it('stores the credential; the first one comes with recovery codes, a second one without; each is recorded and mailed', async () => {
    const { session, as, registered, authenticator } = await withPasskey('register');
    expect(registered.passkey).toMatchObject({ name: 'Laptop', backedUp: false, deviceType: 'singleDevice', lastUsedAt: null });
    expect(registered.recoveryCodes).toHaveLength(10);
    const second = softwareAuthenticator({ origin: ORIGIN, backupEligible: true, backedUp: true });
    const sudo = await proven(as, authenticator);
    const more = await sudo.auth.passkeys.register({ response: await second.register(await sudo.auth.passkeys.registrationOptions()) });
    expect(more.recoveryCodes).toEqual([]);
    expect(more.passkey).toMatchObject({ name: 'Passkey', backedUp: true, deviceType: 'multiDevice' });
    expect((await as().auth.passkeys.list()).map((p) => p.id).sort()).toEqual([registered.passkey.id, more.passkey.id].sort());
    expect((await as().auth.mfa.factors()).map((f) => f.type)).toEqual(['passkey', 'passkey']);
    expect(await eventsOf(session.user.id, 'passkey.added')).toHaveLength(2);
    const row = await file.database.db.selectFrom('passkeys').selectAll().where('id', '=', registered.passkey.id).executeTakeFirstOrThrow();
    expect(row.public_key.length).toBeGreaterThan(50);
    // Registered at 0, then used once for the proof that added the second.
    expect(Number(row.counter)).toBe(1);
  });

  it('needs a recent proof of identity, and refuses a response to another challenge, another origin or without user verification', async () => {
    const input = newUser('register-refused');
    const session = await file.app.caller().auth.register(input);
    const as = () => file.app.caller({ accessToken: session.accessToken });
    const authenticator = softwareAuthenticator({ origin: ORIGIN });

    const unverified = await authenticator.register(await as().auth.passkeys.registrationOptions(), { userVerified: false });
    expect(await failure(as().auth.passkeys.register({ response: unverified }))).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    const foreign = await authenticator.register(await as().auth.passkeys.registrationOptions(), { origin: 'https://evil.example' });
    expect(await failure(as().auth.passkeys.register({ response: foreign }))).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    // A challenge is answered once, pass or fail: the refused answer used it up.
    expect(await failure(as().auth.passkeys.register({ response: foreign }))).toMatchObject({ appCode: 'CHALLENGE_EXPIRED' });

    // Another user's registration challenge does not register a passkey here.
    const other = await file.app.caller().auth.register(newUser('register-other'));
    const othersOptions = await file.app.caller({ accessToken: other.accessToken }).auth.passkeys.registrationOptions();
    const stolen = await softwareAuthenticator({ origin: ORIGIN }).register(othersOptions);
    expect(await failure(as().auth.passkeys.register({ response: stolen }))).toMatchObject({ appCode: 'PASSKEY_INVALID' });

    file.app.clock.advance(6 * 60);
    expect(await failure(as().auth.passkeys.registrationOptions())).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    expect(await as().auth.passkeys.list()).toEqual([]);
  });

  it('a credential id registered already, to any account, is refused', async () => {
    const owner = await withPasskey('credential-owner');
    const ownersRegistration = await softwareAuthenticator({ origin: ORIGIN }).register(
      await (await proven(owner.as, owner.authenticator)).auth.passkeys.registrationOptions(),
    );
    await (await proven(owner.as, owner.authenticator)).auth.passkeys.register({ response: ownersRegistration });
    // 'none' attestation signs nothing of the ceremony: the owner's attestation object, answering
    // the other account's challenge, is a well-formed registration of the same credential.
    const other = await file.app.caller().auth.register(newUser('credential-copier'));
    const copier = file.app.caller({ accessToken: other.accessToken });
    const { challenge } = await copier.auth.passkeys.registrationOptions();
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge, origin: ORIGIN, crossOrigin: false })).toString(
      'base64url',
    );
    const copied = { ...ownersRegistration, response: { ...ownersRegistration.response, clientDataJSON } };
    expect(await failure(copier.auth.passkeys.register({ response: copied }))).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    expect(await copier.auth.passkeys.list()).toEqual([]);
  });

  it('an expired registration challenge is refused', async () => {
    const input = newUser('register-expired');
    const session = await file.app.caller().auth.register(input);
    const as = () => file.app.caller({ accessToken: session.accessToken });
    const options = await as().auth.passkeys.registrationOptions();
    const response = await softwareAuthenticator({ origin: ORIGIN }).register(options);
    file.app.clock.advance(5 * 60 + 1);
    const fresh = await as().auth.reauthenticate({ password: input.password });
    const proven = file.app.caller({ accessToken: fresh.accessToken });
    expect(await failure(proven.auth.passkeys.register({ response }))).toMatchObject({ appCode: 'CHALLENGE_EXPIRED' });
  });
});

describe('signing in with a passkey alone', () => {
  it('usernameless: the session is the passkey holder\'s, with amr ["hwk"] and aal 2; the use is recorded', async () => {
    const { session, authenticator, registered, as } = await withPasskey('usernameless');
    const { challengeId, response, result } = await signInWith(authenticator);
    expect(challengeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.response.userHandle).toBeDefined();
    const signedIn = await result;
    expect(signedIn.user.id).toBe(session.user.id);
    expect(decodeJwt(signedIn.accessToken)).toMatchObject({ sub: session.user.id, amr: ['hwk'], aal: 2 });
    expect(signedIn.deviceToken).toEqual(expect.any(String));
    expect(await eventsOf(session.user.id, 'passkey.used')).toHaveLength(1);
    const [login] = await eventsOf(session.user.id, 'login.succeeded').then((rows) => rows.slice(-1));
    expect(login?.details).toEqual({ methods: ['hwk'] });
    const [listed] = await as().auth.passkeys.list();
    expect(listed?.lastUsedAt).toEqual(file.app.clock.now());
    expect(listed?.id).toBe(registered.passkey.id);
  });

  it("options for an email look the same whether or not it is an account, and only that account's passkey answers them", async () => {
    const { input, authenticator } = await withPasskey('by-email');
    const other = await withPasskey('by-email-other');
    const known = await file.app.caller().auth.passkeys.authenticationOptions({ email: input.email });
    const unknown = await file.app.caller().auth.passkeys.authenticationOptions({ email: 'nobody-at-all@example.com' });
    const shape = (o: typeof known) => ({ ...o, challengeId: '', options: { ...o.options, challenge: '' } });
    expect(shape(known)).toEqual(shape(unknown));
    expect(known.options.allowCredentials).toEqual([]);
    expect(known.options.userVerification).toBe('required');

    await expect(signInWith(authenticator, { email: input.email }).then((s) => s.result)).resolves.toHaveProperty('accessToken');
    const foreign = await signInWith(other.authenticator, { email: input.email });
    expect(await failure(foreign.result)).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    const nobody = await signInWith(authenticator, { email: 'nobody-at-all@example.com' });
    expect(await failure(nobody.result)).toMatchObject({ appCode: 'PASSKEY_INVALID' });
  });

  it('an assertion is accepted once: replayed, sent twice at once, or late, it is refused', async () => {
    const { authenticator } = await withPasskey('replay');
    const first = await signInWith(authenticator);
    await expect(first.result).resolves.toHaveProperty('accessToken');
    const replay = file.app.caller().auth.passkeys.authenticate({ challengeId: first.challengeId, response: first.response });
    expect(await failure(replay)).toMatchObject({ code: 'BAD_REQUEST', appCode: 'CHALLENGE_EXPIRED' });

    const { challengeId, options } = await file.app.caller().auth.passkeys.authenticationOptions();
    const response = await authenticator.authenticate(options);
    const both = await Promise.allSettled([
      file.app.caller().auth.passkeys.authenticate({ challengeId, response }),
      file.app.caller().auth.passkeys.authenticate({ challengeId, response }),
    ]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);

    const late = await file.app.caller().auth.passkeys.authenticationOptions();
    const lateResponse = await authenticator.authenticate(late.options);
    file.app.clock.advance(5 * 60 + 1);
    expect(
      await failure(file.app.caller().auth.passkeys.authenticate({ challengeId: late.challengeId, response: lateResponse })),
    ).toMatchObject({ appCode: 'CHALLENGE_EXPIRED' });
  });

  it('refuses an assertion without user verification, from another origin, for another challenge id, or with a changed backup eligibility', async () => {
    const { authenticator } = await withPasskey('refused');
    for (const overrides of [{ userVerified: false }, { origin: 'http://localhost:4000' }, { backupEligible: true }]) {
      expect(await failure((await signInWith(authenticator, undefined, overrides)).result), JSON.stringify(overrides)).toMatchObject({
        code: 'UNAUTHORIZED',
        appCode: 'PASSKEY_INVALID',
      });
    }
    const a = await file.app.caller().auth.passkeys.authenticationOptions();
    const b = await file.app.caller().auth.passkeys.authenticationOptions();
    const response = await authenticator.authenticate(a.options);
    expect(await failure(file.app.caller().auth.passkeys.authenticate({ challengeId: b.challengeId, response }))).toMatchObject({
      appCode: 'CHALLENGE_EXPIRED',
    });
  });

  it('a signature count that does not go up is refused and recorded as a suspected clone; synced passkeys (count 0) pass', async () => {
    const { session, authenticator, registered } = await withPasskey('clone');
    await (await signInWith(authenticator)).result;
    await (await signInWith(authenticator)).result;
    const replayedCount = await signInWith(authenticator, undefined, { signCount: 2 });
    expect(await failure(replayedCount.result)).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    await file.database.db.updateTable('passkeys').set({ counter: 1000 }).where('id', '=', registered.passkey.id).execute();
    expect(await failure((await signInWith(authenticator)).result)).toMatchObject({ appCode: 'PASSKEY_INVALID' });
    const events = await eventsOf(session.user.id, 'passkey.clone_suspected');
    expect(events.map((e) => e.details)).toEqual([
      { passkeyId: registered.passkey.id, storedCounter: 2, presentedCounter: 2 },
      { passkeyId: registered.passkey.id, storedCounter: 1000, presentedCounter: 3 },
    ]);

    const synced = await withPasskey('synced', { signCount: 'zero', backupEligible: true, backedUp: true });
    for (let i = 0; i < 3; i += 1) await expect((await signInWith(synced.authenticator)).result).resolves.toHaveProperty('accessToken');
  });

  it('a disabled account is told so only after its passkey verified', async () => {
    const { session, authenticator } = await withPasskey('disabled');
    await file.database.db.updateTable('users').set({ disabled_at: file.app.clock.now() }).where('id', '=', session.user.id).execute();
    expect(await failure((await signInWith(authenticator)).result)).toMatchObject({ code: 'FORBIDDEN', appCode: 'ACCOUNT_DISABLED' });
  });
});

describe('a passkey as the second factor', () => {
  it('a password login asks for it; its assertion for the pending sign-in completes the login with pwd, hwk and mfa', async () => {
    const { input, session, authenticator, registered } = await withPasskey('second');
    const answer = await file.app.caller({ ip: '198.18.9.1' }).auth.login({ email: input.email, password: input.password });
    if (!('mfaRequired' in answer)) throw new Error('expected a second step');
    expect(answer.factors).toEqual([{ id: registered.passkey.id, type: 'passkey' }]);
    const { options } = await file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: answer.mfaToken });
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([authenticator.credentials[0]?.id]);

    // An assertion for a sign-in challenge is no second factor of this login.
    const signInOptions = await file.app.caller().auth.passkeys.authenticationOptions();
    const wrongCeremony = await authenticator.authenticate(signInOptions.options);
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: answer.mfaToken, passkey: wrongCeremony }))).toMatchObject({
      appCode: 'PASSKEY_INVALID',
    });

    const again = await file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: answer.mfaToken });
    const verified = await file.app
      .caller()
      .auth.mfa.verify({ mfaToken: answer.mfaToken, passkey: await authenticator.authenticate(again.options) });
    expect(decodeJwt(verified.accessToken)).toMatchObject({ sub: session.user.id, amr: ['pwd', 'hwk', 'mfa'], aal: 2 });
    expect(await failure(file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: answer.mfaToken }))).toMatchObject({
      appCode: 'MFA_TOKEN_INVALID',
    });
  });

  it("a malformed assertion costs none of the pending sign-in's five attempts", async () => {
    const { input, authenticator } = await withPasskey('second-malformed');
    const answer = await file.app.caller({ ip: '198.18.9.5' }).auth.login({ email: input.email, password: input.password });
    if (!('mfaRequired' in answer)) throw new Error('expected a second step');
    for (let i = 0; i < 6; i += 1) {
      expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: answer.mfaToken, passkey: { id: 'x' } }))).toMatchObject({
        appCode: 'PASSKEY_INVALID',
      });
    }
    const { options } = await file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: answer.mfaToken });
    await expect(
      file.app.caller().auth.mfa.verify({ mfaToken: answer.mfaToken, passkey: await authenticator.authenticate(options) }),
    ).resolves.toHaveProperty('accessToken');
  });

  it("another account's passkey does not complete the login", async () => {
    const { input } = await withPasskey('second-foreign');
    const stranger = await withPasskey('second-stranger');
    const answer = await file.app.caller({ ip: '198.18.9.2' }).auth.login({ email: input.email, password: input.password });
    if (!('mfaRequired' in answer)) throw new Error('expected a second step');
    const { options } = await file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: answer.mfaToken });
    const foreign = await stranger.authenticator.authenticate({ ...options, allowCredentials: [] });
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: answer.mfaToken, passkey: foreign }))).toMatchObject({
      appCode: 'PASSKEY_INVALID',
    });
  });
});

describe('re-authenticating with a passkey, and removing passkeys', () => {
  it('needs a signed-in caller; the assertion gives a fresh proof that includes the factor', async () => {
    const { session, as, authenticator } = await withPasskey('reauth');
    expect(await failure(file.app.caller().auth.passkeys.authenticationOptions({ reauthenticate: true }))).toMatchObject({
      appCode: 'ACCESS_TOKEN_MISSING',
    });
    file.app.clock.advance(6 * 60);
    expect(await failure(as().auth.passkeys.registrationOptions())).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    const { options } = await as().auth.passkeys.authenticationOptions({ reauthenticate: true });
    expect(options.allowCredentials).toHaveLength(1);
    const fresh = await as().auth.reauthenticate({ passkey: await authenticator.authenticate(options) });
    expect(decodeJwt(fresh.accessToken)).toMatchObject({ sub: session.user.id, amr: ['pwd', 'hwk', 'mfa'], aal: 2 });
    await expect(file.app.caller({ accessToken: fresh.accessToken }).auth.passkeys.registrationOptions()).resolves.toHaveProperty(
      'challenge',
    );

    // A challenge bound to this session serves no other session of the account.
    const { options: bound } = await as().auth.passkeys.authenticationOptions({ reauthenticate: true });
    const second = await (await signInWith(authenticator)).result;
    const elsewhere = file.app.caller({ accessToken: second.accessToken });
    expect(await failure(elsewhere.auth.reauthenticate({ passkey: await authenticator.authenticate(bound) }))).toMatchObject({
      appCode: 'PASSKEY_INVALID',
    });
  });

  it('a password alone no longer proves enough for an account with a passkey', async () => {
    const { input, as } = await withPasskey('reauth-password');
    file.app.clock.advance(6 * 60);
    const passwordOnly = await as().auth.reauthenticate({ password: input.password });
    const proven = file.app.caller({ accessToken: passwordOnly.accessToken });
    expect(await failure(proven.auth.passkeys.registrationOptions())).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    const [passkey] = await proven.auth.passkeys.list();
    expect(await failure(proven.auth.passkeys.remove({ id: passkey?.id ?? '' }))).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
  });

  it("rename and remove; the last factor takes the recovery codes; another account's passkey is not found", async () => {
    const { input, session, as, registered, authenticator } = await withPasskey('manage');
    const stranger = await withPasskey('manage-stranger');
    const strangerSudo = await proven(stranger.as, stranger.authenticator);
    expect(await failure(strangerSudo.auth.passkeys.rename({ id: registered.passkey.id, name: 'Mine' }))).toMatchObject({
      appCode: 'PASSKEY_NOT_FOUND',
    });
    expect(await failure(strangerSudo.auth.passkeys.remove({ id: registered.passkey.id }))).toMatchObject({
      appCode: 'PASSKEY_NOT_FOUND',
    });
    await expect(as().auth.passkeys.rename({ id: registered.passkey.id, name: '  Phone ' })).resolves.toMatchObject({ name: 'Phone' });
    const sudo = await proven(as, authenticator);
    await sudo.auth.passkeys.remove({ id: registered.passkey.id });
    expect(await sudo.auth.passkeys.list()).toEqual([]);
    const codes = await file.database.db.selectFrom('mfa_recovery_codes').select('id').where('user_id', '=', session.user.id).execute();
    expect(codes).toEqual([]);
    expect(await eventsOf(session.user.id, 'passkey.removed')).toHaveLength(1);
    // Without a factor the password signs in on its own again.
    const login = await file.app.caller({ ip: '198.18.9.3' }).auth.login({ email: input.email, password: input.password });
    expect(login).toHaveProperty('accessToken');
  });

  it('an account whose only way in is its passkey cannot remove it (LAST_SIGN_IN_METHOD), and no password signs in to it', async () => {
    const { input, session, as, registered, authenticator } = await withPasskey('last-method');
    await file.database.db.updateTable('users').set({ password_hash: null }).where('id', '=', session.user.id).execute();
    const sudo = await proven(as, authenticator);
    expect(await failure(sudo.auth.passkeys.remove({ id: registered.passkey.id }))).toMatchObject({
      code: 'CONFLICT',
      appCode: 'LAST_SIGN_IN_METHOD',
    });
    expect(await failure(file.app.caller({ ip: '198.18.9.4' }).auth.login({ email: input.email, password: input.password }))).toMatchObject(
      {
        appCode: 'INVALID_CREDENTIALS',
      },
    );
    // With a second passkey, the first may go.
    const second = softwareAuthenticator({ origin: ORIGIN });
    const signedIn = await (await signInWith(authenticator)).result;
    const passkeyOnly = file.app.caller({ accessToken: signedIn.accessToken });
    await passkeyOnly.auth.passkeys.register({ response: await second.register(await passkeyOnly.auth.passkeys.registrationOptions()) });
    await expect(passkeyOnly.auth.passkeys.remove({ id: registered.passkey.id })).resolves.toEqual({ success: true });
  });
});

describe('bad input', () => {
  it('malformed, mistyped or huge responses and unknown challenges are 4xx with an appCode, never a 5xx', async () => {
    const { authenticator, as } = await withPasskey('bad-input');
    const { challengeId, options } = await file.app.caller().auth.passkeys.authenticationOptions();
    const good = await authenticator.authenticate(options);
    const cases: unknown[] = [
      null,
      'a string',
      42,
      [],
      {},
      { ...good, type: 'other' },
      { ...good, id: 'not base64url!' },
      { ...good, response: { ...good.response, clientDataJSON: 'A'.repeat(100_000) } },
      { ...good, response: { ...good.response, clientDataJSON: Buffer.from('{"challenge":5}').toString('base64url') } },
      { ...good, response: { ...good.response, clientDataJSON: Buffer.from('not json').toString('base64url') } },
      { ...good, response: { ...good.response, signature: 7 } },
      { ...good, response: { ...good.response, authenticatorData: 'AAAA' } },
    ];
    for (const response of cases) {
      const refused = await failure(file.app.caller().auth.passkeys.authenticate({ challengeId, response }));
      expect(refused.code, JSON.stringify(response).slice(0, 80)).not.toBe('INTERNAL_SERVER_ERROR');
      expect(refused.appCode).toBeDefined();
    }
    expect(
      await failure(file.app.caller().auth.passkeys.authenticate({ challengeId: '00000000-0000-4000-8000-000000000000', response: good })),
    ).toMatchObject({ appCode: expect.stringMatching(/CHALLENGE_EXPIRED|PASSKEY_INVALID/) });
    for (const response of cases) {
      const refused = await failure(as().auth.passkeys.register({ response }));
      expect(refused.code).not.toBe('INTERNAL_SERVER_ERROR');
      expect(refused.appCode).toBeDefined();
    }
    expect(await failure(file.app.caller().auth.passkeys.authenticationOptions({ mfaToken: 'x' }))).toMatchObject({
      appCode: 'MFA_TOKEN_INVALID',
    });
  });

  it.runIf(onPostgres)('one challenge answered by many requests at once passes once (PostgreSQL: truly concurrent)', async () => {
    const { authenticator } = await withPasskey('race');
    const { challengeId, options } = await file.app.caller().auth.passkeys.authenticationOptions();
    const response = await authenticator.authenticate(options);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => file.app.caller().auth.passkeys.authenticate({ challengeId, response })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});
