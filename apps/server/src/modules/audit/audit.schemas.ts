import { z } from 'zod';
import { EVENT_TYPE_NAMES } from './security-events.js';

export const MAX_PAGE_SIZE = 100;

/** An event id as a cursor: the keyset of every listing of the log. */
export const eventCursorSchema = z
  .string()
  .max(20)
  .regex(/^\d{1,19}$/, 'is invalid')
  // Ids are bigint: a larger number would reach the database as an out-of-range error (a 500).
  // (Refinements run after a failed regex too: BigInt only sees digits.)
  .refine((text) => !/^\d{1,19}$/.test(text) || BigInt(text) <= 9_223_372_036_854_775_807n, 'is invalid');

/** The years PostgreSQL's timestamptz takes without an out-of-range error. */
export const EARLIEST_SINCE = new Date('0001-01-01T00:00:00Z');
export const LATEST_SINCE = new Date('9999-12-31T23:59:59Z');
export const sinceSchema = z.date().min(EARLIEST_SINCE, 'is out of range').max(LATEST_SINCE, 'is out of range');
export const pageSizeSchema = z.number().int().min(1).max(MAX_PAGE_SIZE);

export const activityInput = z.object({ cursor: eventCursorSchema.optional(), limit: pageSizeSchema.optional() }).optional();

export const eventTypeSchema = z.enum(EVENT_TYPE_NAMES);

export const eventsListInput = z
  .object({
    userId: z.uuid().optional(),
    type: eventTypeSchema.optional(),
    since: sinceSchema.optional(),
    cursor: eventCursorSchema.optional(),
    limit: pageSizeSchema.optional(),
  })
  .optional();
