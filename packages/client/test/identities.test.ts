/**
 * Signing in with a provider (issue 19): `signInWith`, `completeSignIn` and `identities.*`. The
 * browser's `location` and `history` are fakes given to the client; the server is the real one.
 * No provider runs here (the server's suite signs in through a real OpenID provider): the one-time
 * code a callback hands out is written to the database as the callback writes it (a digest at
 * rest), and GitHub's preset (manual metadata, no discovery) makes real start URLs without any
 * provider to ask.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase, totpCode } from '@latchkey/server/testing';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseCallbackFragment, resolveRedirect, startUrl } from '../src/identities.js';
import {
  type AuthClientOptions,
  BrowserUnavailableError,
  createAuthClient,
  ExternalSignInError,
  memoryStorage,
  type SignInHistory,
  type SignInLocation,
} from '../src/index.js';

const APP = 'http://app.test';
const GITHUB = 'http://127.0.0.1:9';

// --- The pure parts --------------------------------------------------------------------------------

describe('the callback fragment', () => {
  it('is a one-time code, an error, or nothing of ours', () => {
    const code = randomBytes(32).toString('base64url');
    expect(parseCallbackFragment(`#code=${code}`)).toEqual({ kind: 'code', code });
    expect(parseCallbackFragment(`code=${code}`)).toEqual({ kind: 'code', code });
    expect(parseCallbackFragment('#error=IDENTITY_LINK_REQUIRED')).toEqual({ kind: 'error', appCode: 'IDENTITY_LINK_REQUIRED' });
    // The server never sends both: an error wins.
    expect(parseCallbackFragment(`#code=${code}&error=OIDC_STATE_INVALID`)).toEqual({ kind: 'error', appCode: 'OIDC_STATE_INVALID' });
    for (const hash of ['', '#', '#section-2', '#/settings?tab=1', '#codes=x', `#code=${code}&code=${code}`, '#code=', '#code=a%20b'])
      expect(parseCallbackFragment(hash), hash).toEqual({ kind: 'none' });
  });

  it('reports an error that is not an appCode as OIDC_RESPONSE_INVALID, never as given', () => {
    for (const hash of ['#error=%3Cscript%3E', '#error=', '#error=lower_case', '#error=A&error=B', `#error=${'A'.repeat(65)}`])
      expect(parseCallbackFragment(hash), hash).toEqual({ kind: 'error', appCode: 'OIDC_RESPONSE_INVALID' });
  });
});

describe('the start URL', () => {
  it("is the server's /auth/oidc/{provider}/start with redirect_to, absolute and without a fragment", () => {
    expect(startUrl('https://auth.example.com/', 'google', 'https://app.example.com/done?x=1#old', undefined)).toBe(
      'https://auth.example.com/auth/oidc/google/start?redirect_to=https%3A%2F%2Fapp.example.com%2Fdone%3Fx%3D1',
    );
    // Relative to the page, and the page itself by default.
    expect(resolveRedirect('/signed-in', 'https://app.example.com/login?next=a#x')).toBe('https://app.example.com/signed-in');
    expect(resolveRedirect(undefined, 'https://app.example.com/login?next=a#x')).toBe('https://app.example.com/login?next=a');
    expect(() => resolveRedirect(undefined, undefined)).toThrow(BrowserUnavailableError);
    expect(startUrl('https://auth.example.com', 'a/b', 'https://app.example.com/', undefined)).toMatch(
      /^https:\/\/auth\.example\.com\/auth\/oidc\/a%2Fb\/start\?/,
    );
  });
});

describe('ExternalSignInError', () => {
  it("carries the appCode, with the catalogue's message", () => {
    const error = new ExternalSignInError('IDENTITY_LINK_REQUIRED');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ExternalSignInError');
    expect(error.appCode).toBe('IDENTITY_LINK_REQUIRED');
    expect(error.message).toMatch(/sign in to it and link/);
    expect(new ExternalSignInError('SOMETHING_NEWER').message).toMatch(/SOMETHING_NEWER/);
  });
});

describe('in Node, where there is no page', () => {
  it('signInWith, completeSignIn and identities.link reject with BrowserUnavailableError, and nothing is sent', async () => {
    const sent: string[] = [];
    const auth = createAuthClient({
      url: 'http://127.0.0.1:9',
      fetch: async (input) => {
        sent.push(String(input));
        throw new Error('no request was expected');
      },
    });
    expect(typeof globalThis.location).toBe('undefined');
    for (const call of [
      () => auth.signInWith('google', { redirectTo: 'https://app.example.com/' }),
      () => auth.completeSignIn(),
      () => auth.identities.link('google', { redirectTo: 'https://app.example.com/' }),
    ]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BrowserUnavailableError);
      expect((error as Error).name).toBe('BrowserUnavailableError');
      expect((error as Error).message).toMatch(/browser/);
    }
    expect(sent).toEqual([]);
  });
});

// --- Against the server -----------------------------------------------------------------------------

let database: TestDatabase;
let server: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  server = await servedApp(database, {
    clock: 'shifted',
    env: {
      ALLOWED_REDIRECTS: `${APP}/`,
      GITHUB_CLIENT_ID: 'github-client',
      GITHUB_CLIENT_SECRET: 'github-secret',
      GITHUB_OAUTH_URL: GITHUB,
      GITHUB_API_URL: GITHUB,
    },
  });
});
afterAll(async () => {
  await server?.close();
  await database?.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

/** A page's location and history: `events` records navigations, replacements and the requests sent, in order. */
function fakeBrowser(href: string) {
  const events: string[] = [];
  const location: SignInLocation & { href: string } = {
    href,
    get hash() {
      const index = this.href.indexOf('#');
      return index === -1 || index === this.href.length - 1 ? '' : this.href.slice(index);
    },
    assign(url) {
      events.push(`assign ${url}`);
    },
  };
  const history: SignInHistory = {
    state: { page: 'state' },
    replaceState(data, _unused, url) {
      expect(data).toEqual({ page: 'state' });
      events.push(`replace ${url}`);
      if (url !== undefined) location.href = new URL(url, location.href).href;
    },
  };
  const recording: typeof fetch = async (input, init) => {
    events.push(`fetch ${new URL(String(input)).pathname}`);
    return fetch(input, init);
  };
  return { location, history, events, fetch: recording };
}

function client(browser: ReturnType<typeof fakeBrowser>, options: Partial<AuthClientOptions> = {}) {
  return createAuthClient({ url: server.url, location: browser.location, history: browser.history, fetch: browser.fetch, ...options });
}

/** A user with a GitHub identity and a one-time code for it, as a callback leaves them: only the code's SHA-256 is stored, for 60 seconds. */
async function withOneTimeCode(user: { id: string }): Promise<string> {
  const now = server.clock.now();
  const identityId = randomUUID();
  await database.db
    .insertInto('identities')
    .values({
      id: identityId,
      user_id: user.id,
      provider: 'github',
      issuer: GITHUB,
      subject: String(randomBytes(4).readUInt32BE()),
      email: `octo-${identityId}@example.com`,
      email_verified: true,
      created_at: now,
      last_used_at: now,
    })
    .execute();
  const code = randomBytes(32).toString('base64url');
  await database.db
    .insertInto('oidc_codes')
    .values({
      id: randomUUID(),
      code_digest: createHash('sha256').update(code, 'utf8').digest('hex'),
      user_id: user.id,
      purpose: 'sign_in',
      identity_id: identityId,
      created_at: now,
      expires_at: new Date(now.getTime() + 60_000),
    })
    .execute();
  return code;
}

describe('completeSignIn', () => {
  it('exchanges #code=, drops the fragment first, stores the session as login does and resolves signed-in', async () => {
    const input = newUser('oidc');
    const { user } = await server.client().auth.register.mutate(input);
    const code = await withOneTimeCode(user);
    const browser = fakeBrowser(`${APP}/signed-in?from=github#code=${code}`);
    const storage = memoryStorage();
    const auth = client(browser, { storage });

    const result = await auth.completeSignIn();
    expect(result).toMatchObject({ status: 'signed-in', user: { id: user.id, email: input.email }, accessToken: expect.any(String) });
    expect(browser.events).toEqual([`replace ${APP}/signed-in?from=github`, 'fetch /trpc/auth.exchangeCode']);
    expect(browser.location.hash).toBe('');
    const stored = await storage.get();
    expect(stored?.session).toMatchObject({ user: { email: input.email } });
    expect(stored?.deviceToken).toEqual(expect.any(String));
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });

    // The identity is the user's; once unlinked (the password stays a way in), it is gone from the list.
    const [identity] = await auth.identities.list();
    expect(identity).toMatchObject({ provider: 'github', emailVerified: true, createdAt: expect.any(Date) });
    await expect(auth.identities.unlink(identity?.id ?? '')).resolves.toEqual({ success: true });
    await expect(auth.identities.list()).resolves.toEqual([]);

    // Nothing left to complete on this page now.
    await expect(auth.completeSignIn()).resolves.toEqual({ status: 'none' });
  });

  it("after a link flow, confirms #link_code= with the signed-in user's session and resolves linked", async () => {
    const input = newUser('oidc-link');
    const registered = await server.client().auth.register.mutate(input);
    const code = randomBytes(32).toString('base64url');
    const now = new Date();
    const pending = {
      provider: 'github',
      issuer: 'https://github.com',
      subject: String(randomBytes(4).readUInt32BE()),
      email: null,
      emailVerified: false,
    };
    await database.db
      .insertInto('oidc_codes')
      .values({
        id: randomUUID(),
        code_digest: createHash('sha256').update(code, 'utf8').digest('hex'),
        user_id: registered.user.id,
        purpose: 'link',
        pending: JSON.stringify(pending),
        created_at: now,
        expires_at: new Date(now.getTime() + 60_000),
      })
      .execute();
    // (That only the flow's own user can use it is the server's test, identity.test.ts.)
    const signedInOwner = client(fakeBrowser(`${APP}/settings#link_code=${code}`));
    await signedInOwner.login({ email: input.email, password: input.password });
    const result = await signedInOwner.completeSignIn();
    expect(result).toMatchObject({ status: 'linked', identity: { provider: 'github' } });
    await expect(signedInOwner.identities.list()).resolves.toHaveLength(1);
  });

  it('a code the server refuses rejects with its TOKEN_INVALID, after the fragment is dropped; nothing is stored', async () => {
    const browser = fakeBrowser(`${APP}/signed-in#code=${randomBytes(32).toString('base64url')}`);
    const storage = memoryStorage();
    const auth = client(browser, { storage });
    const error = await auth.completeSignIn().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error).toMatchObject({ data: { code: 'BAD_REQUEST', appCode: 'TOKEN_INVALID' } });
    expect(browser.events).toEqual([`replace ${APP}/signed-in`, 'fetch /trpc/auth.exchangeCode']);
    expect(server.requests.filter((r) => r.path.startsWith('/trpc/auth.refresh'))).toEqual([]);
    expect(await storage.get()).toBeNull();
  });

  it('a used code is refused the second time (single use)', async () => {
    const { user } = await server.client().auth.register.mutate(newUser('oidc-replay'));
    const code = await withOneTimeCode(user);
    await expect(client(fakeBrowser(`${APP}/#code=${code}`)).completeSignIn()).resolves.toMatchObject({ status: 'signed-in' });
    await expect(client(fakeBrowser(`${APP}/#code=${code}`)).completeSignIn()).rejects.toMatchObject({
      data: { appCode: 'TOKEN_INVALID' },
    });
  });

  it('#error= rejects with ExternalSignInError carrying the appCode, drops the fragment and sends nothing', async () => {
    const browser = fakeBrowser(`${APP}/signed-in#error=IDENTITY_LINK_REQUIRED`);
    const error = await client(browser)
      .completeSignIn()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalSignInError);
    expect(error).toMatchObject({ name: 'ExternalSignInError', appCode: 'IDENTITY_LINK_REQUIRED' });
    expect(browser.events).toEqual([`replace ${APP}/signed-in`]);
  });

  it('without a callback fragment resolves { status: "none" } and leaves the address alone', async () => {
    for (const href of [`${APP}/signed-in`, `${APP}/app#/settings`]) {
      const browser = fakeBrowser(href);
      await expect(client(browser).completeSignIn()).resolves.toEqual({ status: 'none' });
      expect(browser.events).toEqual([]);
      expect(browser.location.href).toBe(href);
    }
  });

  it('for an account with a second factor resolves mfa-required, stores nothing, and verifyMfa finishes it', async () => {
    const input = newUser('oidc-mfa');
    const setup = createAuthClient({ url: server.url });
    const { user } = await setup.register(input);
    const { factorId, secret } = await setup.auth.mfa.totp.enroll.mutate();
    server.clock.advance(30);
    await setup.auth.mfa.totp.confirm.mutate({ factorId, code: totpCode(secret, server.clock.now()) });
    const code = await withOneTimeCode(user);

    const storage = memoryStorage();
    const auth = client(fakeBrowser(`${APP}/#code=${code}`), { storage });
    const result = await auth.completeSignIn();
    expect(result).toEqual({ status: 'mfa-required', mfaToken: expect.any(String), factors: [{ id: factorId, type: 'totp' }] });
    expect(await storage.get()).toBeNull();
    if (result.status !== 'mfa-required') throw new Error('expected a second step');
    server.clock.advance(30);
    await expect(auth.verifyMfa({ mfaToken: result.mfaToken, code: totpCode(secret, server.clock.now()) })).resolves.toMatchObject({
      status: 'signed-in',
      user: { email: input.email },
    });
  });
});

describe('signInWith', () => {
  it("navigates to the server's start route, which sends the browser on to the provider", async () => {
    const browser = fakeBrowser(`${APP}/login?next=%2Fhome#top`);
    await client(browser).signInWith('github');
    const expected = `${server.url}/auth/oidc/github/start?redirect_to=${encodeURIComponent(`${APP}/login?next=%2Fhome`)}`;
    expect(browser.events).toEqual([`assign ${expected}`]);

    await client(browser).signInWith('github', { redirectTo: '/signed-in' });
    expect(browser.events.at(-1)).toBe(`assign ${server.url}/auth/oidc/github/start?redirect_to=${encodeURIComponent(`${APP}/signed-in`)}`);

    // What a browser would then get: a redirect to GitHub's authorization page, and the flow's cookie.
    const started = await fetch(expected, { redirect: 'manual' });
    expect(started.status).toBe(302);
    expect(started.headers.get('location')).toMatch(new RegExp(`^${GITHUB}/login/oauth/authorize\\?`));
    expect(started.headers.get('set-cookie')).toMatch(/^latchkey_oidc_github=/);
  });
});

describe('identities.link', () => {
  it('asks the server for a link flow (signed in, recently), then navigates to it', async () => {
    const browser = fakeBrowser(`${APP}/settings#identities`);
    const auth = client(browser);
    await auth.register(newUser('oidc-link'));
    await auth.identities.link('github');
    expect(browser.events.filter((event) => !event.startsWith('fetch'))).toHaveLength(1);
    const [assigned] = browser.events.filter((event) => event.startsWith('assign ')).map((event) => new URL(event.slice(7)));
    expect(assigned?.pathname).toBe('/auth/oidc/github/start');
    expect([...(assigned?.searchParams.keys() ?? [])]).toEqual(['link']);
    // The ticket opens the provider's page once.
    const started = await fetch(`${server.url}${assigned?.pathname}${assigned?.search}`, { redirect: 'manual' });
    expect(started.status).toBe(302);
    expect(started.headers.get('location')).toMatch(new RegExp(`^${GITHUB}/login/oauth/authorize\\?`));
  });

  it("refuses a provider the server does not have, and a redirectTo outside its ALLOWED_REDIRECTS, with the server's errors", async () => {
    const browser = fakeBrowser(`${APP}/settings`);
    const auth = client(browser);
    await auth.register(newUser('oidc-link-refused'));
    await expect(auth.identities.link('nope')).rejects.toMatchObject({ data: { appCode: 'PROVIDER_UNAVAILABLE' } });
    await expect(auth.identities.link('github', { redirectTo: 'https://evil.example/' })).rejects.toMatchObject({
      data: { appCode: 'VALIDATION_FAILED', fields: { redirectTo: ['is not an allowed address'] } },
    });
    expect(browser.events.filter((event) => event.startsWith('assign'))).toEqual([]);
  });
});
