import { z } from 'zod';
import { pageSizeSchema } from '../audit/audit.schemas.js';

export const ROLES = ['user', 'admin'] as const;

export const userIdInput = z.object({ userId: z.uuid() });
export const usersListInput = z
  .object({
    /** A prefix of the email or the username. */
    query: z.string().max(254).optional(),
    /** The `nextCursor` of the previous page (an address, as lower-cased). */
    cursor: z.string().min(1).max(320).optional(),
    limit: pageSizeSchema.optional(),
  })
  .optional();
export const disableInput = userIdInput.extend({ reason: z.string().trim().min(1).max(500) });
export const setRoleInput = userIdInput.extend({ role: z.enum(ROLES) });
