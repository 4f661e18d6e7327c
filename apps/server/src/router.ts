import { authRouter } from './modules/auth/auth.router.js';
import { userRouter } from './modules/user/user.router.js';
import { createCallerFactory, router } from './trpc/init.js';

export const appRouter = router({ auth: authRouter, user: userRouter });

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
