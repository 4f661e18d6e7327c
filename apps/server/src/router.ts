import { adminRouter } from './routers/admin.router.js';
import { authRouter } from './routers/auth.router.js';
import { userRouter } from './routers/user.router.js';
import { createCallerFactory, router } from './trpc/init.js';

export const appRouter = router({ auth: authRouter, user: userRouter, admin: adminRouter });

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
