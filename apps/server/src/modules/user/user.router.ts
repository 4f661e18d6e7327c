import { authedProcedure, router } from '../../trpc/init.js';
import { changePasswordInput, updateInput } from './user.schemas.js';

export const userRouter = router({
  me: authedProcedure.query(({ ctx }) => ctx.services.users.me(ctx.auth.userId)),
  update: authedProcedure.input(updateInput).mutation(({ ctx, input }) => ctx.services.users.update(ctx.auth.userId, input)),
  changePassword: authedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.services.users.changePassword(ctx.auth.userId, ctx.auth.sessionId, input);
    return { success: true as const };
  }),
});
