import { authedProcedure, router } from '../../trpc/init.js';

export const userRouter = router({
  me: authedProcedure.query(({ ctx }) => ctx.auth.user),
});
