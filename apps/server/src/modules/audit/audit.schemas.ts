import { z } from 'zod';
import { EVENT_TYPE_NAMES } from './security-events.js';

export const MAX_PAGE_SIZE = 100;

/** An event id as a cursor: the keyset of every listing of the log. */
export const eventCursorSchema = z
  .string()
  .max(20)
  .regex(/^\d{1,19}$/, 'is invalid');
export const pageSizeSchema = z.number().int().min(1).max(MAX_PAGE_SIZE);

export const activityInput = z.object({ cursor: eventCursorSchema.optional(), limit: pageSizeSchema.optional() }).optional();

export const eventTypeSchema = z.enum(EVENT_TYPE_NAMES);

export const eventsListInput = z
  .object({
    userId: z.uuid().optional(),
    type: eventTypeSchema.optional(),
    since: z.date().optional(),
    cursor: eventCursorSchema.optional(),
    limit: pageSizeSchema.optional(),
  })
  .optional();
