/**
 * The relying-party side of external sign-in, on openid-client 6: an authorization URL with PKCE
 * (S256), state and nonce; the callback's code exchanged and its ID token checked (signature from
 * the provider's JWKS, iss, aud/azp, exp, nonce; RFC 9207's `iss` parameter when the provider
 * announces it); userinfo fetched for the ID token's subject. GitHub is OAuth 2 without ID tokens:
 * its identity is its numeric user id, and its address the primary one, only if verified.
 */
import * as oidc from 'openid-client';
import type { ProviderConfig } from '../../config.js';

/** Who the provider says signed in: keyed by (issuer, subject), never by email. */
export interface ExternalProfile {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  username: string | null;
}

/** Why a callback was refused: the reasons of login.failed events. */
export type CallbackFailure = 'state_mismatch' | 'nonce_mismatch' | 'id_token_invalid' | 'provider_error' | 'provider_unavailable';

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    readonly reason: CallbackFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Plain http only to a loopback host (a provider run by the tests; config refuses it in production). */
const insecureAllowed = (url: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname) && url.startsWith('http:');

const TIMEOUT_MS = 5_000;

export interface ProviderClient {
  authorizationUrl(params: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<URL>;
  /** Exchanges the code of `callbackUrl` and reads the profile; ProviderError when anything is wrong. */
  profile(callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<ExternalProfile>;
}

/** A client per provider; discovery runs on first use and is kept (a failure is retried on the next sign-in). */
export function providerClient(provider: Readonly<ProviderConfig>): ProviderClient {
  let configuration: Promise<oidc.Configuration> | undefined;
  const options = (url: string): oidc.DiscoveryRequestOptions => ({
    ...(insecureAllowed(url) && { execute: [oidc.allowInsecureRequests] }),
    timeout: TIMEOUT_MS / 1000,
  });

  function configure(): Promise<oidc.Configuration> {
    if (!configuration) {
      const made =
        provider.kind === 'oidc'
          ? oidc.discovery(
              new URL(provider.issuer),
              provider.clientId,
              undefined,
              oidc.ClientSecretBasic(provider.clientSecret),
              options(provider.issuer),
            )
          : Promise.resolve(githubConfiguration(provider));
      configuration = made.catch((error: unknown) => {
        configuration = undefined;
        throw new ProviderError('provider_unavailable', `discovery failed: ${error instanceof Error ? error.message : 'unknown error'}`);
      });
    }
    return configuration;
  }

  return {
    async authorizationUrl({ redirectUri, state, nonce, codeChallenge }) {
      const config = await configure();
      const scope = provider.kind === 'oidc' ? provider.scopes : 'read:user user:email';
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope,
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        ...(provider.kind === 'oidc' && { nonce }),
      });
    },

    async profile(callbackUrl, checks) {
      const config = await configure();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          ...(provider.kind === 'oidc' && { expectedNonce: checks.nonce, idTokenExpected: true }),
        });
      } catch (error) {
        throw classify(error);
      }
      if (provider.kind === 'github') return githubProfile(provider, tokens.access_token);
      const claims = tokens.claims();
      if (!claims) throw new ProviderError('id_token_invalid', 'no ID token');
      let info: oidc.UserInfoResponse | undefined;
      if (config.serverMetadata().userinfo_endpoint) {
        try {
          info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        } catch (error) {
          throw classify(error);
        }
      }
      const email = stringClaim(info?.email) ?? stringClaim(claims.email);
      const verified = (info?.email_verified ?? claims.email_verified) === true;
      return {
        issuer: claims.iss,
        subject: claims.sub,
        email,
        emailVerified: email !== null && verified,
        name: stringClaim(info?.name) ?? stringClaim(claims.name),
        username: stringClaim(info?.preferred_username) ?? stringClaim(claims.preferred_username),
      };
    },
  };
}

const stringClaim = (value: unknown): string | null =>
  typeof value === 'string' && value.length > 0 && value.length <= 320 ? value : null;

/** openid-client's errors, as the reasons the log records (its messages are not for the browser). */
function classify(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const text = (value: unknown): string =>
    value instanceof Error ? `${value.message} ${'cause' in value ? text(value.cause) : ''}` : typeof value === 'string' ? value : '';
  const message = text(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED')
    return new ProviderError(/nonce/i.test(message) ? 'nonce_mismatch' : 'id_token_invalid', message);
  if (code === 'OAUTH_INVALID_RESPONSE' && /"state"/.test(message)) return new ProviderError('state_mismatch', message);
  if (error instanceof oidc.ResponseBodyError || error instanceof oidc.AuthorizationResponseError)
    return new ProviderError('provider_error', message);
  if (error instanceof TypeError || /fetch failed|ECONNREFUSED|timed? ?out|abort/i.test(message))
    return new ProviderError('provider_unavailable', message);
  return new ProviderError('id_token_invalid', message);
}

function githubConfiguration(provider: Extract<ProviderConfig, { kind: 'github' }>): oidc.Configuration {
  const config = new oidc.Configuration(
    {
      issuer: provider.oauthUrl,
      authorization_endpoint: `${provider.oauthUrl}/login/oauth/authorize`,
      token_endpoint: `${provider.oauthUrl}/login/oauth/access_token`,
    },
    provider.clientId,
    undefined,
    oidc.ClientSecretPost(provider.clientSecret),
  );
  if (insecureAllowed(provider.oauthUrl)) oidc.allowInsecureRequests(config);
  return config;
}

/** GitHub's user and its primary address, if verified: /user and /user/emails with the token. */
async function githubProfile(provider: Extract<ProviderConfig, { kind: 'github' }>, accessToken: string): Promise<ExternalProfile> {
  const get = async (path: string): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${provider.apiUrl}${path}`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'user-agent': 'latchkey' },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new ProviderError('provider_unavailable', error instanceof Error ? error.message : 'fetch failed');
    }
    if (!response.ok) throw new ProviderError('provider_error', `GitHub answered ${response.status} for ${path}`);
    return response.json();
  };
  const user = (await get('/user')) as { id?: unknown; login?: unknown; name?: unknown };
  if (typeof user.id !== 'number' || !Number.isSafeInteger(user.id))
    throw new ProviderError('id_token_invalid', 'GitHub user without an id');
  const emails = await get('/user/emails');
  const primary = Array.isArray(emails)
    ? (emails as { email?: unknown; primary?: unknown; verified?: unknown }[]).find((entry) => entry.primary === true)
    : undefined;
  const email = stringClaim(primary?.email);
  return {
    issuer: provider.oauthUrl,
    subject: String(user.id),
    email,
    emailVerified: email !== null && primary?.verified === true,
    name: stringClaim(user.name),
    username: stringClaim(user.login),
  };
}
