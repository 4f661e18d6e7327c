/** The REST bodies of the admin routes, from the schemas the admin procedures validate with. */
import { z } from 'zod';
import { disableInput, setRoleInput, userCursorSchema, userQuerySchema } from '../../modules/admin/admin.schemas.js';
import type { AdminUser, AdminUserListEntry } from '../../modules/admin/admin.service.js';
import { eventTypeSchema, sinceSchema } from '../../modules/audit/audit.schemas.js';
import type { Page, SecurityEventView } from '../../modules/audit/audit.service.js';
import type { SessionInfo } from '../../modules/session/session.service.js';
import { cursorParam, nextCursorJson, pageSizeParam } from './schemas.js';

const userId = z.uuid().meta({ description: 'The id of the user' });
const iso = (description = 'ISO 8601') => z.string().meta({ description });
const isoOrNull = (description: string) => z.string().nullable().meta({ description });

export const usersListQuery = z.object({
  query: userQuerySchema.optional().meta({ description: 'A prefix of the email or the username' }),
  cursor: userCursorSchema.optional().meta({ description: 'The `next_cursor` of the previous page' }),
  limit: pageSizeParam.optional(),
});
export const userIdQuery = z.object({ user_id: userId });
export const userIdBody = z.object({ user_id: userId });
export const disableBody = z.object({
  user_id: userId,
  reason: disableInput.shape.reason.meta({ description: 'Why (kept in the event)' }),
});
export const setRoleBody = z.object({ user_id: userId, role: setRoleInput.shape.role });
export const eventsQuery = z.object({
  user_id: userId.optional(),
  type: eventTypeSchema.optional(),
  since: z
    .string()
    .max(40)
    .pipe(z.iso.datetime({ offset: true }))
    .transform((text) => new Date(text))
    .pipe(sinceSchema)
    .optional()
    .meta({ description: 'Only events at or after this time (ISO 8601)' }),
  cursor: cursorParam.optional(),
  limit: pageSizeParam.optional(),
});

export const adminUserJson = z.object({
  id: z.string(),
  email: z.string(),
  username: z.string(),
  role: z.enum(['user', 'admin']),
  email_verified: z.boolean(),
  disabled_at: isoOrNull('When the account was disabled; null when it is not'),
  created_at: iso(),
});
const adminUserListEntryJson = adminUserJson.extend({
  last_sign_in_at: isoOrNull('The last login (or registration) the log remembers'),
  session_count: z.number().int().meta({ description: 'Live sessions' }),
});
const eventJson = z.object({
  id: z.string(),
  type: z.string(),
  user_id: z.string().nullable(),
  actor_id: z.string().nullable(),
  actor_kind: z.enum(['user', 'admin', 'system']),
  session_id: z.string().nullable(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  request_id: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  created_at: iso(),
});
const adminSessionJson = z.object({
  id: z.string(),
  created_at: iso(),
  last_used_at: iso(),
  expires_at: iso(),
  user_agent: z.string().nullable(),
  ip: z.string().nullable(),
});

export const adminUserResponse = z.object({ user: adminUserJson });
export const usersListResponse = z.object({ users: z.array(adminUserListEntryJson), next_cursor: nextCursorJson });
export const adminUserDetailResponse = z.object({
  user: adminUserJson,
  sessions: z.array(adminSessionJson),
  events: z.array(eventJson).meta({ description: 'The last 50, newest first' }),
});
export const eventsResponse = z.object({ events: z.array(eventJson), next_cursor: nextCursorJson });
export const revokedResponse = z.object({ revoked: z.number().int() });

const isoOf = (date: Date | null) => (date === null ? null : date.toISOString());

export function toAdminUserJson(user: AdminUser): z.input<typeof adminUserJson> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    role: user.role,
    email_verified: user.emailVerified,
    disabled_at: isoOf(user.disabledAt),
    created_at: user.createdAt.toISOString(),
  };
}

export function toUsersListJson(page: { users: AdminUserListEntry[]; nextCursor: string | null }): z.input<typeof usersListResponse> {
  return {
    users: page.users.map((user) => ({
      ...toAdminUserJson(user),
      last_sign_in_at: isoOf(user.lastSignInAt),
      session_count: user.sessionCount,
    })),
    next_cursor: page.nextCursor,
  };
}

function toEventJson(event: SecurityEventView): z.input<typeof eventJson> {
  return {
    id: event.id,
    type: event.type,
    user_id: event.userId,
    actor_id: event.actorId,
    actor_kind: event.actorKind,
    session_id: event.sessionId,
    ip: event.ip,
    user_agent: event.userAgent,
    request_id: event.requestId,
    details: event.details,
    created_at: event.createdAt.toISOString(),
  };
}

export function toEventsJson(page: Page<SecurityEventView>): z.input<typeof eventsResponse> {
  return { events: page.events.map(toEventJson), next_cursor: page.nextCursor };
}

export function toAdminUserDetailJson(detail: {
  user: AdminUser;
  sessions: Omit<SessionInfo, 'current'>[];
  events: SecurityEventView[];
}): z.input<typeof adminUserDetailResponse> {
  return {
    user: toAdminUserJson(detail.user),
    sessions: detail.sessions.map((session) => ({
      id: session.id,
      created_at: session.createdAt.toISOString(),
      last_used_at: session.lastUsedAt.toISOString(),
      expires_at: session.expiresAt.toISOString(),
      user_agent: session.userAgent,
      ip: session.ip,
    })),
    events: detail.events.map(toEventJson),
  };
}
