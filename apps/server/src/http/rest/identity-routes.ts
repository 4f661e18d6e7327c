/**
 * The REST twins of external sign-in (issue 19): the configured providers, the exchange of a
 * callback's one-time code for a session (answered as a login is), and the signed-in user's
 * linked identities. The browser steps themselves (`GET /auth/oidc/{provider}/start` and
 * `/callback`) are pages of the HTTP server, not REST routes; openapi.ts documents them.
 */
import { AppError } from '../../lib/errors.js';
import {
  exchangeCodeBody,
  identitiesResponse,
  identityPath,
  linkCompleteBody,
  linkedIdentityResponse,
  linkIdentityBody,
  linkIdentityResponse,
  providersResponse,
  toIdentityJson,
} from './identity-schemas.js';
import { defineRoute, type RestRoute } from './route.js';
import { loginResponse, messageResponse, toMfaRequiredJson, toSessionJson } from './schemas.js';

const TOKEN_SCHEMES = 'Send the access token as `Authorization: Token <jwt>` (RealWorld, the tutorial) or `Authorization: Bearer <jwt>`.';

/** An error of the service with the REST field it is about, the appCode kept. */
function about<T>(appCode: AppError['appCode'], field: string, message: string) {
  return (error: unknown): T => {
    if (error instanceof AppError && error.appCode === appCode) throw new AppError(appCode, { fields: { [field]: [message] } });
    throw error;
  };
}

export const identityRoutes: readonly RestRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/api/providers',
    operationId: 'listProviders',
    summary: 'The external sign-in providers',
    description: [
      'The OpenID Connect providers (OIDC_<ID>_*) and GitHub (GITHUB_CLIENT_ID) this server is configured with (auth.providers),',
      'for the buttons of a sign-in page: each sends the browser to `GET /auth/oidc/{id}/start?redirect_to=<page>`. Nothing is',
      'fetched from the providers to answer this.',
    ].join(' '),
    tag: 'identities',
    auth: false,
    success: { status: 200, description: 'The providers, in configuration order', name: 'ProvidersResponse', schema: providersResponse },
    async handle({ ctx }) {
      return { providers: ctx.services.identities.providers() };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/users/login/exchange',
    operationId: 'loginExchange',
    summary: 'Log in: the code of an external sign-in',
    description: [
      'Exchanges the one-time code that `GET /auth/oidc/{provider}/callback` put in the fragment of `redirect_to`',
      '(`#code=...`) for the session (auth.exchangeCode), answered as `POST /api/users/login` answers: the session (its access',
      'token says `amr: ["fed"]`), or for an account with a second factor `{ mfa_required: true, mfa_token, factors }` (continue',
      'at `POST /api/users/login/mfa`). The code is single use and lives 60 seconds: an unknown, used or expired one is 401',
      'TOKEN_INVALID (start the sign-in again); bad codes count per address (429). A disabled account is 403 ACCOUNT_DISABLED.',
    ].join(' '),
    tag: 'identities',
    auth: false,
    input: { from: 'body', name: 'LoginExchangeRequest', schema: exchangeCodeBody },
    success: {
      status: 200,
      description: 'The user, signed in; or, for an account with a second factor, the pending sign-in that asks for it',
      name: 'LoginResponse',
      schema: loginResponse,
    },
    errors: [401, 403, 429],
    // The code is a credential, as an mfa_token is: gone means sign in again (401), not a missing resource.
    statusOverrides: { TOKEN_INVALID: 401 },
    async handle({ input, ctx }) {
      const answer = await ctx.services.identities
        .exchangeCode(input.code, ctx.request)
        .catch(about<never>('TOKEN_INVALID', 'code', 'is invalid, used or expired'));
      return 'mfaRequired' in answer ? toMfaRequiredJson(answer) : toSessionJson(answer);
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/user/identities',
    operationId: 'listIdentities',
    summary: "The current user's linked identities",
    description: `The external identities (OpenID Connect, GitHub) linked to the signed-in user, oldest first (auth.identities.list). ${TOKEN_SCHEMES}`,
    tag: 'identities',
    auth: true,
    success: { status: 200, description: 'The linked identities', name: 'IdentitiesResponse', schema: identitiesResponse },
    async handle({ ctx, signedIn }) {
      return { identities: (await ctx.services.identities.list(signedIn.auth.userId)).map(toIdentityJson) };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/identities/link',
    operationId: 'linkIdentity',
    summary: 'Start linking an identity',
    description: [
      'Starts a flow that links an identity of `provider` to the signed-in user (auth.identities.linkStart) and answers the URL',
      'to send the browser to: it opens once, within 10 minutes, binds the flow to that browser and redirects to the provider;',
      "the provider's answer comes back to `redirect_to` as `#link_code=...`, which only this user, signed in, can turn into the",
      'link (`POST /api/user/identities/link/complete`), or as `#error=<appCode>`.',
      'Needs a sign-in or re-authentication within REAUTH_MAX_AGE (with the second factor, for an account with one; else 403',
      'REAUTHENTICATION_REQUIRED). A provider that is not configured is 422 PROVIDER_UNAVAILABLE, a `redirect_to` outside',
      `ALLOWED_REDIRECTS 422 VALIDATION_FAILED. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'identities',
    auth: true,
    input: { from: 'body', name: 'LinkIdentityRequest', schema: linkIdentityBody },
    success: { status: 200, description: 'Where to send the browser', name: 'LinkIdentityResponse', schema: linkIdentityResponse },
    errors: [403, 429],
    async handle({ input, ctx, signedIn }) {
      return ctx.services.identities.linkStart(signedIn.auth, { provider: input.provider, redirectTo: input.redirect_to }, ctx.request);
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/identities/link/complete',
    operationId: 'completeIdentityLink',
    summary: 'Link the identity of a link flow',
    description: [
      "Links the identity a link flow's callback found (`#link_code=...`) to the signed-in user (auth.identities.linkComplete),",
      'who must be the one who started the flow: any other caller, a used or expired code is 401 TOKEN_INVALID. 409',
      `IDENTITY_IN_USE when the identity is linked to another account. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'identities',
    auth: true,
    input: { from: 'body', name: 'LinkCompleteRequest', schema: linkCompleteBody },
    success: { status: 200, description: 'The linked identity', name: 'LinkedIdentityResponse', schema: linkedIdentityResponse },
    errors: [409, 429],
    async handle({ input, ctx, signedIn }) {
      return { identity: toIdentityJson(await ctx.services.identities.linkComplete(signedIn.auth, input.code, ctx.request)) };
    },
  }),

  defineRoute({
    method: 'DELETE',
    path: '/api/user/identities/{identity_id}',
    operationId: 'unlinkIdentity',
    summary: 'Unlink an identity',
    description: [
      "Unlinks one of the signed-in user's external identities (auth.identities.unlink): it signs in to this account no more.",
      'Needs a sign-in or re-authentication within REAUTH_MAX_AGE (with the second factor, for an account with one; else 403',
      "REAUTHENTICATION_REQUIRED); 404 IDENTITY_NOT_FOUND for an identity that is not the user's; 409 LAST_SIGN_IN_METHOD when",
      'the account would be left with no way in (no password, no passkey, no other identity: set a password with the reset',
      `flow first). ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'identities',
    auth: true,
    input: { from: 'path', name: 'IdentityPath', schema: identityPath },
    success: { status: 200, description: 'The identity is unlinked', name: 'MessageResponse', schema: messageResponse },
    errors: [403, 404, 409],
    async handle({ input, ctx, signedIn }) {
      await ctx.services.identities
        .unlink(signedIn.auth, input.identity_id, ctx.request)
        .catch(about<never>('LAST_SIGN_IN_METHOD', 'identity', 'is the last way to sign in to this account: add another first'));
      return { message: 'Identity unlinked' };
    },
  }),
];
