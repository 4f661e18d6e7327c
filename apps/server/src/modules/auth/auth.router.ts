import { z } from 'zod';
import { authedProcedure, publicProcedure, router } from '../../trpc/init.js';
import { forgotPasswordInput, loginInput, refreshInput, registerInput, resetPasswordInput, tokenInput } from './auth.schemas.js';

export const authRouter = router({
  register: publicProcedure.input(registerInput).mutation(({ ctx, input }) => ctx.services.auth.register(input, ctx.request)),
  login: publicProcedure.input(loginInput).mutation(({ ctx, input }) => ctx.services.auth.login(input, ctx.request)),
  refresh: publicProcedure.input(refreshInput).mutation(({ ctx, input }) => ctx.services.auth.refresh(input.refreshToken, ctx.request)),
  logout: publicProcedure.input(refreshInput).mutation(async ({ ctx, input }) => {
    await ctx.services.auth.logout(input.refreshToken);
    return { success: true as const };
  }),
  logoutAll: authedProcedure.mutation(({ ctx }) => ctx.services.sessions.revokeAll(ctx.auth.userId)),
  sessions: authedProcedure.query(({ ctx }) => ctx.services.sessions.list(ctx.auth.userId, ctx.auth.sessionId)),
  revokeSession: authedProcedure.input(z.object({ sessionId: z.uuid({ error: 'is invalid' }) })).mutation(async ({ ctx, input }) => {
    await ctx.services.sessions.revoke(ctx.auth.userId, input.sessionId);
    return { success: true as const };
  }),
  verifyEmail: publicProcedure.input(tokenInput).mutation(({ ctx, input }) => ctx.services.accounts.verifyEmail(input.token)),
  resendVerification: authedProcedure.mutation(async ({ ctx }) => {
    await ctx.services.accounts.resendVerification(ctx.auth.userId);
    return { success: true as const };
  }),
  forgotPassword: publicProcedure
    .input(forgotPasswordInput)
    .mutation(({ ctx, input }) => ctx.services.accounts.forgotPassword(input.email, ctx.request)),
  resetPassword: publicProcedure.input(resetPasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.services.accounts.resetPassword(input.token, input.newPassword);
    return { success: true as const };
  }),
});
