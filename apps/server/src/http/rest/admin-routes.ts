/**
 * The admin REST routes (role admin): the same services as the admin.* procedures. The role is
 * checked right after the access token, before the input: a non-admin gets 403 ADMIN_ONLY for any
 * input and learns nothing about the target. The changing routes need a re-authentication within
 * REAUTH_MAX_AGE (403 REAUTHENTICATION_REQUIRED).
 */
import {
  adminUserDetailResponse,
  adminUserResponse,
  disableBody,
  eventsQuery,
  eventsResponse,
  revokedResponse,
  setRoleBody,
  toAdminUserDetailJson,
  toAdminUserJson,
  toEventsJson,
  toUsersListJson,
  userIdBody,
  userIdQuery,
  usersListQuery,
  usersListResponse,
} from './admin-schemas.js';
import { defineRoute, type RestRoute } from './route.js';

const REAUTH = 'Needs a re-authentication (POST /api/auth/reauthenticate) within REAUTH_MAX_AGE.';

export const adminRoutes: readonly RestRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/api/admin/users',
    operationId: 'adminListUsers',
    summary: 'List users',
    description: 'Users by email, optionally those whose email or username starts with `query` (admin.users.list), in pages.',
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'query', name: 'AdminUsersQuery', schema: usersListQuery },
    success: { status: 200, description: 'A page of users', name: 'AdminUsersResponse', schema: usersListResponse },
    errors: [403],
    async handle({ input, ctx }) {
      return toUsersListJson(await ctx.services.admin.listUsers(input));
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/admin/user',
    operationId: 'adminGetUser',
    summary: 'One user',
    description: 'The user, their live sessions and their last 50 security events (admin.users.get).',
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'query', name: 'AdminUserQuery', schema: userIdQuery },
    success: { status: 200, description: 'The user', name: 'AdminUserDetailResponse', schema: adminUserDetailResponse },
    errors: [403, 404],
    async handle({ input, ctx }) {
      return toAdminUserDetailJson(await ctx.services.admin.getUser(input.user_id));
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/admin/user/disable',
    operationId: 'adminDisableUser',
    summary: 'Disable a user',
    description: `Refuses their logins and refreshes and ends every session, on every instance within a second (admin.users.disable). Not oneself. ${REAUTH}`,
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'body', name: 'AdminDisableRequest', schema: disableBody },
    success: { status: 200, description: 'The user, disabled', name: 'AdminUserResponse', schema: adminUserResponse },
    errors: [403, 404],
    async handle({ input, ctx, signedIn }) {
      const user = await ctx.services.admin.disable(signedIn.auth, { userId: input.user_id, reason: input.reason }, ctx.request);
      return { user: toAdminUserJson(user) };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/admin/user/enable',
    operationId: 'adminEnableUser',
    summary: 'Enable a user again',
    description: `Login works again; the sessions ended by the disabling stay ended (admin.users.enable). ${REAUTH}`,
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'body', name: 'AdminUserRequest', schema: userIdBody },
    success: { status: 200, description: 'The user, enabled', name: 'AdminUserResponse', schema: adminUserResponse },
    errors: [403, 404],
    async handle({ input, ctx, signedIn }) {
      return { user: toAdminUserJson(await ctx.services.admin.enable(signedIn.auth, { userId: input.user_id }, ctx.request)) };
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/admin/user/revoke-sessions',
    operationId: 'adminRevokeSessions',
    summary: "End a user's sessions",
    description: `Every session of the user ends; they may sign in again (admin.users.revokeSessions). ${REAUTH}`,
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'body', name: 'AdminUserRequest', schema: userIdBody },
    success: { status: 200, description: 'How many sessions ended', name: 'RevokedResponse', schema: revokedResponse },
    errors: [403, 404],
    async handle({ input, ctx, signedIn }) {
      return ctx.services.admin.revokeSessions(signedIn.auth, { userId: input.user_id }, ctx.request);
    },
  }),

  defineRoute({
    method: 'POST',
    path: '/api/admin/user/role',
    operationId: 'adminSetRole',
    summary: "Change a user's role",
    description: `\`user\` or \`admin\` (admin.users.setRole). An admin cannot demote themself, and the last admin stays one. ${REAUTH}`,
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'body', name: 'AdminSetRoleRequest', schema: setRoleBody },
    success: { status: 200, description: 'The user, with the role', name: 'AdminUserResponse', schema: adminUserResponse },
    errors: [403, 404, 409],
    async handle({ input, ctx, signedIn }) {
      const user = await ctx.services.admin.setRole(signedIn.auth, { userId: input.user_id, role: input.role }, ctx.request);
      return { user: toAdminUserJson(user) };
    },
  }),

  defineRoute({
    method: 'GET',
    path: '/api/admin/events',
    operationId: 'adminListEvents',
    summary: 'Security events',
    description: 'The security event log, newest first, by user, type and time (admin.events.list), in pages.',
    tag: 'admin',
    auth: true,
    admin: true,
    input: { from: 'query', name: 'AdminEventsQuery', schema: eventsQuery },
    success: { status: 200, description: 'A page of events', name: 'AdminEventsResponse', schema: eventsResponse },
    errors: [403],
    async handle({ input, ctx }) {
      const { user_id: userId, ...filter } = input;
      return toEventsJson(await ctx.services.admin.listEvents({ ...filter, userId }));
    },
  }),
];
