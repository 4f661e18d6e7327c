/**
 * The security event log: `record` writes an event inside the transaction of the change it
 * records (a rolled-back change leaves none, a committed one always has its event); the readers
 * serve a user's own activity and the admins' view. Append-only: only retention deletes.
 */
import type { Db } from '../../db/database.js';
import type { SecurityEventRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { deleteEventBatch, findEvents, insertEvent, latestEventTimes } from './security-event.repository.js';
import type { ActorKind, SecurityEvent } from './security-events.js';

export type { ActorKind, EventClient, LoginFailure, Role, SecurityEvent, SecurityEventType } from './security-events.js';
export { EVENT_TYPE_NAMES, SECURITY_EVENT_TYPES } from './security-events.js';

const USER_AGENT_MAX = 512;
const REQUEST_ID_MAX = 64;

/** An event as a user sees it in their own activity. */
export interface ActivityEntry {
  id: string;
  type: string;
  createdAt: Date;
  ip: string | null;
  userAgent: string | null;
  /** Whether the event belongs to the session asking. */
  current: boolean;
}

/** An event as an admin sees it. */
export interface SecurityEventView {
  id: string;
  type: string;
  userId: string | null;
  actorId: string | null;
  actorKind: ActorKind;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
}

export interface Page<T> {
  events: T[];
  /** Pass back as `cursor` for the next (older) page; null when this one is the last. */
  nextCursor: string | null;
}

export interface PageRequest {
  cursor?: string | undefined;
  limit?: number | undefined;
}

export const DEFAULT_PAGE_SIZE = 20;

function eventView(row: SecurityEventRow): SecurityEventView {
  return {
    id: String(row.id),
    type: row.type,
    userId: row.user_id,
    actorId: row.actor_id,
    actorKind: row.actor_kind,
    sessionId: row.session_id,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    details: row.details,
    createdAt: row.created_at,
  };
}

/** One row more than the page tells whether there is a next one. */
function page<T>(rows: SecurityEventRow[], limit: number, view: (row: SecurityEventRow) => T): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { events: items.map(view), nextCursor: rows.length > limit && last ? String(last.id) : null };
}

export function createAuditService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  /** Writes the event with `trx`: inside the transaction of its change, or alone (`db`) when the change has none. */
  async function record(trx: Db, event: SecurityEvent): Promise<void> {
    const actor = event.actor ?? { kind: 'user', id: event.userId };
    await insertEvent(trx, {
      user_id: event.userId,
      actor_id: actor.id,
      actor_kind: actor.kind,
      type: event.type,
      ip: event.client?.ip ?? null,
      user_agent: event.client?.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
      session_id: event.sessionId ?? null,
      request_id: event.client?.requestId?.slice(0, REQUEST_ID_MAX) ?? null,
      details: JSON.stringify(event.details ?? {}),
      created_at: clock.now(),
    });
  }

  return {
    record,

    /** The user's own events, newest first (auth.activity). */
    async activity(userId: string, currentSessionId: string, request: PageRequest = {}): Promise<Page<ActivityEntry>> {
      const limit = request.limit ?? DEFAULT_PAGE_SIZE;
      const rows = await findEvents(db, { userId, beforeId: request.cursor, limit: limit + 1 });
      // Where an admin or the system acted, the address and browser are the admin's: not the user's to see.
      const own = (row: SecurityEventRow) => row.actor_kind === 'user';
      return page(rows, limit, (row) => ({
        id: String(row.id),
        type: row.type,
        createdAt: row.created_at,
        ip: own(row) ? row.ip : null,
        userAgent: own(row) ? row.user_agent : null,
        current: row.session_id !== null && row.session_id === currentSessionId,
      }));
    },

    /** When each of these users last signed in (a login, or the registration that signed them in), as the log remembers. */
    lastSignIns(userIds: readonly string[]): Promise<Map<string, Date>> {
      return latestEventTimes(db, userIds, ['login.succeeded', 'user.registered']);
    },

    /** Any events, newest first, filtered (admin.events.list, admin.users.get). */
    async list(filter: { userId?: string | undefined; type?: string | undefined; since?: Date | undefined } & PageRequest) {
      const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
      const rows = await findEvents(db, { ...filter, beforeId: filter.cursor, limit: limit + 1 });
      return page(rows, limit, eventView);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

/** How many events one retention statement deletes at most. */
export const RETENTION_BATCH = 1_000;

/**
 * Deletes the events created before `before`, in batches of `batch` (the clean-up job): each is
 * its own short statement, so writers of the log never wait long behind retention.
 */
export async function deleteEventsBefore(db: Db, before: Date, batch = RETENTION_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteEventBatch(db, before, batch);
    total += deleted;
    if (deleted < batch) return total;
  }
}
