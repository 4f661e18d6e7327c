import { changePasswordInput } from '../modules/account/account.schemas.js';
import { updateInput } from '../modules/user/user.schemas.js';
import { authedProcedure, router, sessionJoinedProcedure } from '../trpc/init.js';

export const userRouter = router({
  me: sessionJoinedProcedure.query(({ ctx }) => ctx.services.users.meInSession(ctx.auth.userId, ctx.auth.sessionId)),
  update: authedProcedure.input(updateInput).mutation(({ ctx, input }) => ctx.services.accounts.update(ctx.auth.userId, input)),
  changePassword: authedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.services.accounts.changePassword(ctx.auth.userId, ctx.auth.sessionId, input);
    return { success: true as const };
  }),
});
