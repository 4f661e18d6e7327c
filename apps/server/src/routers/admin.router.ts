import { disableInput, setRoleInput, userIdInput, usersListInput } from '../modules/admin/admin.schemas.js';
import { eventsListInput } from '../modules/audit/audit.schemas.js';
import { adminProcedure, router } from '../trpc/init.js';

export const adminRouter = router({
  users: router({
    list: adminProcedure.input(usersListInput).query(({ ctx, input }) => ctx.services.admin.listUsers(input ?? {})),
    get: adminProcedure.input(userIdInput).query(({ ctx, input }) => ctx.services.admin.getUser(input.userId)),
    disable: adminProcedure.input(disableInput).mutation(({ ctx, input }) => ctx.services.admin.disable(ctx.auth, input, ctx.request)),
    enable: adminProcedure.input(userIdInput).mutation(({ ctx, input }) => ctx.services.admin.enable(ctx.auth, input, ctx.request)),
    revokeSessions: adminProcedure
      .input(userIdInput)
      .mutation(({ ctx, input }) => ctx.services.admin.revokeSessions(ctx.auth, input, ctx.request)),
    setRole: adminProcedure.input(setRoleInput).mutation(({ ctx, input }) => ctx.services.admin.setRole(ctx.auth, input, ctx.request)),
  }),
  events: router({
    list: adminProcedure.input(eventsListInput).query(({ ctx, input }) => ctx.services.admin.listEvents(input ?? {})),
  }),
});
