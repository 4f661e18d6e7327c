import { changePasswordInput, updateAccountInput } from '../modules/account/account.schemas.js';
import { authedProcedure, router, sessionJoinedProcedure } from '../trpc/init.js';

export const userRouter = router({
  me: sessionJoinedProcedure.query(({ ctx }) => ctx.services.users.meInSession(ctx.auth.userId, ctx.auth.sessionId)),
  update: authedProcedure
    .input(updateAccountInput)
    .mutation(({ ctx, input }) => ctx.services.accounts.update(ctx.auth, input, ctx.request)),
  changePassword: authedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.services.accounts.update(ctx.auth, { newPassword: input.newPassword, currentPassword: input.currentPassword }, ctx.request);
    return { success: true as const };
  }),
});
