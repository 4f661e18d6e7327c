/**
 * Sign in with an OpenID provider (issue 19) against a real one, oidc-provider 9, on loopback:
 * the browser's steps through the server's start and callback routes, account resolution by
 * (issuer, sub) with linking only when both addresses are verified (the pre-hijacking attacks),
 * and each tampering of the flow refused with its appCode and no session. GitHub's preset runs
 * against a double of its OAuth 2 endpoints.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '../src/lib/secret-box.js';
import { fromBase32, newUser, type ServedApp, servedApp, TEST_JWT_SECRET, totpCode } from '../src/testing.js';
import type { TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';
import type { GitHubDouble } from './helpers/github-double.js';
import type { TestOidcProvider } from './helpers/oidc-provider.js';
import { type OidcServers, startOidcServers } from './helpers/oidc-servers.js';

const BASE_URL = 'http://localhost:3000';
const APP = `${BASE_URL}/app/signed-in`;

let database: TestDatabase;
let app: ServedApp;
let provider: TestOidcProvider;
let github: GitHubDouble;
let unreachable: ServedApp;

let servers: OidcServers;
beforeAll(async () => {
  servers = await startOidcServers();
  ({ provider, github, database, app } = servers);
  // A provider nobody answers at: a closed port of loopback.
  unreachable = await servedApp(database, {
    env: { BASE_URL, OIDC_DOWN_ISSUER: 'http://127.0.0.1:9', OIDC_DOWN_CLIENT_ID: 'x', OIDC_DOWN_CLIENT_SECRET: 'y' },
  });
}, 60_000);

afterAll(async () => {
  await servers?.close([unreachable]);
});

let subjects = 0;
/** An account at the provider, signing in next. */
function providerAccount(email: string, verified: boolean) {
  subjects += 1;
  const sub = `sub-${subjects}-${Math.random().toString(36).slice(2)}`;
  provider.addAccount({ sub, email, email_verified: verified, name: 'Ada Lovelace', preferred_username: `ada${subjects}` });
  provider.nextLogin(sub);
  return sub;
}

interface Started {
  location: URL;
  cookie: string;
}

/** GET the server's start route as a browser: the provider's URL and the flow's cookie. */
async function start(providerId = 'test', redirectTo = APP, server = app): Promise<Started> {
  const response = await fetch(`${server.url}/auth/oidc/${providerId}/start?redirect_to=${encodeURIComponent(redirectTo)}`, {
    redirect: 'manual',
  });
  expect(response.status).toBe(302);
  const cookie = response.headers.getSetCookie()[0] ?? '';
  return { location: new URL(response.headers.get('location') ?? ''), cookie: cookie.split(';')[0] ?? '' };
}

/** GET the server's callback with the provider's answer (its query), as the browser would, with `cookie`. */
async function callback(answer: URL, cookie: string | undefined, providerId = 'test') {
  const response = await fetch(`${app.url}/auth/oidc/${providerId}/callback${answer.search}`, {
    redirect: 'manual',
    headers: cookie ? { cookie } : {},
  });
  const location = response.headers.get('location');
  const fragment = location ? new URLSearchParams(new URL(location).hash.slice(1)) : undefined;
  return {
    status: response.status,
    location,
    code: fragment?.get('code') ?? undefined,
    linkCode: fragment?.get('link_code') ?? undefined,
    error: fragment?.get('error') ?? undefined,
  };
}

/** The whole browser flow: start, the provider, the callback. */
async function signInFlow(providerId = 'test') {
  const started = await start(providerId);
  const answer = providerId === 'github' ? await github.authorize(started.location) : await provider.authorize(started.location);
  return { started, answer, result: await callback(answer, started.cookie, providerId) };
}

async function exchange(code: string | undefined) {
  if (!code) throw new Error('the callback gave no code');
  return app.caller().auth.exchangeCode({ code });
}

const identitiesOf = (userId: string) => database.db.selectFrom('identities').selectAll().where('user_id', '=', userId).execute();

describe('signing in with an OpenID provider', () => {
  it('lists the providers, and a new identity with a verified email creates an account (no password, email verified) signed in with amr ["fed"]', async () => {
    expect(await app.caller().auth.providers()).toEqual([
      { id: 'test', name: 'Test provider' },
      { id: 'github', name: 'GitHub' },
    ]);
    const email = `${newUser('oidc-new').email}`;
    const sub = providerAccount(email, true);
    const { started, answer, result } = await signInFlow();
    expect(started.location.origin).toBe(provider.issuer);
    expect(started.location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(started.location.searchParams.get('nonce')).toBeTruthy();
    expect(started.cookie).toMatch(/^latchkey_oidc_test=/);
    expect(answer.searchParams.get('iss')).toBe(provider.issuer);
    expect(result.status).toBe(302);
    expect(result.location?.startsWith(`${APP}#code=`)).toBe(true);
    const session = await exchange(result.code);
    if ('mfaRequired' in session) throw new Error('no second factor expected');
    expect(session.user.email).toBe(email);
    expect(decodeJwt(session.accessToken)).toMatchObject({ amr: ['fed'], aal: 1 });
    const user = await database.db.selectFrom('users').selectAll().where('id', '=', session.user.id).executeTakeFirstOrThrow();
    expect(user.password_hash).toBeNull();
    expect(user.email_verified_at).not.toBeNull();
    expect((await identitiesOf(user.id)).map((i) => [i.issuer, i.subject])).toEqual([[provider.issuer, sub]]);

    // The same subject again: the same account.
    provider.nextLogin(sub);
    const again = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in again) throw new Error('no second factor expected');
    expect(again.user.id).toBe(session.user.id);
    // The one-time code works once.
    expect(await failure(exchange(result.code))).toMatchObject({ appCode: 'TOKEN_INVALID' });
  });

  it('links to a local account only when both addresses are verified', async () => {
    const local = newUser('oidc-link');
    const registered = await app.caller().auth.register(local);
    await database.db.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', registered.user.id).execute();
    providerAccount(local.email, true);
    const linked = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in linked) throw new Error('no second factor expected');
    expect(linked.user.id).toBe(registered.user.id);
    const events = await database.db
      .selectFrom('security_events')
      .selectAll()
      .where('user_id', '=', registered.user.id)
      .where('type', '=', 'identity.linked')
      .execute();
    expect(events.map((e) => e.details)).toEqual([expect.objectContaining({ provider: 'test', how: 'verified email' })]);
  });

  it("pre-hijacking: an attacker who registered the victim's address unverified gains nothing when the victim signs in with the provider", async () => {
    const victim = newUser('oidc-victim');
    const squat = await app.caller().auth.register({ ...victim, username: `${victim.username}x`, password: 'attacker-chosen-password-1' });
    providerAccount(victim.email, true);
    const { result } = await signInFlow();
    expect(result.error).toBe('IDENTITY_LINK_REQUIRED');
    expect(result.code).toBeUndefined();
    expect(await identitiesOf(squat.user.id)).toEqual([]);
    const failed = await database.db
      .selectFrom('security_events')
      .selectAll()
      .where('user_id', '=', squat.user.id)
      .where('type', '=', 'login.failed')
      .execute();
    expect(failed.map((e) => e.details)).toEqual([{ reason: 'link_required', provider: 'test' }]);
  });

  it('an unverified email at the provider links nothing, even to a verified local account', async () => {
    const local = newUser('oidc-unverified');
    const registered = await app.caller().auth.register(local);
    await database.db.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', registered.user.id).execute();
    providerAccount(local.email, false);
    expect((await signInFlow()).result.error).toBe('IDENTITY_LINK_REQUIRED');
    expect(await identitiesOf(registered.user.id)).toEqual([]);
  });

  it('an account with a second factor gets mfaRequired, and the factor completes it with fed, otp, mfa', async () => {
    providerAccount(newUser('oidc-mfa').email, true);
    const first = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in first) throw new Error('no second factor yet');
    // A new account signed in by its provider: the sign-in is its recent proof.
    const as = app.caller({ accessToken: first.accessToken });
    const enrolled = await as.auth.mfa.totp.enroll();
    const secret = fromBase32(enrolled.secret);
    await as.auth.mfa.totp.confirm({ factorId: enrolled.factorId, code: totpCode(secret, app.clock.now()) });
    app.clock.advance(30);
    const sub = (await identitiesOf(first.user.id))[0]?.subject ?? '';
    provider.nextLogin(sub);
    const second = await exchange((await signInFlow()).result.code);
    if (!('mfaRequired' in second)) throw new Error('expected the second factor to be asked for');
    const verified = await app.caller().auth.mfa.verify({ mfaToken: second.mfaToken, code: totpCode(secret, app.clock.now()) });
    expect(decodeJwt(verified.accessToken)).toMatchObject({ amr: ['fed', 'otp', 'mfa'], aal: 2 });
  });

  it('an account made by its provider has no password, and gets one through the reset flow', async () => {
    const email = newUser('oidc-reset').email;
    providerAccount(email, true);
    const made = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in made) throw new Error('no second factor expected');
    await app.caller().auth.forgotPassword({ email });
    const mail = (await app.mails()).filter((m) => m.to === email && m.kind === 'reset_password').at(-1);
    const token = new URLSearchParams(new URL(mail?.links[0] ?? 'http://missing/').hash.slice(1)).get('token') ?? '';
    await app.caller().auth.resetPassword({ token, newPassword: 'a password of my own at last' });
    const login = await app.caller({ ip: '198.18.10.1' }).auth.login({ email, password: 'a password of my own at last' });
    expect(login).toMatchObject({ user: { id: made.user.id } });
  });

  it('a disabled account cannot sign in this way', async () => {
    providerAccount(newUser('oidc-disabled').email, true);
    const first = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in first) throw new Error('no second factor expected');
    await database.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', first.user.id).execute();
    provider.nextLogin((await identitiesOf(first.user.id))[0]?.subject);
    expect((await signInFlow()).result.error).toBe('ACCOUNT_DISABLED');
  });
});

describe('a tampered or replayed flow is refused, with no session', () => {
  it('a redirect_to outside ALLOWED_REDIRECTS, an unknown provider, a missing redirect_to: 4xx pages, never a redirect', async () => {
    for (const path of [
      `/auth/oidc/test/start?redirect_to=${encodeURIComponent('https://evil.example/steal')}`,
      `/auth/oidc/test/start?redirect_to=${encodeURIComponent('http://localhost:3000.evil.example/')}`,
      '/auth/oidc/test/start',
      `/auth/oidc/test/start?redirect_to=${encodeURIComponent(APP)}&redirect_to=${encodeURIComponent(APP)}`,
      `/auth/oidc/nope/start?redirect_to=${encodeURIComponent(APP)}`,
      '/auth/oidc/test/callback',
      '/auth/oidc/test/callback?state=unknown&code=x',
      '/auth/oidc/test/callback?state=a&state=b&code=x',
      `/auth/oidc/test/callback?state=${'x'.repeat(5000)}`,
    ]) {
      const response = await fetch(`${app.url}${path}`, { redirect: 'manual' });
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
      expect(response.headers.get('location'), path).toBeNull();
    }
  });

  it('without the cookie of the browser that started it, or with another one, the callback is refused', async () => {
    providerAccount(newUser('oidc-cookie').email, true);
    const started = await start();
    const answer = await provider.authorize(started.location);
    expect(await callback(answer, undefined)).toMatchObject({ status: 302, error: 'OIDC_STATE_INVALID', code: undefined });

    const other = await start();
    const secondAnswer = await provider.authorize(other.location);
    expect((await callback(secondAnswer, started.cookie)).error).toBe('OIDC_STATE_INVALID');
  });

  it('a callback replayed is refused (the state is used up), and so is an authorization code replayed into a new flow', async () => {
    providerAccount(newUser('oidc-replay').email, true);
    const { started, answer, result } = await signInFlow();
    expect(result.code).toBeDefined();
    const replay = await callback(answer, started.cookie);
    expect(replay.status).toBe(400);

    const fresh = await start();
    const stolen = new URL(answer.href);
    stolen.searchParams.set('state', new URL(fresh.location).searchParams.get('state') ?? '');
    expect((await callback(stolen, fresh.cookie)).error).toBe('OIDC_RESPONSE_INVALID');
  });

  it("an ID token whose nonce is not the flow's is refused (nonce_mismatch)", async () => {
    const email = newUser('oidc-nonce').email;
    providerAccount(email, true);
    const started = await start();
    const answer = await provider.authorize(started.location);
    // The flow's sealed nonce replaced, as if the ID token answered another request.
    const box = createSecretBox({ current: TEST_JWT_SECRET, previous: undefined }, 'oidc-flow');
    const flows = await database.db.selectFrom('oidc_flows').selectAll().where('used_at', 'is', null).execute();
    for (const flow of flows) {
      const opened = box.openDetailed(flow.secrets_sealed, `oidc-flow:${flow.id}`);
      if (!opened) continue;
      const secrets = JSON.parse(opened.plaintext.toString('utf8')) as { state: string; nonce: string; codeVerifier: string };
      if (secrets.state !== answer.searchParams.get('state')) continue;
      const sealed = box.seal(Buffer.from(JSON.stringify({ ...secrets, nonce: 'another-nonce' })), `oidc-flow:${flow.id}`);
      await database.db.updateTable('oidc_flows').set({ secrets_sealed: sealed }).where('id', '=', flow.id).execute();
    }
    expect((await callback(answer, started.cookie)).error).toBe('OIDC_RESPONSE_INVALID');
    const events = await database.db.selectFrom('security_events').select('details').where('type', '=', 'login.failed').execute();
    expect(events.map((e) => e.details)).toContainEqual({ reason: 'nonce_mismatch', provider: 'test' });
    expect(await database.db.selectFrom('users').select('id').where('email', '=', email).execute()).toEqual([]);
  });

  it('a provider that cannot be reached fails its sign-in with PROVIDER_UNAVAILABLE, not the server', async () => {
    const response = await fetch(`${unreachable.url}/auth/oidc/down/start?redirect_to=${encodeURIComponent(APP)}`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('location') ?? '').hash).toBe('#error=PROVIDER_UNAVAILABLE');
    expect((await fetch(`${unreachable.url}/health`)).status).toBe(200);
  });
});

describe('linking and unlinking', () => {
  it('a signed-in user links an identity through linkStart; one linked to someone else is IDENTITY_IN_USE; the last way in cannot be unlinked', async () => {
    const owner = await app.caller().auth.register(newUser('oidc-owner'));
    const as = app.caller({ accessToken: owner.accessToken });
    const sub = providerAccount(`other-${newUser('x').email}`, false);
    const { url } = await as.auth.identities.linkStart({ provider: 'test', redirectTo: APP });
    expect(new URL(url).pathname).toBe('/auth/oidc/test/start');
    const opened = await fetch(url.replace(BASE_URL, app.url), { redirect: 'manual' });
    expect(opened.status).toBe(302);
    const cookie = opened.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const answer = await provider.authorize(opened.headers.get('location') ?? '');
    const linked = await callback(answer, cookie);
    // No sign-in comes back, and nothing is linked until the user who started it confirms it.
    expect(linked.code).toBeUndefined();
    expect(linked.linkCode).toBeDefined();
    expect(await as.auth.identities.list()).toEqual([]);
    const stranger = await app.caller().auth.register(newUser('oidc-stranger'));
    expect(
      await failure(app.caller({ accessToken: stranger.accessToken }).auth.identities.linkComplete({ code: linked.linkCode ?? '' })),
    ).toMatchObject({ appCode: 'TOKEN_INVALID' });
    await expect(as.auth.identities.linkComplete({ code: linked.linkCode ?? '' })).resolves.toMatchObject({ provider: 'test' });
    expect((await as.auth.identities.list()).map((i) => i.provider)).toEqual(['test']);
    expect(await failure(as.auth.identities.linkComplete({ code: linked.linkCode ?? '' }))).toMatchObject({ appCode: 'TOKEN_INVALID' });
    // The ticket works once.
    expect((await fetch(url.replace(BASE_URL, app.url), { redirect: 'manual' })).status).toBe(400);

    // The same identity for another account: refused.
    const rival = await app.caller().auth.register(newUser('oidc-rival'));
    const rivalLink = await app.caller({ accessToken: rival.accessToken }).auth.identities.linkStart({ provider: 'test', redirectTo: APP });
    const rivalOpened = await fetch(rivalLink.url.replace(BASE_URL, app.url), { redirect: 'manual' });
    provider.nextLogin(sub);
    const rivalAnswer = await provider.authorize(rivalOpened.headers.get('location') ?? '');
    const rivalCode = (await callback(rivalAnswer, rivalOpened.headers.getSetCookie()[0]?.split(';')[0])).linkCode ?? '';
    expect(await failure(app.caller({ accessToken: rival.accessToken }).auth.identities.linkComplete({ code: rivalCode }))).toMatchObject({
      appCode: 'IDENTITY_IN_USE',
    });

    // An account made by its provider has no password: its only identity cannot go.
    providerAccount(newUser('oidc-only').email, true);
    const only = await exchange((await signInFlow()).result.code);
    if ('mfaRequired' in only) throw new Error('no second factor expected');
    const onlyAs = app.caller({ accessToken: only.accessToken });
    const [identity] = await onlyAs.auth.identities.list();
    expect(await failure(onlyAs.auth.identities.unlink({ identityId: identity?.id ?? '' }))).toMatchObject({
      appCode: 'LAST_SIGN_IN_METHOD',
    });
    // An account with a password may unlink it.
    const [ownersIdentity] = await as.auth.identities.list();
    await as.auth.identities.unlink({ identityId: ownersIdentity?.id ?? '' });
    expect(await as.auth.identities.list()).toEqual([]);
  });
});

describe("GitHub's OAuth 2 preset", () => {
  it('signs in with the primary address only when GitHub has verified it', async () => {
    const email = newUser('gh').email;
    github.addUser({
      id: 4242,
      login: 'octo-cat',
      emails: [
        { email, primary: true, verified: false },
        { email: `x${email}`, primary: false, verified: true },
      ],
    });
    github.nextLogin(4242);
    // An unverified primary address makes no account (and the verified secondary one is not taken instead).
    expect((await signInFlow('github')).result.error).toBe('PROVIDER_EMAIL_UNVERIFIED');
    github.addUser({ id: 4242, login: 'octo-cat', emails: [{ email, primary: true, verified: true }] });
    const session = await exchange((await signInFlow('github')).result.code);
    if ('mfaRequired' in session) throw new Error('no second factor expected');
    expect(session.user).toMatchObject({ email, username: 'octo-cat' });
    const user = await database.db.selectFrom('users').selectAll().where('id', '=', session.user.id).executeTakeFirstOrThrow();
    expect(user.email_verified_at).not.toBeNull();
    expect((await identitiesOf(user.id)).map((i) => [i.issuer, i.subject, i.provider])).toEqual([[github.url, '4242', 'github']]);
  });
});
