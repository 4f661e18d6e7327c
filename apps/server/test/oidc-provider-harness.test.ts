// Tests of the sign-in test harness (test/helpers/oidc-provider.ts, github-double.ts), and the
// record of the openid-client 6 calls that work against each: the server's code makes the same.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubDouble, startGitHubDouble } from './helpers/github-double.js';
import { CookieJar, startOidcProvider, type TestOidcProvider } from './helpers/oidc-provider.js';

const REDIRECT_URI = 'http://127.0.0.1:9/auth/oidc/test/callback';

/**
 * What an openid-client 6 rejection says: a check that failed on the client's side is a
 * ClientError whose `code` names the kind (OAUTH_INVALID_RESPONSE, OAUTH_JWT_CLAIM_COMPARISON_FAILED,
 * ...) and whose `cause` (an oauth4webapi OperationProcessingError) says which; an OAuth error
 * answer of the server is a ResponseBodyError (or AuthorizationResponseError) with `error`.
 */
async function failure(promise: Promise<unknown>) {
  const error: unknown = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError)
    return { name: error.name, error: error.error, description: error.error_description };
  if (!(error instanceof client.ClientError)) throw error;
  const cause = error.cause as (Error & { cause?: { body?: { error?: string } } }) | undefined;
  return {
    name: error.name,
    code: error.code,
    detail: cause?.message,
    ...(cause?.cause?.body?.error && { bodyError: cause.cause.body.error }),
  };
}

describe('the test OpenID provider, through openid-client 6', () => {
  let op: TestOidcProvider;
  let config: client.Configuration;

  beforeAll(async () => {
    op = await startOidcProvider({ redirectUris: REDIRECT_URI });
    op.addAccount({ sub: 'alice-sub', email: 'alice@example.com', email_verified: true, name: 'Alice', preferred_username: 'alice' });
    op.addAccount({ sub: 'bob-sub', email: 'bob@example.com', email_verified: false });
    // Discovery over plain http needs allowInsecureRequests in `execute` (it then applies to
    // every later request of the configuration too). The client secret as the 3rd argument;
    // the 4th is the token endpoint's authentication (openid-client's default is
    // ClientSecretPost; the test client is registered for client_secret_basic, though
    // oidc-provider takes either).
    config = await client.discovery(new URL(op.issuer), op.clientId, op.clientSecret, client.ClientSecretBasic(op.clientSecret), {
      execute: [client.allowInsecureRequests],
    });
  });
  afterAll(async () => {
    await op.close();
  });

  async function start(extra: Record<string, string> = {}) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, codeVerifier, state, nonce };
  }

  it('discovers the issuer, with the RFC 9207 iss parameter and S256', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(op.issuer);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.userinfo_endpoint).toBe(`${op.issuer}/me`);
  });

  it('signs the chosen account in: code, ID token with nonce and email claims, userinfo', async () => {
    const { url, codeVerifier, state, nonce } = await start();
    op.nextLogin('alice-sub');
    const callback = await op.authorize(url);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);

    // currentUrl is the callback URL as the browser reached it: openid-client sends it, without
    // its query, as the token request's redirect_uri (so a server behind another origin than its
    // BASE_URL must rebuild it from BASE_URL). It checks `state` and `iss` before the exchange.
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.refresh_token).toBeUndefined();
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: op.clientId,
      sub: 'alice-sub',
      nonce,
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice',
      preferred_username: 'alice',
    });

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice-sub');
    expect(userinfo).toEqual({
      sub: 'alice-sub',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice',
      preferred_username: 'alice',
    });
    // The expected subject is checked.
    await expect(failure(client.fetchUserInfo(config, tokens.access_token, 'bob-sub'))).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
      detail: 'unexpected "response" body "sub" property value',
    });
  });

  it('gives only the claims of the scopes asked for', async () => {
    const { url, codeVerifier, state, nonce } = await start({ scope: 'openid email' });
    op.nextLogin('bob-sub');
    const tokens = await client.authorizationCodeGrant(config, await op.authorize(url), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()).toMatchObject({ sub: 'bob-sub', email: 'bob@example.com', email_verified: false });
    expect(tokens.claims()).not.toHaveProperty('name');
    expect(await client.fetchUserInfo(config, tokens.access_token, 'bob-sub')).toEqual({
      sub: 'bob-sub',
      email: 'bob@example.com',
      email_verified: false,
    });
  });

  it('refuses a replayed code, a wrong verifier, and lets openid-client catch a wrong state or nonce', async () => {
    op.nextLogin('alice-sub');
    const first = await start();
    const callback = await op.authorize(first.url);
    const checks = { pkceCodeVerifier: first.codeVerifier, expectedState: first.state, expectedNonce: first.nonce };
    await client.authorizationCodeGrant(config, callback, checks);
    // oidc-provider answers invalid_grant (and revokes what the code gave); openid-client throws
    // a ResponseBodyError with `error`.
    await expect(failure(client.authorizationCodeGrant(config, callback, checks))).resolves.toEqual({
      name: 'ResponseBodyError',
      error: 'invalid_grant',
      description: 'grant request is invalid',
    });

    const second = await start();
    const callback2 = await op.authorize(second.url);
    await expect(
      client.authorizationCodeGrant(config, callback2, {
        ...checks,
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: second.state,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'grant request is invalid' });

    // state and iss are checked before any request (the code stays usable).
    const third = await start();
    const callback3 = await op.authorize(third.url);
    await expect(failure(client.authorizationCodeGrant(config, callback3, { ...checks, expectedState: 'another' }))).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_INVALID_RESPONSE',
      detail: 'unexpected "state" response parameter value',
    });
    const forgedIss = new URL(callback3);
    forgedIss.searchParams.set('iss', 'http://127.0.0.1:1');
    const thirdChecks = { pkceCodeVerifier: third.codeVerifier, expectedState: third.state, expectedNonce: third.nonce };
    await expect(failure(client.authorizationCodeGrant(config, forgedIss, thirdChecks))).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_INVALID_RESPONSE',
      detail: 'unexpected "iss" (issuer) response parameter value',
    });
    const withoutIss = new URL(callback3);
    withoutIss.searchParams.delete('iss');
    // The issuer advertises the iss parameter: its absence is refused as well.
    await expect(failure(client.authorizationCodeGrant(config, withoutIss, thirdChecks))).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_INVALID_RESPONSE',
      detail: 'response parameter "iss" (issuer) missing',
    });
    // The nonce is checked after the exchange (the code is spent).
    await expect(failure(client.authorizationCodeGrant(config, callback3, { ...thirdChecks, expectedNonce: 'another' }))).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
      detail: 'unexpected ID Token "nonce" claim value',
    });
  });

  it('ends with error=access_denied when no account is chosen, and requires PKCE', async () => {
    op.nextLogin(undefined);
    const { url, state } = await start();
    const denied = await op.authorize(url);
    expect(Object.fromEntries(denied.searchParams)).toMatchObject({ error: 'access_denied', state, iss: op.issuer });
    // openid-client turns an error response into an AuthorizationResponseError.
    await expect(failure(client.authorizationCodeGrant(config, denied, { expectedState: state }))).resolves.toEqual({
      name: 'AuthorizationResponseError',
      error: 'access_denied',
      description: 'no account chosen with nextLogin()',
    });

    op.nextLogin('alice-sub');
    const noPkce = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: 'openid', state: 's', nonce: 'n' });
    const refused = await op.authorize(noPkce);
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('error_description')).toBe('Authorization Server policy requires PKCE to be used for this request');
  });

  it('refuses with a page (authorize rejects) a redirect_uri that is not registered', async () => {
    const { url } = await start({ redirect_uri: 'http://127.0.0.1:9/elsewhere' });
    await expect(op.authorize(url)).rejects.toThrow(/answered \/auth with 400/);
  });

  it('keeps its session in a jar given to several flows', async () => {
    const jar = new CookieJar();
    op.nextLogin('alice-sub');
    const first = await start();
    await op.authorize(first.url, jar);
    expect(jar.get('_session')).toBeTruthy();
    op.nextLogin('bob-sub');
    const second = await start();
    const tokens = await client.authorizationCodeGrant(config, await op.authorize(second.url, jar), {
      pkceCodeVerifier: second.codeVerifier,
      expectedState: second.state,
      expectedNonce: second.nonce,
    });
    // The provider's session decides: still alice.
    expect(tokens.claims()?.sub).toBe('alice-sub');
  });
});

describe('the test OpenID provider, with its options', () => {
  it('signs ES256, takes client_secret_post, and can keep the profile claims to userinfo', async () => {
    const op = await startOidcProvider({
      redirectUris: [REDIRECT_URI],
      clientId: 'other-client',
      tokenEndpointAuthMethod: 'client_secret_post',
      idTokenSigningAlg: 'ES256',
      scopeClaimsInIdToken: false,
    });
    try {
      op.addAccount({ sub: 'carol-sub', email: 'carol@example.com', email_verified: true });
      op.nextLogin('carol-sub');
      const discover = (auth: client.ClientAuth) =>
        client.discovery(new URL(op.issuer), op.clientId, op.clientSecret, auth, { execute: [client.allowInsecureRequests] });
      const flow = async (config: client.Configuration) => {
        const codeVerifier = client.randomPKCECodeVerifier();
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT_URI,
          scope: 'openid email',
          code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
          state: 'st',
          nonce: 'nn',
        });
        return client.authorizationCodeGrant(config, await op.authorize(url), {
          pkceCodeVerifier: codeVerifier,
          expectedState: 'st',
          expectedNonce: 'nn',
        });
      };

      // oidc-provider takes client_secret_basic and client_secret_post alike, whichever the
      // client registered: openid-client's default (ClientSecretPost) works with either.
      expect((await flow(await discover(client.ClientSecretBasic(op.clientSecret)))).claims()?.sub).toBe('carol-sub');
      // A wrong secret is invalid_client.
      await expect(failure(flow(await discover(client.ClientSecretPost('wrong'))))).resolves.toMatchObject({
        name: 'ResponseBodyError',
        error: 'invalid_client',
      });

      const config = await discover(client.ClientSecretPost(op.clientSecret));
      const tokens = await flow(config);
      expect(JSON.parse(Buffer.from(String(tokens.id_token).split('.')[0] ?? '', 'base64url').toString())).toMatchObject({ alg: 'ES256' });
      const claims = tokens.claims();
      expect(claims?.sub).toBe('carol-sub');
      expect(claims).not.toHaveProperty('email');
      expect(await client.fetchUserInfo(config, tokens.access_token, 'carol-sub')).toEqual({
        sub: 'carol-sub',
        email: 'carol@example.com',
        email_verified: true,
      });
    } finally {
      await op.close();
    }
  });
});

describe('the GitHub double, through openid-client 6', () => {
  let github: GitHubDouble;
  let config: client.Configuration;

  beforeAll(async () => {
    github = await startGitHubDouble();
    github.addUser({
      id: 4242,
      login: 'octo',
      name: 'Octo Cat',
      emails: [
        { email: 'octo@users.noreply.github.com', primary: false, verified: true },
        { email: 'octo@example.com', primary: true, verified: true },
      ],
    });
    github.addUser({ id: 7, login: 'unverified', emails: [{ email: 'unverified@example.com', primary: true, verified: false }] });
    // No discovery: the metadata by hand. openid-client needs an `issuer` in it; it is only
    // compared with an `iss` parameter or claim, and GitHub sends neither (the metadata does not
    // set authorization_response_iss_parameter_supported, so a callback without iss is accepted).
    // ClientSecretPost (openid-client's default) sends client_id and client_secret in the body.
    config = new client.Configuration(
      { issuer: 'https://github.com', authorization_endpoint: github.authorizationEndpoint, token_endpoint: github.tokenEndpoint },
      github.clientId,
      github.clientSecret,
      client.ClientSecretPost(github.clientSecret),
    );
    client.allowInsecureRequests(config);
  });
  afterAll(async () => {
    await github.close();
  });

  const api = (path: string, token: string) =>
    fetch(`${github.url}${path}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'latchkey' },
    });

  async function signIn(userId: number, scope = 'read:user user:email') {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    github.nextLogin(userId);
    const callback = await github.authorize(url);
    return { callback, codeVerifier, state };
  }

  it('exchanges the code without an ID token, then reads /user and /user/emails', async () => {
    const { callback, codeVerifier, state } = await signIn(4242);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.has('iss')).toBe(false);
    // No idTokenExpected, no expectedNonce: a token response without id_token is accepted.
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect(tokens.access_token).toMatch(/^gho_/);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('read:user,user:email'); // comma-separated, as GitHub does
    expect(tokens.claims()).toBeUndefined();

    const user = await api('/user', tokens.access_token);
    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({ id: 4242, login: 'octo', name: 'Octo Cat', email: null });
    const emails = await api('/user/emails', tokens.access_token);
    expect(await emails.json()).toEqual([
      { email: 'octo@users.noreply.github.com', primary: false, verified: true, visibility: null },
      { email: 'octo@example.com', primary: true, verified: true, visibility: 'private' },
    ]);
    // Through openid-client as well.
    const viaClient = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${github.url}/user/emails`), 'GET');
    expect(viaClient.status).toBe(200);

    expect((await api('/user', 'gho_unknown')).status).toBe(401);
  });

  it('answers a bad or replayed code with 200 and an error body, which openid-client rejects', async () => {
    const { callback, codeVerifier, state } = await signIn(7);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state });
    expect(await (await api('/user/emails', tokens.access_token)).json()).toEqual([
      { email: 'unverified@example.com', primary: true, verified: false, visibility: 'private' },
    ]);

    // The raw answer to a replayed code: status 200, { error: 'bad_verification_code' }.
    const raw = await fetch(github.tokenEndpoint, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: github.clientId,
        client_secret: github.clientSecret,
        code: String(callback.searchParams.get('code')),
        code_verifier: codeVerifier,
      }),
    });
    expect(raw.status).toBe(200);
    expect(await raw.json()).toMatchObject({ error: 'bad_verification_code' });

    // openid-client does not read a 200 with an `error` member as an OAuth error answer: it
    // rejects the body for its missing access_token (ClientError OAUTH_INVALID_RESPONSE), and
    // GitHub's error code is only at error.cause.cause.body.error.
    await expect(
      failure(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state })),
    ).resolves.toEqual({
      name: 'ClientError',
      code: 'OAUTH_INVALID_RESPONSE',
      detail: '"response" body "access_token" property must be a string',
      bodyError: 'bad_verification_code',
    });
  });

  it('checks the PKCE verifier and the client secret, and needs user:email for the addresses', async () => {
    const wrongVerifier = await signIn(4242);
    await expect(
      failure(
        client.authorizationCodeGrant(config, wrongVerifier.callback, {
          pkceCodeVerifier: client.randomPKCECodeVerifier(),
          expectedState: wrongVerifier.state,
        }),
      ),
    ).resolves.toMatchObject({ code: 'OAUTH_INVALID_RESPONSE', bodyError: 'bad_verification_code' });

    const wrongSecret = new client.Configuration(config.serverMetadata(), github.clientId, 'nope', client.ClientSecretPost('nope'));
    client.allowInsecureRequests(wrongSecret);
    const flow = await signIn(4242);
    await expect(
      failure(
        client.authorizationCodeGrant(wrongSecret, flow.callback, { pkceCodeVerifier: flow.codeVerifier, expectedState: flow.state }),
      ),
    ).resolves.toMatchObject({ code: 'OAUTH_INVALID_RESPONSE', bodyError: 'incorrect_client_credentials' });

    const narrow = await signIn(4242, 'read:user');
    const tokens = await client.authorizationCodeGrant(config, narrow.callback, {
      pkceCodeVerifier: narrow.codeVerifier,
      expectedState: narrow.state,
    });
    expect((await api('/user', tokens.access_token)).status).toBe(200);
    expect((await api('/user/emails', tokens.access_token)).status).toBe(404);
  });

  it('ends with error=access_denied when no user is chosen', async () => {
    github.nextLogin(undefined);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      state: 'st',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    const denied = await github.authorize(url);
    expect(Object.fromEntries(denied.searchParams)).toMatchObject({ error: 'access_denied', state: 'st' });
  });
});
