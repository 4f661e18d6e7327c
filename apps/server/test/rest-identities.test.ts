/**
 * External sign-in over REST (issue 19): the providers, the exchange of a callback's one-time code
 * (answered as a login is), and the signed-in user's identities, twins of auth.providers,
 * auth.exchangeCode and auth.identities.*. The flows through a real provider are
 * test/identity*.test.ts's; here the identity and its one-time code are written to the database
 * as a callback writes them (a digest at rest), and GitHub's preset (manual metadata, no
 * discovery) makes link URLs without any provider running.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../src/http/openapi.js';
import { identitiesResponse, linkIdentityResponse, providersResponse } from '../src/http/rest/identity-schemas.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { mfaRequiredResponse, sessionResponse } from '../src/http/rest/schemas.js';
import { fromBase32, totpCode } from '../src/testing.js';
import { newUser, servedForFile } from './helpers/app.js';
import { type CallOptions, expectErrors } from './helpers/rest.js';

const BASE_URL = 'http://localhost:3000';
const APP_PAGE = 'https://app.example.com/signed-in';
const GITHUB = 'http://127.0.0.1:9';
// Behind a proxy: each REST call comes from an X-Forwarded-For of its own. GitHub's preset points
// at a port where nothing listens: a link URL is made without asking it anything.
const file = servedForFile({
  env: {
    TRUST_PROXY: 'true',
    BASE_URL,
    ALLOWED_REDIRECTS: 'https://app.example.com/',
    OIDC_ACME_ISSUER: 'http://127.0.0.1:9/acme',
    OIDC_ACME_CLIENT_ID: 'acme-client',
    OIDC_ACME_CLIENT_SECRET: 'acme-secret',
    GITHUB_CLIENT_ID: 'github-client',
    GITHUB_CLIENT_SECRET: 'github-secret',
    GITHUB_OAUTH_URL: GITHUB,
    GITHUB_API_URL: GITHUB,
  },
});

// --- Helpers -------------------------------------------------------------------------------------

const call = (method: string, path: string, options?: CallOptions) => file.call(method, path, options);

async function register(label: string) {
  const input = newUser(label);
  const answer = await call('POST', '/api/users', { json: { user: input } });
  expect(answer.status).toBe(201);
  const session = sessionResponse.parse(answer.body);
  const user = await file.database.db.selectFrom('users').select('id').where('email', '=', input.email).executeTakeFirstOrThrow();
  return { input, token: session.access_token, userId: user.id };
}

let subjects = 0;
/** An identity of GitHub's linked to the user, as a callback links one. */
async function linkIdentity(userId: string): Promise<string> {
  subjects += 1;
  const now = file.app.clock.now();
  const id = randomUUID();
  await file.database.db
    .insertInto('identities')
    .values({
      id,
      user_id: userId,
      provider: 'github',
      issuer: GITHUB,
      subject: String(1000 + subjects),
      email: `octo${subjects}@example.com`,
      email_verified: true,
      created_at: now,
      last_used_at: now,
    })
    .execute();
  return id;
}

/** A one-time code for the identity, as the callback hands one out: only its SHA-256 is stored, for 60 seconds. */
async function oneTimeCode(userId: string, identityId: string): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  const now = file.app.clock.now();
  await file.database.db
    .insertInto('oidc_codes')
    .values({
      id: randomUUID(),
      code_digest: createHash('sha256').update(code, 'utf8').digest('hex'),
      user_id: userId,
      purpose: 'sign_in',
      identity_id: identityId,
      created_at: now,
      expires_at: new Date(now.getTime() + 60_000),
    })
    .execute();
  return code;
}

// --- Providers -----------------------------------------------------------------------------------

describe('GET /api/providers', () => {
  it('lists the configured providers, OIDC_<ID>_* then GitHub, to anyone, without asking any of them', async () => {
    const answer = await call('GET', '/api/providers');
    expect(answer.status).toBe(200);
    expect(providersResponse.parse(answer.body)).toEqual({
      providers: [
        { id: 'acme', name: 'Acme' },
        { id: 'github', name: 'GitHub' },
      ],
    });
    expect(answer.body).toEqual(
      await file.app
        .caller()
        .auth.providers()
        .then((providers) => ({ providers })),
    );
  });
});

// --- The one-time code ---------------------------------------------------------------------------

describe('POST /api/users/login/exchange', () => {
  it('answers the session of the code, as a login does (amr fed), and the code works once', async () => {
    const { input, userId } = await register('exchange');
    const code = await oneTimeCode(userId, await linkIdentity(userId));
    const answer = await call('POST', '/api/users/login/exchange', { json: { code } });
    expect(answer.status).toBe(200);
    const session = sessionResponse.parse(answer.body);
    expect(session.user).toMatchObject({ email: input.email, username: input.username });
    expect(decodeJwt(session.access_token)).toMatchObject({ sub: userId, amr: ['fed'], aal: 1 });
    const me = await call('GET', '/api/user', { token: session.access_token });
    expect(me.status).toBe(200);

    expectErrors(
      await call('POST', '/api/users/login/exchange', { json: { code } }),
      401,
      { code: ['is invalid, used or expired'] },
      'TOKEN_INVALID',
    );
  });

  it('refuses an unknown or expired code with 401 TOKEN_INVALID, and a missing one with 422', async () => {
    const unknown = randomBytes(32).toString('base64url');
    expectErrors(
      await call('POST', '/api/users/login/exchange', { json: { code: unknown } }),
      401,
      { code: ['is invalid, used or expired'] },
      'TOKEN_INVALID',
    );
    const { userId } = await register('expired');
    const code = await oneTimeCode(userId, await linkIdentity(userId));
    file.app.clock.advance(61);
    expectErrors(
      await call('POST', '/api/users/login/exchange', { json: { code } }),
      401,
      { code: ['is invalid, used or expired'] },
      'TOKEN_INVALID',
    );
    expectErrors(await call('POST', '/api/users/login/exchange', { json: {} }), 422, { code: ["can't be blank"] }, 'VALIDATION_FAILED');
    expectErrors(
      await call('POST', '/api/users/login/exchange', { json: { code: 'x'.repeat(257) } }),
      422,
      { code: ['is invalid'] },
      'VALIDATION_FAILED',
    );
  });

  it('answers mfa_required for an account with a second factor, and the second step finishes it (amr fed, otp, mfa)', async () => {
    const { token, userId } = await register('exchange-mfa');
    const enrolled = await call('POST', '/api/user/mfa/totp', { token, raw: '', contentType: 'application/json' });
    const { factor_id: factorId, secret } = enrolled.body as { factor_id: string; secret: string };
    const codeNow = () => totpCode(fromBase32(secret), file.app.clock.now());
    expect((await call('POST', '/api/user/mfa/totp/confirm', { token, json: { factor_id: factorId, code: codeNow() } })).status).toBe(200);
    file.app.clock.advance(30);

    const code = await oneTimeCode(userId, await linkIdentity(userId));
    const answer = await call('POST', '/api/users/login/exchange', { json: { code } });
    expect(answer.status).toBe(200);
    const pending = mfaRequiredResponse.parse(answer.body);
    expect(pending.factors).toEqual([{ id: factorId, type: 'totp' }]);

    const verified = await call('POST', '/api/users/login/mfa', { json: { mfa_token: pending.mfa_token, code: codeNow() } });
    expect(verified.status).toBe(200);
    expect(decodeJwt(sessionResponse.parse(verified.body).access_token)).toMatchObject({ amr: ['fed', 'otp', 'mfa'], aal: 2 });
  });

  it('refuses the code of a disabled account with 403 ACCOUNT_DISABLED', async () => {
    const { input, userId } = await register('exchange-disabled');
    const code = await oneTimeCode(userId, await linkIdentity(userId));
    await file.database.db.updateTable('users').set({ disabled_at: file.app.clock.now() }).where('email', '=', input.email).execute();
    const answer = await call('POST', '/api/users/login/exchange', { json: { code } });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'ACCOUNT_DISABLED' });
  });
});

// --- The signed-in user's identities -------------------------------------------------------------

describe('GET /api/user/identities', () => {
  it("lists the user's identities in snake_case, and only theirs", async () => {
    const { token, userId } = await register('list');
    expect((await call('GET', '/api/user/identities', { token })).body).toEqual({ identities: [] });
    const id = await linkIdentity(userId);
    const other = await register('list-other');
    await linkIdentity(other.userId);

    const answer = await call('GET', '/api/user/identities', { token });
    expect(answer.status).toBe(200);
    const { identities } = identitiesResponse.parse(answer.body);
    expect(identities).toEqual([
      {
        id,
        provider: 'github',
        email: expect.stringMatching(/^octo\d+@example\.com$/),
        email_verified: true,
        created_at: file.app.clock.now().toISOString(),
        last_used_at: file.app.clock.now().toISOString(),
      },
    ]);
  });

  it('needs the access token', async () => {
    expect((await call('GET', '/api/user/identities')).status).toBe(401);
  });
});

describe('POST /api/user/identities/link', () => {
  it("answers this server's start URL with a ticket, which opens once: 302 to the provider with PKCE, a state and the cookie", async () => {
    const { token } = await register('link');
    const answer = await call('POST', '/api/user/identities/link', { token, json: { provider: 'github', redirect_to: APP_PAGE } });
    expect(answer.status).toBe(200);
    const url = new URL(linkIdentityResponse.parse(answer.body).url);
    expect(`${url.origin}${url.pathname}`).toBe(`${BASE_URL}/auth/oidc/github/start`);
    expect([...url.searchParams.keys()]).toEqual(['link']);

    const open = () => fetch(`${file.app.url}${url.pathname}${url.search}`, { redirect: 'manual' });
    const started = await open();
    expect(started.status).toBe(302);
    const location = new URL(started.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${GITHUB}/login/oauth/authorize`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: 'github-client',
      redirect_uri: `${BASE_URL}/auth/oidc/github/callback`,
      response_type: 'code',
      code_challenge_method: 'S256',
      state: expect.any(String),
    });
    expect(started.headers.get('set-cookie')).toMatch(
      /^latchkey_oidc_github=[\w-]+; Path=\/auth\/oidc\/github\/callback; .*HttpOnly; SameSite=Lax/,
    );
    // No token of ours in the provider's URL: the ticket stays here.
    expect(location.href).not.toContain(url.searchParams.get('link'));

    const again = await open();
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('refuses a provider that is not configured (422 PROVIDER_UNAVAILABLE) and a redirect_to outside ALLOWED_REDIRECTS (422)', async () => {
    const { token } = await register('link-refused');
    expectErrors(
      await call('POST', '/api/user/identities/link', { token, json: { provider: 'nope', redirect_to: APP_PAGE } }),
      422,
      { provider: ['is not available'] },
      'PROVIDER_UNAVAILABLE',
    );
    expectErrors(
      await call('POST', '/api/user/identities/link', { token, json: { provider: 'github', redirect_to: 'https://evil.example/' } }),
      422,
      { redirect_to: ['is not an allowed address'] },
      'VALIDATION_FAILED',
    );
    expectErrors(
      await call('POST', '/api/user/identities/link', { token, json: { provider: 'GitHub!' } }),
      422,
      { provider: ['is invalid'], redirect_to: ["can't be blank"] },
      'VALIDATION_FAILED',
    );
  });

  it('needs a recent sign-in (403 REAUTHENTICATION_REQUIRED)', async () => {
    const { token } = await register('link-stale');
    file.app.clock.advance(6 * 60);
    const answer = await call('POST', '/api/user/identities/link', { token, json: { provider: 'github', redirect_to: APP_PAGE } });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'REAUTHENTICATION_REQUIRED' });
  });
});

describe('DELETE /api/user/identities/{identity_id}', () => {
  it("unlinks one of the user's identities; another user's, or an unknown one, is 404 IDENTITY_NOT_FOUND", async () => {
    const { token, userId } = await register('unlink');
    const id = await linkIdentity(userId);
    const other = await register('unlink-other');
    const theirs = await linkIdentity(other.userId);
    expectErrors(await call('DELETE', `/api/user/identities/${theirs}`, { token }), 404, { identity: ['not found'] }, 'IDENTITY_NOT_FOUND');
    expectErrors(
      await call('DELETE', '/api/user/identities/not-a-uuid', { token }),
      422,
      { identity_id: ['is invalid'] },
      'VALIDATION_FAILED',
    );

    const answer = await call('DELETE', `/api/user/identities/${id}`, { token });
    expect(answer).toMatchObject({ status: 200, body: { message: 'Identity unlinked' } });
    expect((await call('GET', '/api/user/identities', { token })).body).toEqual({ identities: [] });
    expect((await call('GET', '/api/user/identities', { token: other.token })).body).toMatchObject({ identities: [{ id: theirs }] });
  });

  it('refuses to unlink the last way in of an account without a password (409 LAST_SIGN_IN_METHOD)', async () => {
    const { token, userId } = await register('unlink-last');
    const id = await linkIdentity(userId);
    await file.database.db.updateTable('users').set({ password_hash: null }).where('id', '=', userId).execute();
    expectErrors(
      await call('DELETE', `/api/user/identities/${id}`, { token }),
      409,
      { identity: ['is the last way to sign in to this account: add another first'] },
      'LAST_SIGN_IN_METHOD',
    );
    // With a second identity, the first may go.
    await linkIdentity(userId);
    expect((await call('DELETE', `/api/user/identities/${id}`, { token })).status).toBe(200);
  });

  it('needs a recent sign-in (403 REAUTHENTICATION_REQUIRED)', async () => {
    const { token, userId } = await register('unlink-stale');
    const id = await linkIdentity(userId);
    file.app.clock.advance(6 * 60);
    const answer = await call('DELETE', `/api/user/identities/${id}`, { token });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'REAUTHENTICATION_REQUIRED' });
  });
});

// --- The document --------------------------------------------------------------------------------

describe('the OpenAPI document', () => {
  it('documents the routes above, and the browser steps under /auth/oidc with their query parameters and answers', () => {
    const document = buildOpenApiDocument(restRoutes, { serverUrl: BASE_URL });
    expect(document.paths['/api/users/login/exchange']?.post?.responses['200']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/LoginResponse' } } },
    });
    expect(document.paths['/api/user/identities/{identity_id}']?.delete?.security).toEqual([{ accessToken: [] }]);
    const start = document.paths['/auth/oidc/{provider}/start']?.get;
    const callback = document.paths['/auth/oidc/{provider}/callback']?.get;
    expect(start?.parameters?.map((p) => `${p.in} ${p.name}${p.required ? '' : '?'}`)).toEqual([
      'path provider',
      'query redirect_to?',
      'query link?',
    ]);
    expect(callback?.parameters?.map((p) => `${p.in} ${p.name}${p.required ? '' : '?'}`)).toEqual([
      'path provider',
      'query state',
      'query code?',
      'query iss?',
      'query error?',
    ]);
    for (const operation of [start, callback]) {
      expect(Object.keys(operation?.responses ?? {})).toEqual(['302', '400', '404']);
      expect(operation?.security).toBeUndefined();
    }
  });
});
