/**
 * The REST routes of the contract (shared API.md, "REST routes"): the tutorial's shapes and
 * RealWorld's users/auth spec, each a thin call into the services the tRPC procedures use.
 * Adding a route is adding an entry here; the dispatcher and /openapi.json follow.
 */

import { adminRoutes } from './admin-routes.js';
import { identityRoutes } from './identity-routes.js';
import { passkeyRoutes } from './passkey-routes.js';
import { defineRoute, type RestRoute } from './route.js';
import {
  activityQuery,
  activityResponse,
  confirmTotpBody,
  dropBlankPassword,
  factorPath,
  factorsResponse,
  forgotPasswordBody,
  loginBody,
  loginMfaBody,
  loginResponse,
  messageResponse,
  reauthenticateBody,
  reauthenticateResponse,
  recoveryCodesResponse,
  refreshTokenBody,
  registerBody,
  resetPasswordBody,
  sessionResponse,
  toActivityJson,
  toFactorsJson,
  tokensResponse,
  toMfaRequiredJson,
  toSessionJson,
  totpEnrollmentResponse,
  toUserJson,
  updateUserBody,
  userResponse,
  verifyEmailQuery,
} from './schemas.js';

const TOKEN_SCHEMES = 'Send the access token as `Authorization: Token <jwt>` (RealWorld, the tutorial) or `Authorization: Bearer <jwt>`.';

export const restRoutes: readonly RestRoute[] = [
  defineRoute({
    method: 'POST',
    path: '/api/users',
    operationId: 'register',
    summary: 'Register',
    description: 'Creates the account and its first session (auth.register). A verification mail is queued.',
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'RegisterRequest', schema: registerBody },
    success: { status: 201, description: 'The new user, signed in', name: 'SessionResponse', schema: sessionResponse },
    errors: [409, 429],
    async handle({ input, ctx }) {
      return toSessionJson(await ctx.services.signIn.register(input.user, ctx.request));
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/users/login',
    operationId: 'login',
    summary: 'Log in',
    description: [
      'Starts a session (auth.login). An unknown email and a wrong password get the same 401; repeated failures are throttled (429).',
      'For an account with a second factor, the right password answers `{ mfa_required: true, mfa_token, factors }` instead of a',
      'session: send the token with a code, or a passkey, to `POST /api/users/login/mfa`. To sign in with a passkey alone, see',
      '`POST /api/users/login/passkey`.',
    ].join(' '),
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'LoginRequest', schema: loginBody },
    success: {
      status: 200,
      description: 'The user, signed in; or, for an account with a second factor, the pending sign-in that asks for a code',
      name: 'LoginResponse',
      schema: loginResponse,
    },
    errors: [401, 429],
    async handle({ input, ctx }) {
      const { device_token: deviceToken, ...credentials } = input.user;
      const answer = await ctx.services.signIn.login({ ...credentials, deviceToken }, ctx.request);
      return 'mfaRequired' in answer ? toMfaRequiredJson(answer) : toSessionJson(answer);
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/users/login/mfa',
    operationId: 'loginMfa',
    summary: 'Log in: the second factor',
    description: [
      'Completes a login that answered `mfa_required` (auth.mfa.verify): its `mfa_token` with `code` (the authenticator app),',
      '`recovery_code`, or `passkey` (the answer to the options of `POST /api/users/login/passkey/options` with this `mfa_token`),',
      'and answers the session as a login does. The token is single use, lives 5 minutes and dies after 5 wrong attempts (401',
      'MFA_TOKEN_INVALID / MFA_TOKEN_EXPIRED: log in again); a wrong code is 401 MFA_CODE_INVALID, a passkey that does not verify',
      "401 PASSKEY_INVALID (422 CHALLENGE_EXPIRED for an unknown, used or expired challenge), and they count in the login's back-off (429).",
    ].join(' '),
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'LoginMfaRequest', schema: loginMfaBody },
    success: { status: 200, description: 'The user, signed in', name: 'SessionResponse', schema: sessionResponse },
    errors: [401, 403, 429],
    async handle({ input, ctx }) {
      const { mfa_token: mfaToken, code, recovery_code: recoveryCode, passkey } = input;
      return toSessionJson(await ctx.services.signIn.verifyMfa({ mfaToken, code, recoveryCode, passkey }, ctx.request));
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/user',
    operationId: 'currentUser',
    summary: 'Current user',
    description: `The signed-in user (user.me). ${TOKEN_SCHEMES}`,
    tag: 'user',
    auth: true,
    success: { status: 200, description: 'The signed-in user', name: 'UserResponse', schema: userResponse },
    async handle({ ctx, signedIn }) {
      return { user: toUserJson(await ctx.services.users.me(signedIn.auth.userId), signedIn.accessToken) };
    },
  }),

  defineRoute({
    method: 'PUT',
    path: '/api/user',
    operationId: 'updateUser',
    summary: 'Update the current user',
    description: [
      `Changes the profile (user.update) and, with \`password\` and \`current_password\`, the password (user.changePassword). ${TOKEN_SCHEMES}`,
      '`bio` and `image`: `""` or `null` clears them. A new email is unverified until confirmed.',
      'A new `password` or `email` needs `current_password`, or a sign-in or re-authentication within REAUTH_MAX_AGE (else 403 `REAUTHENTICATION_REQUIRED`); a wrong `current_password` is a 422',
      '(`current_password: ["is incorrect"]`), not a 401, so clients do not take it for the end of the session.',
      'A new `email` stays pending (`pending_email`) until the links mailed to the new and (when verified) the current address are both used.',
      'A password change ends every other session of the user; this one stays signed in.',
      'Everything is checked before anything is written: a request that fails changes nothing.',
    ].join(' '),
    tag: 'user',
    auth: true,
    input: { from: 'body', name: 'UpdateUserRequest', schema: updateUserBody, prepare: dropBlankPassword },
    success: { status: 200, description: 'The updated user', name: 'UserResponse', schema: userResponse },
    errors: [403, 409, 429],
    // The one INVALID_CREDENTIALS here is a wrong current password: a form error, not a failed sign-in.
    statusOverrides: { INVALID_CREDENTIALS: 422 },
    async handle({ input, ctx, signedIn }) {
      const { password, current_password: currentPassword, ...profile } = input.user;
      // Everything is checked first and applied in one transaction, or nothing is.
      const user = await ctx.services.accounts.update(signedIn.auth, { ...profile, newPassword: password, currentPassword }, ctx.request);
      return { user: toUserJson(user, signedIn.accessToken) };
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/user/activity',
    operationId: 'activity',
    summary: "The current user's security events",
    description: `Logins, failed logins, password and email changes, revocations... of the signed-in user, newest first (auth.activity). Paginated with \`cursor\`. ${TOKEN_SCHEMES}`,
    tag: 'user',
    auth: true,
    input: { from: 'query', name: 'ActivityQuery', schema: activityQuery },
    success: { status: 200, description: 'A page of events', name: 'ActivityResponse', schema: activityResponse },
    async handle({ input, ctx, signedIn }) {
      return toActivityJson(await ctx.services.audit.activity(signedIn.auth.userId, signedIn.auth.sessionId, input));
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/auth/reauthenticate',
    operationId: 'reauthenticate',
    summary: 'Confirm who is signed in',
    description: [
      'Checks the password of the signed-in user, a code of their authenticator app (`code`), one of their recovery codes',
      '(`recovery_code`) or one of their passkeys (`passkey`: the answer to the options of `POST',
      '/api/user/passkeys/reauthentication-options`) (auth.reauthenticate) and answers a fresh access token whose `auth_time` is',
      'now: with it, for REAUTH_MAX_AGE, a new email or password needs no `current_password`. For an account with a second',
      'factor, the sensitive actions need a re-authentication with a code or a passkey: the password alone is not enough. A wrong',
      'password or code, or a passkey that does not verify (PASSKEY_INVALID), is a 422; a code for an account without a second',
      `factor is 404 FACTOR_NOT_FOUND. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'auth',
    auth: true,
    input: { from: 'body', name: 'ReauthenticateRequest', schema: reauthenticateBody },
    success: { status: 200, description: 'A fresh access token', name: 'ReauthenticateResponse', schema: reauthenticateResponse },
    errors: [404, 429],
    // A wrong password, code or passkey is a form error, not the end of the session.
    statusOverrides: { INVALID_CREDENTIALS: 422, MFA_CODE_INVALID: 422, PASSKEY_INVALID: 422 },
    async handle({ input, ctx, signedIn }) {
      // A passkey's answer is any JSON the service then reads strictly (null is a malformed one).
      const proof =
        'recovery_code' in input ? { recoveryCode: input.recovery_code } : 'passkey' in input ? { passkey: input.passkey ?? null } : input;
      const fresh = await ctx.services.accounts.reauthenticate(signedIn.auth, proof, ctx.request);
      return { access_token: fresh.accessToken, access_token_expires_at: fresh.accessTokenExpiresAt.toISOString() };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/auth/refresh',
    operationId: 'refresh',
    summary: 'Refresh the access token',
    description:
      'Exchanges a refresh token for a new access token and a new refresh token (auth.refresh): the token rotates on every use. ' +
      'Presenting a rotated token again after the grace window revokes the whole session.',
    tag: 'auth',
    auth: false,
    input: { from: 'body', name: 'RefreshTokenRequest', schema: refreshTokenBody },
    success: { status: 200, description: 'New tokens', name: 'TokensResponse', schema: tokensResponse },
    errors: [401, 429],
    async handle({ input, ctx }) {
      const tokens = await ctx.services.sessions.refresh(input.refresh_token, ctx.request);
      return { access_token: tokens.accessToken, refresh_token: tokens.refreshToken };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/auth/logout',
    operationId: 'logout',
    summary: 'Log out',
    description: "Ends the refresh token's session (auth.logout); its access tokens stop working too. Idempotent.",
    tag: 'auth',
    auth: false,
    input: { from: 'body', name: 'RefreshTokenRequest', schema: refreshTokenBody },
    success: {
      status: 200,
      description: 'Logged out (also when the session had already ended)',
      name: 'MessageResponse',
      schema: messageResponse,
    },
    async handle({ input, ctx }) {
      await ctx.services.sessions.logout(input.refresh_token, ctx.request);
      return { message: 'Logged out' };
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/auth/verify-email',
    operationId: 'verifyEmail',
    summary: 'Confirm an email address',
    description:
      'Uses the token of a verification mail (auth.verifyEmail), once. 404 for an unknown or used token, 410 for an expired one. ' +
      'The link in the mail opens an HTML page instead (/verify-email); this route is for API clients.',
    tag: 'auth',
    auth: false,
    input: { from: 'query', name: 'VerifyEmailQuery', schema: verifyEmailQuery },
    success: { status: 200, description: 'The address is confirmed', name: 'MessageResponse', schema: messageResponse },
    errors: [404, 410],
    async handle({ input, ctx }) {
      await ctx.services.accounts.verifyEmail(input.token, ctx.request);
      return { message: 'Email address confirmed' };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/auth/forgot-password',
    operationId: 'forgotPassword',
    summary: 'Ask for a password-reset mail',
    description:
      'Queues a reset link to the account with this address, if there is one (auth.forgotPassword). The answer is the same for every address.',
    tag: 'auth',
    auth: false,
    input: { from: 'body', name: 'ForgotPasswordRequest', schema: forgotPasswordBody },
    success: { status: 200, description: 'The same message for every address', name: 'MessageResponse', schema: messageResponse },
    errors: [429],
    async handle({ input, ctx }) {
      return ctx.services.accounts.forgotPassword(input.email, ctx.request);
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/auth/reset-password',
    operationId: 'resetPassword',
    summary: 'Set a new password with a reset token',
    description:
      'Uses the token of a reset mail (auth.resetPassword), once: sets the password, ends every session and every other reset link, and mails the owner. ' +
      '404 for an unknown or used token, 410 for an expired one.',
    tag: 'auth',
    auth: false,
    input: { from: 'body', name: 'ResetPasswordRequest', schema: resetPasswordBody },
    success: { status: 200, description: 'The password is changed', name: 'MessageResponse', schema: messageResponse },
    errors: [404, 410],
    async handle({ input, ctx }) {
      await ctx.services.accounts.resetPassword(input.token, input.new_password, ctx.request);
      return { message: 'Password changed; every session was signed out' };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/mfa/totp',
    operationId: 'enrollTotp',
    summary: 'Set up an authenticator app',
    description: [
      'Starts setting up a TOTP factor (auth.mfa.totp.enroll): a new secret, shown this once, and its `otpauth://` URI for a QR',
      'code. The factor is pending until `POST /api/user/mfa/totp/confirm`; an unconfirmed one makes way for another after 10',
      'minutes. Needs a sign-in or re-authentication within REAUTH_MAX_AGE (403 REAUTHENTICATION_REQUIRED); 409 FACTOR_EXISTS',
      `while an authenticator app is set up or being set up. No body (send \`Content-Type: application/json\`). ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'mfa',
    auth: true,
    success: {
      status: 201,
      description: 'The pending factor and its secret',
      name: 'TotpEnrollmentResponse',
      schema: totpEnrollmentResponse,
    },
    errors: [403, 409],
    async handle({ ctx, signedIn }) {
      const enrolled = await ctx.services.mfa.enrollTotp(signedIn.auth);
      return { factor_id: enrolled.factorId, secret: enrolled.secret, otpauth_uri: enrolled.otpauthUri };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/mfa/totp/confirm',
    operationId: 'confirmTotp',
    summary: 'Activate the authenticator app',
    description: [
      'Activates the pending factor with a code the app shows (auth.mfa.totp.confirm); from then on, logins ask for a code. The',
      "account's first factor also gets 10 recovery codes, answered this once. A wrong code is 422 MFA_CODE_INVALID; an unknown,",
      `active or abandoned factor 404 FACTOR_NOT_FOUND. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'mfa',
    auth: true,
    input: { from: 'body', name: 'ConfirmTotpRequest', schema: confirmTotpBody },
    success: { status: 200, description: 'The recovery codes, shown once', name: 'RecoveryCodesResponse', schema: recoveryCodesResponse },
    errors: [404, 429],
    // A wrong code is a form error, not the end of the session.
    statusOverrides: { MFA_CODE_INVALID: 422 },
    async handle({ input, ctx, signedIn }) {
      const { recoveryCodes } = await ctx.services.mfa.confirmTotp(
        signedIn.auth,
        { factorId: input.factor_id, code: input.code },
        ctx.request,
      );
      return { recovery_codes: recoveryCodes };
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/user/mfa/factors',
    operationId: 'listFactors',
    summary: "The current user's second factors",
    description: `The active second factors of the signed-in user, oldest first (auth.mfa.factors). ${TOKEN_SCHEMES}`,
    tag: 'mfa',
    auth: true,
    success: { status: 200, description: 'The active factors', name: 'FactorsResponse', schema: factorsResponse },
    async handle({ ctx, signedIn }) {
      return toFactorsJson(await ctx.services.mfa.factors(signedIn.auth.userId));
    },
  }),

  defineRoute({
    method: 'DELETE',
    path: '/api/user/mfa/factors/{factor_id}',
    operationId: 'removeFactor',
    summary: 'Remove a second factor',
    description: [
      'Removes an active or pending factor of the signed-in user (auth.mfa.remove); the last active one takes the recovery codes',
      'with it. Needs a re-authentication within REAUTH_MAX_AGE that included a code (403 REAUTHENTICATION_REQUIRED); 404',
      `FACTOR_NOT_FOUND for a factor that is not the user's. ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'mfa',
    auth: true,
    input: { from: 'path', name: 'FactorPath', schema: factorPath },
    success: { status: 200, description: 'The factor is removed', name: 'MessageResponse', schema: messageResponse },
    errors: [403, 404],
    async handle({ input, ctx, signedIn }) {
      await ctx.services.mfa.remove(signedIn.auth, input.factor_id, ctx.request);
      return { message: 'Factor removed' };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/user/mfa/recovery-codes',
    operationId: 'regenerateRecoveryCodes',
    summary: 'Replace the recovery codes',
    description: [
      'Replaces every recovery code with 10 new ones, answered this once (auth.mfa.recoveryCodes.regenerate). Needs a',
      're-authentication within REAUTH_MAX_AGE that included a code (403 REAUTHENTICATION_REQUIRED); 404 FACTOR_NOT_FOUND',
      `without an active factor. No body (send \`Content-Type: application/json\`). ${TOKEN_SCHEMES}`,
    ].join(' '),
    tag: 'mfa',
    auth: true,
    success: {
      status: 200,
      description: 'The new recovery codes, shown once',
      name: 'RecoveryCodesResponse',
      schema: recoveryCodesResponse,
    },
    errors: [403, 404],
    async handle({ ctx, signedIn }) {
      const { recoveryCodes } = await ctx.services.mfa.regenerateRecoveryCodes(signedIn.auth, ctx.request);
      return { recovery_codes: recoveryCodes };
    },
  }),
  ...passkeyRoutes,
  ...identityRoutes,
  ...adminRoutes,
];
