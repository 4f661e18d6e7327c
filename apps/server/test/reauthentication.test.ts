/**
 * Re-authentication ("sudo mode") and the email change that cannot hijack (issue 13, items 1 and 2):
 * each attack of the account-takeover chain, reproduced with a stolen access token.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../src/modules/throttle/throttle.policy.js';
import { newUser, servedForFile, signedIn } from './helpers/app.js';
import { expectUnchanged } from './helpers/database.js';
import { failure } from './helpers/failure.js';

const file = servedForFile({ env: { TRUST_PROXY: 'true' } });

/** Past REAUTH_MAX_AGE (5 minutes): what a token stolen from a log or a shared machine looks like. */
const STALE = 6 * 60;

async function signedUp({ verified = false } = {}) {
  const input = newUser('reauth');
  const session = await file.app.caller().auth.register(input);
  if (verified)
    await file.database.db
      .updateTable('users')
      .set({ email_verified_at: file.app.clock.now() })
      .where('id', '=', session.user.id)
      .execute();
  return { input, session, as: (accessToken = session.accessToken) => file.app.caller({ accessToken }) };
}

const mailsTo = async (to: string) => (await file.app.mails()).filter((mail) => mail.to.toLowerCase() === to.toLowerCase());
const tokenOf = (link: string | undefined) => new URL(link ?? 'http://missing/').searchParams.get('token') ?? '';

describe('re-authentication', () => {
  it('an access token alone cannot change the email: after REAUTH_MAX_AGE it is FORBIDDEN / REAUTHENTICATION_REQUIRED and nothing changes', async () => {
    const { session, as } = await signedUp();
    file.app.clock.advance(STALE);
    const mailsBefore = (await file.app.mails()).length;
    await expectUnchanged(file.database.db, async () => {
      expect(await failure(as().user.update({ email: 'attacker@evil.example', bio: 'not saved' }))).toEqual({
        code: 'FORBIDDEN',
        appCode: 'REAUTHENTICATION_REQUIRED',
      });
    });
    expect(await file.app.mails()).toHaveLength(mailsBefore);
    expect(await as().user.me()).toMatchObject({ email: session.user.email, pendingEmail: null, bio: null });
  });

  it('an access token alone cannot change the password; the current password in the same call can', async () => {
    const { input, as } = await signedUp();
    file.app.clock.advance(STALE);
    expect(await failure(as().user.changePassword({ newPassword: 'an attacker chosen passphrase' }))).toEqual({
      code: 'FORBIDDEN',
      appCode: 'REAUTHENTICATION_REQUIRED',
    });
    expect(
      await failure(as().user.changePassword({ currentPassword: 'a guess', newPassword: 'an attacker chosen passphrase' })),
    ).toMatchObject({ appCode: 'INVALID_CREDENTIALS' });
    await expect(file.app.caller().auth.login(input)).resolves.toHaveProperty('accessToken');
    await as().user.changePassword({ currentPassword: input.password, newPassword: 'the owner chose this one' });
    await expect(file.app.caller().auth.login({ email: input.email, password: 'the owner chose this one' })).resolves.toHaveProperty(
      'accessToken',
    );
  });

  it('reauthenticate answers a fresh token whose auth_time is now; with it, and only with it, the change needs no password', async () => {
    const { input, session, as } = await signedUp();
    file.app.clock.advance(STALE);
    const fresh = await as().auth.reauthenticate({ password: input.password });
    expect(fresh.accessTokenExpiresAt).toBeInstanceOf(Date);
    const claims = decodeJwt(fresh.accessToken);
    expect(claims.auth_time).toBe(Math.floor(file.app.clock.now().getTime() / 1000));
    expect(claims).toMatchObject({ amr: ['pwd'], aal: 1, sub: session.user.id });
    // The session's older token does not become a sudo token.
    expect(await failure(as().user.update({ email: `new-${input.email}` }))).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    await expect(as(fresh.accessToken).user.update({ email: `new-${input.email}` })).resolves.toMatchObject({
      pendingEmail: `new-${input.email}`,
    });
    // The proof ages like any other.
    file.app.clock.advance(STALE);
    expect(await failure(as(fresh.accessToken).user.changePassword({ newPassword: 'another passphrase here' }))).toMatchObject({
      appCode: 'REAUTHENTICATION_REQUIRED',
    });
  });

  it('a refresh keeps auth_time: holding a refresh token proves nothing new', async () => {
    const { input, session } = await signedUp();
    const authTime = decodeJwt(session.accessToken).auth_time;
    file.app.clock.advance(STALE);
    const refreshed = await file.app.caller().auth.refresh({ refreshToken: session.refreshToken });
    expect(decodeJwt(refreshed.accessToken).auth_time).toBe(authTime);
    expect(await failure(file.app.caller({ accessToken: refreshed.accessToken }).user.update({ email: `x-${input.email}` }))).toMatchObject(
      {
        appCode: 'REAUTHENTICATION_REQUIRED',
      },
    );
  });

  it('a wrong password is INVALID_CREDENTIALS, and a burst of guesses gets no more answers than the limit allows', async () => {
    const { as } = await signedUp();
    const outcomes = await Promise.all(Array.from({ length: 15 }, (_, i) => failure(as().auth.reauthenticate({ password: `guess ${i}` }))));
    expect(outcomes.filter((o) => o.appCode === 'INVALID_CREDENTIALS')).toHaveLength(LIMITS.passwordChecksPerAccount.max);
    expect(outcomes.filter((o) => o.appCode === 'RATE_LIMITED')).toHaveLength(15 - LIMITS.passwordChecksPerAccount.max);
  });

  it('the guesses of reauthenticate and changePassword share one count', async () => {
    const { input, as } = await signedUp();
    for (let i = 0; i < LIMITS.passwordChecksPerAccount.max; i += 1)
      await failure(as().user.changePassword({ currentPassword: `guess ${i}`, newPassword: 'whatever passphrase' }));
    expect(await failure(as().auth.reauthenticate({ password: input.password }))).toMatchObject({ appCode: 'RATE_LIMITED' });
  });

  it('a revoked session cannot re-authenticate', async () => {
    const { input, session, as } = await signedUp();
    await file.app.caller().auth.logout({ refreshToken: session.refreshToken });
    expect(await failure(as().auth.reauthenticate({ password: input.password }))).toMatchObject({ appCode: 'SESSION_REVOKED' });
  });

  it('username, bio and image need no re-authentication', async () => {
    const { as } = await signedUp();
    file.app.clock.advance(STALE);
    await expect(as().user.update({ bio: 'still mine' })).resolves.toMatchObject({ bio: 'still mine' });
  });
});

describe('email change', () => {
  it('is pending until the links to the new and the verified current address are both used; sign-in and resets stay with the current address', async () => {
    const { input, session, as } = await signedUp({ verified: true });
    const newEmail = `moved-${input.email}`;
    expect(await as().user.update({ email: newEmail, currentPassword: input.password })).toMatchObject({
      email: input.email,
      pendingEmail: newEmail,
      emailVerified: true,
    });
    const [toNew] = await mailsTo(newEmail);
    const [toCurrent] = (await mailsTo(input.email)).filter((m) => m.kind === 'email_change_current');
    expect(toNew?.kind).toBe('email_change_new');
    expect(toCurrent?.text).toContain(newEmail);

    // Halfway: nothing moved yet.
    await expect(file.app.caller().auth.verifyEmail({ token: tokenOf(toNew?.links[0]) })).resolves.toMatchObject({
      user: { email: input.email, pendingEmail: newEmail },
    });
    await expect(file.app.caller().auth.login(input)).resolves.toHaveProperty('accessToken');
    expect(await failure(file.app.caller().auth.login({ email: newEmail, password: input.password }))).toMatchObject({
      appCode: 'INVALID_CREDENTIALS',
    });
    await file.app.caller().auth.forgotPassword({ email: newEmail });
    expect((await mailsTo(newEmail)).filter((m) => m.kind === 'reset_password')).toHaveLength(0);

    // Both confirmed: the address moves, proven, and the old one is told.
    await expect(file.app.caller().auth.verifyEmail({ token: tokenOf(toCurrent?.links[0]) })).resolves.toMatchObject({
      user: { email: newEmail, pendingEmail: null, emailVerified: true },
    });
    expect((await mailsTo(input.email)).filter((m) => m.kind === 'email_changed')).toHaveLength(1);
    await expect(file.app.caller().auth.login({ email: newEmail, password: input.password })).resolves.toHaveProperty('accessToken');
    expect(await as(session.accessToken).user.me()).toMatchObject({ email: newEmail });
  });

  it("a thief with a fresh token cannot take the account: the change waits for the owner's mailbox, and a reset cancels it", async () => {
    const { input, as } = await signedUp({ verified: true });
    const attacker = `thief-${input.email}`;
    await as().user.update({ email: attacker });
    const [toThief] = await mailsTo(attacker);
    await file.app.caller().auth.verifyEmail({ token: tokenOf(toThief?.links[0]) });
    // The reset chain of the old attack: a reset mailed to the thief's address is never sent.
    await file.app.caller().auth.forgotPassword({ email: attacker });
    expect((await mailsTo(attacker)).map((m) => m.kind)).toEqual(['email_change_new']);
    // The owner resets from their own mailbox: the pending change and its links die.
    await file.app.caller().auth.forgotPassword({ email: input.email });
    const reset = (await mailsTo(input.email)).find((m) => m.kind === 'reset_password');
    const resetToken = new URLSearchParams(new URL(reset?.links[0] ?? 'http://x/').hash.slice(1)).get('token') ?? '';
    await file.app.caller().auth.resetPassword({ token: resetToken, newPassword: 'the owner is back in' });
    const toOwner = (await mailsTo(input.email)).find((m) => m.kind === 'email_change_current');
    expect(await failure(file.app.caller().auth.verifyEmail({ token: tokenOf(toOwner?.links[0]) }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
    const login = await signedIn(file.app.caller().auth.login({ email: input.email, password: 'the owner is back in' }));
    expect(login.user).toMatchObject({ email: input.email, pendingEmail: null });
  });

  it('an unverified current address has nobody to ask: the new address alone completes the change', async () => {
    const { input, as } = await signedUp();
    const newEmail = `solo-${input.email}`;
    await as().user.update({ email: newEmail });
    expect((await mailsTo(input.email)).map((m) => m.kind)).toEqual(['verify_email']);
    const [toNew] = await mailsTo(newEmail);
    await expect(file.app.caller().auth.verifyEmail({ token: tokenOf(toNew?.links[0]) })).resolves.toMatchObject({
      user: { email: newEmail, emailVerified: true, pendingEmail: null },
    });
  });

  it('outstanding reset links die when the address changes; a newer request supersedes the older links', async () => {
    const { input, as } = await signedUp();
    await file.app.caller().auth.forgotPassword({ email: input.email });
    const reset = (await mailsTo(input.email)).find((m) => m.kind === 'reset_password');
    const resetToken = new URLSearchParams(new URL(reset?.links[0] ?? 'http://x/').hash.slice(1)).get('token') ?? '';
    await as().user.update({ email: `first-${input.email}` });
    await as().user.update({ email: `second-${input.email}` });
    const [first] = await mailsTo(`first-${input.email}`);
    expect(await failure(file.app.caller().auth.verifyEmail({ token: tokenOf(first?.links[0]) }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
    const [second] = await mailsTo(`second-${input.email}`);
    await file.app.caller().auth.verifyEmail({ token: tokenOf(second?.links[0]) });
    expect(await failure(file.app.caller().auth.resetPassword({ token: resetToken, newPassword: 'too late for this link' }))).toMatchObject(
      {
        appCode: 'TOKEN_INVALID',
      },
    );
  });

  it('asking for the current address again cancels the pending change', async () => {
    const { input, as } = await signedUp();
    await as().user.update({ email: `maybe-${input.email}` });
    await expect(as().user.update({ email: input.email.toUpperCase() })).resolves.toMatchObject({ email: input.email, pendingEmail: null });
    const [link] = await mailsTo(`maybe-${input.email}`);
    expect(await failure(file.app.caller().auth.verifyEmail({ token: tokenOf(link?.links[0]) }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
  });

  it('an address another account holds is EMAIL_TAKEN, before any proof is spent or mail sent', async () => {
    const other = await signedUp();
    const { as } = await signedUp();
    expect(await failure(as().user.update({ email: other.input.email.toUpperCase() }))).toMatchObject({ appCode: 'EMAIL_TAKEN' });
  });
});

describe('REST', () => {
  async function register() {
    const input = newUser('restreauth');
    const answer = await file.call('POST', '/api/users', { json: { user: input } });
    const body = answer.body as { access_token: string };
    return { input, token: body.access_token };
  }

  it('PUT /api/user checks everything first: a wrong current_password with profile fields changes nothing', async () => {
    const { input, token } = await register();
    await expectUnchanged(file.database.db, async () => {
      const answer = await file.call('PUT', '/api/user', {
        token,
        json: { user: { bio: 'not saved', password: 'a brand new passphrase', current_password: 'wrong one' } },
      });
      expect(answer.status).toBe(422);
      expect(answer.body).toEqual({ errors: { current_password: ['is incorrect'] }, code: 'INVALID_CREDENTIALS' });
    });
    expect(((await file.call('GET', '/api/user', { token })).body as { user: { bio: unknown } }).user.bio).toBeNull();
    expect(input.email).toContain('@');
  });

  it('PUT /api/user with a new email and a stale token is 403 REAUTHENTICATION_REQUIRED; POST /api/auth/reauthenticate makes it 200', async () => {
    const { input, token } = await register();
    file.app.clock.advance(STALE);
    const refused = await file.call('PUT', '/api/user', { token, json: { user: { email: `rest-${input.email}` } } });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      errors: { current_password: ['is required (or re-authenticate first)'] },
      code: 'REAUTHENTICATION_REQUIRED',
    });
    const wrong = await file.call('POST', '/api/auth/reauthenticate', { token, json: { password: 'not it' } });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toEqual({ errors: { password: ['is incorrect'] }, code: 'INVALID_CREDENTIALS' });
    const fresh = await file.call('POST', '/api/auth/reauthenticate', { token, json: { password: input.password } });
    expect(fresh.status).toBe(200);
    const { access_token: sudo } = fresh.body as { access_token: string; access_token_expires_at: string };
    const moved = await file.call('PUT', '/api/user', { token: sudo, json: { user: { email: `rest-${input.email}` } } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ user: { email: input.email, pending_email: `rest-${input.email}` } });
  });

  it('PUT /api/user with a new email and current_password is accepted at any age', async () => {
    const { input, token } = await register();
    file.app.clock.advance(STALE);
    const moved = await file.call('PUT', '/api/user', {
      token,
      json: { user: { email: `pw-${input.email}`, current_password: input.password } },
    });
    expect(moved.status).toBe(200);
  });
});
