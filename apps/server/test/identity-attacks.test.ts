/**
 * External sign-in (issue 19) as an attacker reads it, against the same real oidc-provider 9 and
 * GitHub double as identity.test.ts. Each test failed on 7c004e6 (a defect, fixed since) or pins
 * an attack the other suites do not cover.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../src/modules/throttle/throttle.policy.js';
import { newUser, onPostgres, type ServedApp, servedApp } from '../src/testing.js';
import type { TestDatabase } from './helpers/database.js';
import type { TestOidcProvider } from './helpers/oidc-provider.js';
import { type OidcServers, oidcEnv, startOidcServers } from './helpers/oidc-servers.js';

const BASE_URL = 'http://localhost:3000';
const APP = `${BASE_URL}/app/signed-in`;

let database: TestDatabase;
let app: ServedApp;
let provider: TestOidcProvider;
/** A provider nobody answers at, with a path-prefix allow-list: start answers `redirect_to#error=PROVIDER_UNAVAILABLE` at once (the redirect oracle). */
let prefixed: ServedApp;
/** The same provider at a tenth of the per-address limits, for the throttle's own test. */
let throttled: ServedApp;

let servers: OidcServers;
beforeAll(async () => {
  servers = await startOidcServers();
  ({ provider, database, app } = servers);
  prefixed = await servedApp(database, {
    env: {
      BASE_URL,
      ALLOWED_REDIRECTS: 'http://localhost:3000/app/',
      OIDC_DOWN_ISSUER: 'http://127.0.0.1:9',
      OIDC_DOWN_CLIENT_ID: 'x',
      OIDC_DOWN_CLIENT_SECRET: 'y',
    },
  });
  throttled = await servedApp(database, {
    env: {
      BASE_URL,
      RATE_LIMIT_SCALE: '0.1',
      ...oidcEnv(provider),
    },
  });
}, 60_000);

afterAll(async () => {
  await servers?.close([throttled, prefixed]);
});

let subjects = 0;
/** An account at the provider, signing in next. */
function providerAccount(email: string, verified: boolean) {
  subjects += 1;
  const sub = `atk-${subjects}-${Math.random().toString(36).slice(2)}`;
  provider.addAccount({ sub, email, email_verified: verified, name: 'Eve', preferred_username: `eve${subjects}` });
  provider.nextLogin(sub);
  return sub;
}

async function start(redirectTo = APP): Promise<{ location: URL; cookie: string }> {
  const response = await fetch(`${app.url}/auth/oidc/test/start?redirect_to=${encodeURIComponent(redirectTo)}`, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const cookie = response.headers.getSetCookie()[0] ?? '';
  return { location: new URL(response.headers.get('location') ?? ''), cookie: cookie.split(';')[0] ?? '' };
}

async function callbackWithSearch(search: string, cookie: string | undefined) {
  const response = await fetch(`${app.url}/auth/oidc/test/callback${search}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  const location = response.headers.get('location');
  const fragment = location ? new URLSearchParams(new URL(location).hash.slice(1)) : undefined;
  return { status: response.status, location, code: fragment?.get('code') ?? undefined, error: fragment?.get('error') ?? undefined };
}

async function signInFlow() {
  const started = await start();
  const answer = await provider.authorize(started.location);
  return callbackWithSearch(answer.search, started.cookie);
}

async function exchange(code: string | undefined) {
  if (!code) throw new Error('the callback gave no code');
  const session = await app.caller().auth.exchangeCode({ code });
  if ('mfaRequired' in session) throw new Error('no second factor expected');
  return session;
}

const identitiesOf = (userId: string) => database.db.selectFrom('identities').selectAll().where('user_id', '=', userId).execute();

describe('account takeover', () => {
  it("pre-hijacking through a provider that does not verify addresses: no account is made with the victim's address", async () => {
    const victim = newUser('prehijack-reset');
    // The attacker's account at a provider that does not verify addresses claims the victim's.
    providerAccount(victim.email, false);
    expect((await signInFlow()).error).toBe('PROVIDER_EMAIL_UNVERIFIED');
    expect(await database.db.selectFrom('users').select('id').where('email', '=', victim.email).execute()).toEqual([]);
    // So the victim registers their own address, and nobody else's identity is on the account.
    const registered = await app.caller().auth.register(victim);
    expect(await identitiesOf(registered.user.id)).toEqual([]);
    const events = await database.db.selectFrom('security_events').select('details').where('type', '=', 'login.failed').execute();
    expect(events.map((e) => e.details)).toContainEqual({ reason: 'email_unverified', provider: 'test' });
  });

  it('a provider-verified address that NFKC folds into another (fullwidth letters) is not taken as the folded address verified', async () => {
    const victim = newUser('nfkc');
    // Its first letter in FULLWIDTH LATIN (U+FF41...): a mailbox the attacker may own and have verified, not the victim's.
    const lookalike = String.fromCharCode((victim.email.codePointAt(0) ?? 0x61) - 0x61 + 0xff41) + victim.email.slice(1);
    expect(lookalike).not.toBe(victim.email);
    expect(lookalike.normalize('NFKC')).toBe(victim.email);
    providerAccount(lookalike, true);
    expect((await signInFlow()).error).toBe('PROVIDER_EMAIL_UNVERIFIED');
    expect(await database.db.selectFrom('users').select('id').where('email', '=', victim.email).execute()).toEqual([]);
    // With a verified local account of the folded address, nothing is linked either.
    const registered = await app.caller().auth.register(victim);
    await database.db.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', registered.user.id).execute();
    providerAccount(lookalike, true);
    expect((await signInFlow()).error).toBe('IDENTITY_LINK_REQUIRED');
    expect(await identitiesOf(registered.user.id)).toEqual([]);
  });

  it("forced linking: a link ticket made by the attacker and opened by the victim's browser links nothing and signs no one in", async () => {
    const attacker = await app.caller().auth.register(newUser('forced-attacker'));
    const { url } = await app
      .caller({ accessToken: attacker.accessToken })
      .auth.identities.linkStart({ provider: 'test', redirectTo: APP });
    // The victim's browser opens the attacker's URL (a link in a mail, an <img>/top-level navigation), and is signed in at the provider.
    providerAccount(newUser('forced-victim').email, true);
    const opened = await fetch(url.replace(BASE_URL, app.url), { redirect: 'manual' });
    expect(opened.status).toBe(302);
    const cookie = opened.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const answer = await provider.authorize(opened.headers.get('location') ?? '');
    const result = await callbackWithSearch(answer.search, cookie);
    const signedInAs = result.code ? (await exchange(result.code)).user.id : undefined;
    expect(
      { linked: (await identitiesOf(attacker.user.id)).length, victimSignedInAsAttacker: signedInAs === attacker.user.id },
      "a link must be confirmed by the signed-in user's session, not by whichever browser opens the ticket",
    ).toEqual({ linked: 0, victimSignedInAsAttacker: false });
  });

  it('a leaked link ticket (history, proxy logs, a shared link) gives whoever opens it neither a session of its owner nor an identity on the account', async () => {
    const owner = await app.caller().auth.register(newUser('ticket-owner'));
    const { url } = await app.caller({ accessToken: owner.accessToken }).auth.identities.linkStart({ provider: 'test', redirectTo: APP });
    expect(new URL(url).searchParams.get('link')).toBeTruthy();
    // The attacker, with the leaked URL, in their own browser, signed in at the provider as themselves.
    providerAccount(newUser('ticket-thief').email, true);
    const opened = await fetch(url.replace(BASE_URL, app.url), { redirect: 'manual' });
    const cookie = opened.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const answer = await provider.authorize(opened.headers.get('location') ?? '');
    const result = await callbackWithSearch(answer.search, cookie);
    const thiefSession = result.code ? await exchange(result.code) : undefined;
    expect(
      { sessionOfOwner: thiefSession?.user.id === owner.user.id, identitiesOnOwner: (await identitiesOf(owner.user.id)).length },
      "a link flow's callback must not hand out a sign-in of the account, and its ticket must not be all it takes",
    ).toEqual({ sessionOfOwner: false, identitiesOnOwner: 0 });
  });

  it('nOAuth: a known identity whose email claim changes to another verified account signs in to its own account only', async () => {
    const local = newUser('noauth-victim');
    const registered = await app.caller().auth.register(local);
    await database.db.updateTable('users').set({ email_verified_at: new Date() }).where('id', '=', registered.user.id).execute();
    const sub = providerAccount(newUser('noauth-attacker').email, true);
    const mine = await exchange((await signInFlow()).code);
    provider.addAccount({ sub, email: local.email.toUpperCase(), email_verified: true });
    provider.nextLogin(sub);
    const again = await exchange((await signInFlow()).code);
    expect(again.user.id).toBe(mine.user.id);
    expect(await identitiesOf(registered.user.id)).toEqual([]);
  });

  it('case tricks: an unverified local account with the same address in another case is not linked', async () => {
    const local = newUser('case-squat');
    const squat = await app.caller().auth.register(local);
    providerAccount(local.email.toUpperCase(), true);
    expect((await signInFlow()).error).toBe('IDENTITY_LINK_REQUIRED');
    expect(await identitiesOf(squat.user.id)).toEqual([]);
  });
});

describe('bad input never makes a 5xx', () => {
  it('a redirect_to with a NUL (stripped by the URL parser, so allowed) is no 5xx at the start route', async () => {
    const response = await fetch(`${app.url}/auth/oidc/test/start?redirect_to=%00${encodeURIComponent(APP)}`, { redirect: 'manual' });
    expect(response.status).toBeLessThan(500);
  });

  it('a redirectTo with a NUL is judged and kept as the URL parser reads it: no database error, no 5xx', async () => {
    const owner = await app.caller().auth.register(newUser('nul-link'));
    const { url } = await app
      .caller({ accessToken: owner.accessToken })
      .auth.identities.linkStart({ provider: 'test', redirectTo: `${APP}\u0000` });
    expect(new URL(url).pathname).toBe('/auth/oidc/test/start');
    const [flow] = await database.db.selectFrom('oidc_flows').select('redirect_to').where('user_id', '=', owner.user.id).execute();
    expect(flow?.redirect_to).toBe(APP);
  });

  it('callback parameters missing, repeated, oversized or malformed, with a live flow and its cookie: #error on redirect_to, never 5xx', async () => {
    const variants: [string, (state: string) => string][] = [
      ['no code', (state) => `?state=${state}`],
      ['empty code', (state) => `?state=${state}&code=`],
      ['code repeated', (state) => `?state=${state}&code=a&code=b`],
      ['oversized code', (state) => `?state=${state}&code=${'a'.repeat(4097)}`],
      ['wrong iss', (state) => `?state=${state}&code=abc&iss=${encodeURIComponent('https://evil.example')}`],
      ['iss repeated', (state) => `?state=${state}&code=abc&iss=${encodeURIComponent(provider.issuer)}&iss=x`],
      ['error', (state) => `?state=${state}&error=access_denied&error_description=${'x'.repeat(3000)}`],
      ['JARM response', (state) => `?state=${state}&response=eyJhbGciOiJub25lIn0.e30.`],
      ['implicit id_token', (state) => `?state=${state}&code=abc&id_token=garbage`],
      ['bad escapes', (state) => `?state=${state}&code=%E0%A4%A&iss=%`],
    ];
    for (const [name, search] of variants) {
      const started = await start();
      const state = started.location.searchParams.get('state') ?? '';
      const result = await callbackWithSearch(search(state), started.cookie);
      expect(result.status, name).toBe(302);
      expect(result.location?.startsWith(`${APP}#error=`), name).toBe(true);
      expect(result.code, name).toBeUndefined();
    }
    // Bad escapes in the state itself, and no state at all with a cookie: pages.
    for (const search of ['?state=%', '?state=%ZZ&code=1', '?code=1']) {
      const response = await fetch(`${app.url}/auth/oidc/test/callback${search}`, { redirect: 'manual' });
      expect(response.status, search).toBe(400);
    }
  });
});

describe('open redirects', () => {
  it('ALLOWED_REDIRECTS bypasses (backslashes, userinfo, encoded dots and slashes, ports, look-alike hosts) are 400 or land inside the prefix', async () => {
    const candidates = [
      'http://localhost:3000\\@evil.example/app/',
      'http://evil.example\\@localhost:3000/app/',
      'http://localhost:3000@evil.example/app/',
      'http://localhost:3000%2F@evil.example/app/',
      'http://localhost:3000%40evil.example/app/',
      'http:/\\evil.example/app/',
      '//evil.example/app/',
      '/\\evil.example/app/',
      'http://localhost:3001/app/',
      'http://localhost:3000.evil.example/app/',
      'http://localhost:3000/app/../admin',
      'http://localhost:3000/app/%2e%2e/admin',
      'http://localhost:3000/app/%2E%2E%2Fadmin',
      'http://localhost:3000/app%2f..%2fadmin',
      'http://localhost:3000/application',
      'http://localhost:3000/APP/',
      'http://lоcalhost:3000/app/', // Cyrillic o
      'http://xn--lcalhost-9wg:3000/app/',
      'javascript://localhost:3000/app/%0aalert(1)',
      'http://local\thost:3000/app/',
      ' http://localhost:3000/app/\n',
      'http://[::1]:3000/app/',
      'http://0x7f.0.0.1:3000/app/',
    ];
    for (const candidate of candidates) {
      const response = await fetch(`${prefixed.url}/auth/oidc/down/start?redirect_to=${encodeURIComponent(candidate)}`, {
        redirect: 'manual',
      });
      expect(response.status, candidate).toBeLessThan(500);
      const location = response.headers.get('location');
      if (response.status !== 302) {
        expect(response.status, candidate).toBe(400);
        expect(location, candidate).toBeNull();
        continue;
      }
      const target = new URL(location ?? '');
      expect(target.origin, candidate).toBe('http://localhost:3000');
      expect(target.pathname.startsWith('/app/'), candidate).toBe(true);
    }
  });
});

describe('events and rows', () => {
  it("a disabled account's refused sign-in is recorded as disabled", async () => {
    const sub = providerAccount(newUser('disabled-event').email, true);
    const first = await exchange((await signInFlow()).code);
    await database.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', first.user.id).execute();
    provider.nextLogin(sub);
    expect((await signInFlow()).error).toBe('ACCOUNT_DISABLED');
    const events = await database.db
      .selectFrom('security_events')
      .select('details')
      .where('user_id', '=', first.user.id)
      .where('type', '=', 'login.failed')
      .execute();
    expect(events.map((e) => e.details)).toEqual([{ reason: 'disabled', provider: 'test' }]);
  });

  it('callbacks with made-up states are counted per address: past the limit they are refused and recorded no more', async () => {
    const count = async () =>
      Number(
        (
          await database.db
            .selectFrom('security_events')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('type', '=', 'login.failed')
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    // The throttled app counts at RATE_LIMIT_SCALE 0.1: 30 callbacks per 15 minutes.
    const limit = Math.round(LIMITS.oidcCallbacksPerAddress.max * 0.1);
    const requests = limit + 40;
    for (let batch = 0; batch < requests; batch += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${throttled.url}/auth/oidc/test/callback?state=made-up-${batch + i}&code=x`, { redirect: 'manual' }),
        ),
      );
    }
    expect(await count()).toBeLessThanOrEqual(before + limit);
    expect((await fetch(`${throttled.url}/auth/oidc/test/callback?state=x&code=x`, { redirect: 'manual' })).status).toBe(429);
  });
});

describe('races', () => {
  it('a one-time code exchanged by many requests at once gives exactly one session; a state answered at once gives one code', async () => {
    providerAccount(newUser('race').email, true);
    const started = await start();
    const answer = await provider.authorize(started.location);
    const callbacks = await Promise.all(Array.from({ length: 5 }, () => callbackWithSearch(answer.search, started.cookie)));
    const codes = callbacks.map((c) => c.code).filter(Boolean) as string[];
    expect(codes).toHaveLength(1);
    const exchanges = await Promise.allSettled(Array.from({ length: 8 }, () => app.caller().auth.exchangeCode({ code: codes[0] ?? '' })));
    expect(exchanges.filter((e) => e.status === 'fulfilled')).toHaveLength(1);
    if (onPostgres) expect(exchanges.filter((e) => e.status === 'rejected')).toHaveLength(7);
  });
});
