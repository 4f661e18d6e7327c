import { z } from 'zod';
import { hasNoNul, NUL_MESSAGE } from '../../lib/errors.js';
import { pageSizeSchema } from '../audit/audit.schemas.js';

export const ROLES = ['user', 'admin'] as const;

/** The `nextCursor` of a page of users: an address, as lower-cased. */
export const userCursorSchema = z.string().min(1).max(320).refine(hasNoNul, NUL_MESSAGE);
export const userQuerySchema = z.string().max(254).refine(hasNoNul, NUL_MESSAGE);

export const userIdInput = z.object({ userId: z.uuid() });
export const usersListInput = z
  .object({
    /** A prefix of the email or the username. */
    query: userQuerySchema.optional(),
    cursor: userCursorSchema.optional(),
    limit: pageSizeSchema.optional(),
  })
  .optional();
export const disableInput = userIdInput.extend({
  reason: z.string().max(1_000).refine(hasNoNul, { error: NUL_MESSAGE, abort: true }).trim().min(1).max(500),
});
export const setRoleInput = userIdInput.extend({ role: z.enum(ROLES) });
