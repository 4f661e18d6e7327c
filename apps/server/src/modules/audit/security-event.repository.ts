import type { Db } from '../../db/database.js';
import type { NewSecurityEventRow, SecurityEventRow } from '../../db/schema.js';

/** The only write of the log besides retention: it is append-only. */
export async function insertEvent(db: Db, row: NewSecurityEventRow): Promise<void> {
  await db.insertInto('security_events').values(row).execute();
}

export interface EventFilter {
  userId?: string | undefined;
  type?: string | undefined;
  since?: Date | undefined;
  /** Keyset: only events older than this one (ids grow with insertion). */
  beforeId?: string | undefined;
  limit: number;
}

/** Newest first. */
export async function findEvents(db: Db, filter: EventFilter): Promise<SecurityEventRow[]> {
  let query = db.selectFrom('security_events').selectAll();
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  return query.orderBy('id', 'desc').limit(filter.limit).execute();
}

/**
 * Deletes up to `batch` events created before `before`, oldest first: one short statement, so
 * that retention never holds a long lock on the log. Returns how many it deleted.
 */
export async function deleteEventBatch(db: Db, before: Date, batch: number): Promise<number> {
  const result = await db
    .deleteFrom('security_events')
    .where('id', 'in', (eb) => eb.selectFrom('security_events').select('id').where('created_at', '<', before).orderBy('id').limit(batch))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The latest event of these types for each of these users. */
export async function latestEventTimes(db: Db, userIds: readonly string[], types: readonly string[]): Promise<Map<string, Date>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('security_events')
    .select(['user_id', (eb) => eb.fn.max('created_at').as('at')])
    .where('user_id', 'in', userIds)
    .where('type', 'in', types)
    .groupBy('user_id')
    .execute();
  const times = new Map<string, Date>();
  for (const row of rows) if (row.user_id !== null && row.at !== null) times.set(row.user_id, new Date(row.at));
  return times;
}
