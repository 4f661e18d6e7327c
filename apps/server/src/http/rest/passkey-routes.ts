/**
 * The REST twins of auth.passkeys.*: managing the signed-in user's passkeys under
 * /api/user/passkeys, and signing in with one alone under /api/users/login/passkey. The options
 * and the browser's answers are WebAuthn's JSON, passed as they are (passkey-schemas.ts). As for a
 * code: a passkey that does not verify is a failed sign-in (401 PASSKEY_INVALID) when signing in,
 * and a form error (422) on the signed-in routes, where the session itself is fine.
 */
import type { AuthenticationOptionsInput } from '../../modules/mfa/passkey.schemas.js';
import {
  authenticationOptionsResponse,
  loginPasskeyBody,
  loginPasskeyOptionsBody,
  passkeyPath,
  passkeyResponse,
  passkeysResponse,
  type RegistrationOptionsJson,
  registeredPasskeyResponse,
  registerPasskeyBody,
  registrationOptionsResponse,
  renamePasskeyBody,
  toAuthenticationOptionsJson,
  toPasskeyJson,
} from './passkey-schemas.js';
import { defineRoute, type RestRoute } from './route.js';
import { messageResponse, sessionResponse, toSessionJson } from './schemas.js';

const TOKEN_SCHEMES = 'Send the access token as `Authorization: Token <jwt>` (RealWorld, the tutorial) or `Authorization: Bearer <jwt>`.';
const NO_BODY = 'No body (send `Content-Type: application/json`).';
const CHALLENGE =
  'Each options answer holds a new challenge: single use (used up by the first answer, pass or fail), 5 minutes; an unknown, used or expired one is 422 CHALLENGE_EXPIRED (ask for new options).';

export const passkeyRoutes: readonly RestRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/api/user/passkeys',
    operationId: 'listPasskeys',
    summary: "The current user's passkeys",
    description: `The passkeys of the signed-in user, oldest first (auth.passkeys.list). ${TOKEN_SCHEMES}`,
    tag: 'passkeys',
    auth: true,
    success: { status: 200, description: 'The passkeys', name: 'PasskeysResponse', schema: passkeysResponse },
    async handle({ ctx, signedIn }) {
      return { passkeys: (await ctx.services.passkeys.list(signedIn.auth.userId)).map(toPasskeyJson) };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/passkeys/registration-options',
    operationId: 'passkeyRegistrationOptions',
    summary: 'Start registering a passkey',
    description: [
      "The options of a new passkey (auth.passkeys.registrationOptions), WebAuthn's PublicKeyCredentialCreationOptionsJSON as it",
      'is: give it to `startRegistration({ optionsJSON })` of @simplewebauthn/browser (or `navigator.credentials.create` after',
      '`PublicKeyCredential.parseCreationOptionsFromJSON`), then send the answer to `POST /api/user/passkeys`. A discoverable',
      "credential with user verification, the account's passkeys excluded. Needs a sign-in or re-authentication within",
      'REAUTH_MAX_AGE (one that included the second factor, for an account with one; else 403 REAUTHENTICATION_REQUIRED).',
      `${CHALLENGE} ${NO_BODY} ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'passkeys',
    auth: true,
    success: {
      status: 200,
      description: 'The options for the browser',
      name: 'PasskeyRegistrationOptions',
      schema: registrationOptionsResponse,
    },
    errors: [403, 429],
    async handle({ ctx, signedIn }) {
      const options: RegistrationOptionsJson = await ctx.services.passkeys.registrationOptions(signedIn.auth, ctx.request);
      return options;
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/passkeys',
    operationId: 'registerPasskey',
    summary: 'Register a passkey',
    description: [
      'Verifies the new credential against the challenge of `POST /api/user/passkeys/registration-options` and stores it',
      "(auth.passkeys.register); it signs in on its own from then on, and logins with the password ask for it as a second factor. The account's",
      'first second factor also gets 10 recovery codes, answered this once. A credential that does not verify (malformed, for',
      'another origin, without user verification, already registered) is 422 PASSKEY_INVALID; at most 20 passkeys per account',
      `(422 VALIDATION_FAILED). Needs a sign-in or re-authentication within REAUTH_MAX_AGE, as the options do. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'passkeys',
    auth: true,
    input: { from: 'body', name: 'RegisterPasskeyRequest', schema: registerPasskeyBody },
    success: {
      status: 201,
      description: 'The new passkey, and the recovery codes',
      name: 'RegisteredPasskeyResponse',
      schema: registeredPasskeyResponse,
    },
    errors: [403],
    // A credential that does not verify is a form error, not the end of the session.
    statusOverrides: { PASSKEY_INVALID: 422 },
    async handle({ input, ctx, signedIn }) {
      const { passkey, recoveryCodes } = await ctx.services.passkeys.register(signedIn.auth, input, ctx.request);
      return { passkey: toPasskeyJson(passkey), recovery_codes: recoveryCodes };
    },
  }),

  defineRoute({
    method: 'PATCH',
    path: '/api/user/passkeys/{passkey_id}',
    operationId: 'renamePasskey',
    summary: 'Rename a passkey',
    description: `Gives one of the signed-in user's passkeys a new name (auth.passkeys.rename); 404 PASSKEY_NOT_FOUND for a passkey that is not theirs. ${TOKEN_SCHEMES}`,
    tag: 'passkeys',
    auth: true,
    params: { name: 'PasskeyPath', schema: passkeyPath },
    input: { from: 'body', name: 'RenamePasskeyRequest', schema: renamePasskeyBody },
    success: { status: 200, description: 'The renamed passkey', name: 'PasskeyResponse', schema: passkeyResponse },
    errors: [404],
    async handle({ input, params, ctx, signedIn }) {
      return {
        passkey: toPasskeyJson(await ctx.services.passkeys.rename(signedIn.auth.userId, { id: params.passkey_id, name: input.name })),
      };
    },
  }),

  defineRoute({
    method: 'DELETE',
    path: '/api/user/passkeys/{passkey_id}',
    operationId: 'removePasskey',
    summary: 'Remove a passkey',
    description: [
      "Removes one of the signed-in user's passkeys (auth.passkeys.remove); the last second factor takes the recovery codes with",
      'it. Needs a re-authentication within REAUTH_MAX_AGE that included the second factor (403 REAUTHENTICATION_REQUIRED); 404',
      "PASSKEY_NOT_FOUND for a passkey that is not the user's; 409 LAST_SIGN_IN_METHOD when the account would be left without a",
      `way in (no password, no other passkey, no external identity). ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'passkeys',
    auth: true,
    input: { from: 'path', name: 'PasskeyPath', schema: passkeyPath },
    success: { status: 200, description: 'The passkey is removed', name: 'MessageResponse', schema: messageResponse },
    errors: [403, 404, 409],
    async handle({ input, ctx, signedIn }) {
      await ctx.services.passkeys.remove(signedIn.auth, input.passkey_id, ctx.request);
      return { message: 'Passkey removed' };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/passkeys/reauthentication-options',
    operationId: 'passkeyReauthenticationOptions',
    summary: 'Start a re-authentication with a passkey',
    description: [
      "Options for an assertion by one of the signed-in user's passkeys (auth.passkeys.authenticationOptions with",
      '`reauthenticate: true`): give `options` to `startAuthentication({ optionsJSON })` and send the answer as `passkey` to',
      `\`POST /api/auth/reauthenticate\` with the same access token. ${CHALLENGE} ${NO_BODY} ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'passkeys',
    auth: true,
    success: {
      status: 200,
      description: 'The options for the browser, and the id of their challenge',
      name: 'PasskeyAuthenticationOptionsResponse',
      schema: authenticationOptionsResponse,
    },
    errors: [429],
    async handle({ ctx }) {
      return toAuthenticationOptionsJson(await ctx.services.passkeys.authenticationOptions({ reauthenticate: true }, ctx.request));
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/users/login/passkey/options',
    operationId: 'loginPasskeyOptions',
    summary: 'Log in with a passkey: the options',
    description: [
      'Options for an assertion (auth.passkeys.authenticationOptions). `{}`: any passkey of this site (usernameless, or',
      "conditional UI); `{ email }`: only that account's, with the same answer whether or not the address has an account;",
      '`{ mfa_token }`: a passkey of the login that answered `mfa_required`, as its second factor (then answer at `POST',
      '/api/users/login/mfa`; 401 MFA_TOKEN_INVALID / MFA_TOKEN_EXPIRED for a bad token). Give `options` to',
      '`startAuthentication({ optionsJSON })` and send the answer with `challenge_id` to `POST /api/users/login/passkey`.',
      CHALLENGE,
    ].join(' '),
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'LoginPasskeyOptionsRequest', schema: loginPasskeyOptionsBody },
    success: {
      status: 200,
      description: 'The options for the browser, and the id of their challenge',
      name: 'PasskeyAuthenticationOptionsResponse',
      schema: authenticationOptionsResponse,
    },
    errors: [401, 429],
    async handle({ input, ctx }) {
      const whose: AuthenticationOptionsInput =
        input.mfa_token !== undefined ? { mfaToken: input.mfa_token } : input.email !== undefined ? { email: input.email } : {};
      return toAuthenticationOptionsJson(await ctx.services.passkeys.authenticationOptions(whose, ctx.request));
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/users/login/passkey',
    operationId: 'loginPasskey',
    summary: 'Log in with a passkey',
    description: [
      'Signs in with a passkey alone (auth.passkeys.authenticate): the answer to the options of `POST',
      '/api/users/login/passkey/options` with their `challenge_id`, and answers the session as a login does. A user-verified',
      'passkey is two factors: the access token says `amr: ["hwk"]`, `aal: 2`. A passkey that does not verify (malformed,',
      "unknown, another account's, for another origin, without user verification, a signature count that went back) is 401",
      `PASSKEY_INVALID; attempts count in the login's per-address limit (429). ${CHALLENGE}`,
    ].join(' '),
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'LoginPasskeyRequest', schema: loginPasskeyBody },
    success: { status: 200, description: 'The user, signed in', name: 'SessionResponse', schema: sessionResponse },
    errors: [401, 403, 429],
    async handle({ input, ctx }) {
      const session = await ctx.services.signIn.signInWithPasskey(
        { challengeId: input.challenge_id, response: input.response },
        ctx.request,
      );
      return toSessionJson(session);
    },
  }),
];
