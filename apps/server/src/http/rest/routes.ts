/**
 * The REST routes of the contract (shared API.md, "REST routes"): the tutorial's shapes and
 * RealWorld's users/auth spec, each a thin call into the services the tRPC procedures use.
 * Adding a route is adding an entry here; the dispatcher and /openapi.json follow.
 */

import { adminRoutes } from './admin-routes.js';
import { defineRoute, type RestRoute } from './route.js';
import {
  activityQuery,
  activityResponse,
  dropBlankPassword,
  forgotPasswordBody,
  loginBody,
  messageResponse,
  reauthenticateBody,
  reauthenticateResponse,
  refreshTokenBody,
  registerBody,
  resetPasswordBody,
  sessionResponse,
  toActivityJson,
  tokensResponse,
  toSessionJson,
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
    description:
      'Starts a session (auth.login). An unknown email and a wrong password get the same 401; repeated failures are throttled (429).',
    tag: 'users',
    auth: false,
    input: { from: 'body', name: 'LoginRequest', schema: loginBody },
    success: { status: 200, description: 'The user, signed in', name: 'SessionResponse', schema: sessionResponse },
    errors: [401, 429],
    async handle({ input, ctx }) {
      const { device_token: deviceToken, ...credentials } = input.user;
      return toSessionJson(await ctx.services.signIn.login({ ...credentials, deviceToken }, ctx.request));
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
    description:
      'Checks the password of the signed-in user (auth.reauthenticate) and answers a fresh access token whose `auth_time` is now: ' +
      `with it, for REAUTH_MAX_AGE, a new email or password needs no \`current_password\`. A wrong password is a 422. ${TOKEN_SCHEMES}`,
    tag: 'auth',
    auth: true,
    input: { from: 'body', name: 'ReauthenticateRequest', schema: reauthenticateBody },
    success: { status: 200, description: 'A fresh access token', name: 'ReauthenticateResponse', schema: reauthenticateResponse },
    errors: [429],
    // A wrong password is a form error, not the end of the session.
    statusOverrides: { INVALID_CREDENTIALS: 422 },
    async handle({ input, ctx, signedIn }) {
      const fresh = await ctx.services.accounts.reauthenticate(signedIn.auth, input, ctx.request);
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
  ...adminRoutes,
];
