import {
  forgotPasswordInput,
  loginInput,
  reauthenticateInput,
  registerInput,
  resetPasswordInput,
  tokenInput,
  verifyMfaInput,
} from '../modules/account/account.schemas.js';
import { activityInput } from '../modules/audit/audit.schemas.js';
import { exchangeCodeInput, linkCompleteInput, linkStartInput, unlinkInput } from '../modules/identity/identity.schemas.js';
import { confirmTotpInput, removeFactorInput } from '../modules/mfa/mfa.schemas.js';
import {
  authenticatePasskeyInput,
  authenticationOptionsInput,
  registerPasskeyInput,
  removePasskeyInput,
  renamePasskeyInput,
} from '../modules/mfa/passkey.schemas.js';
import { refreshInput, revokeSessionInput } from '../modules/session/session.schemas.js';
import { authedProcedure, directMutation, publicProcedure, router } from '../trpc/init.js';

/** Second factors: an authenticator app (TOTP) and recovery codes; `verify` is a login's second step. */
const mfaRouter = router({
  totp: router({
    enroll: authedProcedure.mutation(({ ctx }) => ctx.services.mfa.enrollTotp(ctx.auth)),
    confirm: authedProcedure
      .input(confirmTotpInput)
      .mutation(({ ctx, input }) => ctx.services.mfa.confirmTotp(ctx.auth, input, ctx.request)),
  }),
  factors: authedProcedure.query(({ ctx }) => ctx.services.mfa.factors(ctx.auth.userId)),
  remove: authedProcedure.input(removeFactorInput).mutation(async ({ ctx, input }) => {
    await ctx.services.mfa.remove(ctx.auth, input.factorId, ctx.request);
    return { success: true as const };
  }),
  recoveryCodes: router({
    regenerate: authedProcedure.mutation(({ ctx }) => ctx.services.mfa.regenerateRecoveryCodes(ctx.auth, ctx.request)),
  }),
  verify: publicProcedure.input(verifyMfaInput).mutation(({ ctx, input }) => ctx.services.signIn.verifyMfa(input, ctx.request)),
});

/**
 * Passkeys: registering (signed in, recent proof), managing, and the assertions that sign in with
 * one alone. The `*Options` procedures are mutations: each stores a single-use challenge.
 */
const passkeysRouter = router({
  registrationOptions: authedProcedure.mutation(({ ctx }) => ctx.services.passkeys.registrationOptions(ctx.auth, ctx.request)),
  register: authedProcedure
    .input(registerPasskeyInput)
    .mutation(({ ctx, input }) => ctx.services.passkeys.register(ctx.auth, input, ctx.request)),
  list: authedProcedure.query(({ ctx }) => ctx.services.passkeys.list(ctx.auth.userId)),
  rename: authedProcedure.input(renamePasskeyInput).mutation(({ ctx, input }) => ctx.services.passkeys.rename(ctx.auth.userId, input)),
  remove: authedProcedure.input(removePasskeyInput).mutation(async ({ ctx, input }) => {
    await ctx.services.passkeys.remove(ctx.auth, input.id, ctx.request);
    return { success: true as const };
  }),
  authenticationOptions: publicProcedure
    .input(authenticationOptionsInput)
    .mutation(({ ctx, input }) => ctx.services.passkeys.authenticationOptions(input, ctx.request)),
  authenticate: publicProcedure
    .input(authenticatePasskeyInput)
    .mutation(({ ctx, input }) => ctx.services.signIn.signInWithPasskey(input, ctx.request)),
});

/** External identities linked to the signed-in account (OpenID Connect providers, GitHub). */
const identitiesRouter = router({
  list: authedProcedure.query(({ ctx }) => ctx.services.identities.list(ctx.auth.userId)),
  linkStart: authedProcedure
    .input(linkStartInput)
    .mutation(({ ctx, input }) => ctx.services.identities.linkStart(ctx.auth, input, ctx.request)),
  /** The code of a link flow's callback (`#link_code=`): links the identity to the signed-in user who started the flow. */
  linkComplete: authedProcedure
    .input(linkCompleteInput)
    .mutation(({ ctx, input }) => ctx.services.identities.linkComplete(ctx.auth, input.code, ctx.request)),
  unlink: authedProcedure.input(unlinkInput).mutation(async ({ ctx, input }) => {
    await ctx.services.identities.unlink(ctx.auth, input.identityId, ctx.request);
    return { success: true as const };
  }),
});

export const authRouter = router({
  register: publicProcedure.input(registerInput).mutation(({ ctx, input }) => ctx.services.signIn.register(input, ctx.request)),
  login: publicProcedure.input(loginInput).mutation(({ ctx, input }) => ctx.services.signIn.login(input, ctx.request)),
  // The hottest public call: the lean handler runs it without tRPC's middleware chain (trpc/init.ts).
  refresh: directMutation(refreshInput, (ctx, input) => ctx.services.sessions.refresh(input.refreshToken, ctx.request)),
  logout: publicProcedure.input(refreshInput).mutation(async ({ ctx, input }) => {
    await ctx.services.sessions.logout(input.refreshToken, ctx.request);
    return { success: true as const };
  }),
  reauthenticate: authedProcedure
    .input(reauthenticateInput)
    .mutation(({ ctx, input }) => ctx.services.accounts.reauthenticate(ctx.auth, input, ctx.request)),
  logoutAll: authedProcedure.mutation(({ ctx }) => ctx.services.sessions.revokeAll(ctx.auth, ctx.request)),
  activity: authedProcedure
    .input(activityInput)
    .query(({ ctx, input }) => ctx.services.audit.activity(ctx.auth.userId, ctx.auth.sessionId, input ?? {})),
  sessions: authedProcedure.query(({ ctx }) => ctx.services.sessions.list(ctx.auth.userId, ctx.auth.sessionId)),
  revokeSession: authedProcedure.input(revokeSessionInput).mutation(async ({ ctx, input }) => {
    await ctx.services.sessions.revokeOwn(ctx.auth, input.sessionId, ctx.request);
    return { success: true as const };
  }),
  verifyEmail: publicProcedure.input(tokenInput).mutation(({ ctx, input }) => ctx.services.accounts.verifyEmail(input.token, ctx.request)),
  resendVerification: authedProcedure.mutation(async ({ ctx }) => {
    await ctx.services.accounts.resendVerification(ctx.auth.userId);
    return { success: true as const };
  }),
  forgotPassword: publicProcedure
    .input(forgotPasswordInput)
    .mutation(({ ctx, input }) => ctx.services.accounts.forgotPassword(input.email, ctx.request)),
  resetPassword: publicProcedure.input(resetPasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.services.accounts.resetPassword(input.token, input.newPassword, ctx.request);
    return { success: true as const };
  }),
  mfa: mfaRouter,
  passkeys: passkeysRouter,
  /** The configured external sign-in providers, for a sign-in page. */
  providers: publicProcedure.query(({ ctx }) => ctx.services.identities.providers()),
  /** The one-time code of an external sign-in's callback (`#code=`), for its session. */
  exchangeCode: publicProcedure
    .input(exchangeCodeInput)
    .mutation(({ ctx, input }) => ctx.services.identities.exchangeCode(input.code, ctx.request)),
  identities: identitiesRouter,
});
