/**
 * Each instance's list of revoked sessions, so that access tokens of ended sessions are refused
 * without a database round trip on every request.
 *
 * The instance that revokes a session adds it at once; every other instance sharing the
 * PostgreSQL database learns of it through LISTEN/NOTIFY, by `@latchkey/protocol`'s follower (the
 * same one `@latchkey/verify` runs in other services). When the notification connection drops,
 * the list is no longer trusted and callers fall back to asking the database, until the listener
 * has reconnected, listened again and reloaded what was revoked meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { followRevocations, REVOCATION_CHANNEL, revocationPayloads } from '@latchkey/protocol';
import { sql } from 'kysely';
import pg from 'pg';
import type { Db } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';

export { REVOCATION_CHANNEL } from '@latchkey/protocol';
export const LISTENER_APPLICATION_NAME = 'latchkey-revocations';

export interface Revocations {
  isRevoked(sessionId: string): boolean;
  /** False while the list may be missing revocations (listener down or not yet synchronised). */
  readonly trusted: boolean;
  /** Records sessions this instance has just revoked (after the transaction committed). */
  add(sessionIds: readonly string[]): void;
  /** Resolves once the list is trusted, or after the timeout. */
  ready(timeoutMs?: number): Promise<boolean>;
  /** The application_name of this instance's listening connection, as pg_stat_activity shows it. */
  readonly listenerName: string;
  close(): Promise<void>;
}

/** Tells every instance listening on the database; call inside the revoking transaction. */
export async function announceRevoked(db: Db, sessionIds: readonly string[]): Promise<void> {
  for (const payload of revocationPayloads(sessionIds)) {
    await sql`select pg_notify(${REVOCATION_CHANNEL}, ${payload})`.execute(db);
  }
}

interface Options {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** How long after its revocation an access token of the session could still be presented. */
  retainSeconds: number;
  /** The PostgreSQL URL to listen on; without one (PGlite) this process is the only instance. */
  postgresUrl?: string | undefined;
}

export function createRevocations(options: Options): Revocations {
  const { db, clock, logger, retainSeconds, postgresUrl } = options;
  const listenerName = `${LISTENER_APPLICATION_NAME}:${randomBytes(4).toString('hex')}`;
  const follower = followRevocations({
    connection:
      postgresUrl === undefined ? undefined : () => new pg.Client({ connectionString: postgresUrl, application_name: listenerName }),
    // Through the application's own pool, which knows the schema.
    async reload(since) {
      const rows = await db.selectFrom('sessions').select(['id', 'revoked_at']).where('revoked_at', '>', since).execute();
      return rows.flatMap((row) => (row.revoked_at ? [{ id: row.id, revokedAt: row.revoked_at }] : []));
    },
    retainSeconds,
    now: () => clock.now(),
    onLost(reason) {
      logger.warn(
        { err: reason instanceof Error ? reason.message : String(reason) },
        'revocation listener lost; using the database until it is back',
      );
    },
  });
  return {
    isRevoked: (sessionId) => follower.isRevoked(sessionId),
    get trusted() {
      return follower.trusted;
    },
    add: (ids) => follower.add(ids),
    ready: (timeoutMs) => follower.ready(timeoutMs),
    listenerName,
    close: () => follower.close(),
  };
}
