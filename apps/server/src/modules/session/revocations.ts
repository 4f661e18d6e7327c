/**
 * Each instance's list of revoked sessions, so that access tokens of ended sessions are refused
 * without a database round trip on every request.
 *
 * The instance that revokes a session adds it at once; every other instance sharing the
 * PostgreSQL database learns of it through LISTEN/NOTIFY, by `@latchkey/protocol`'s follower (the
 * same one `@latchkey/verify` runs in other services). When the notification connection drops,
 * the list is no longer trusted and callers fall back to asking the database, until the listener
 * has reconnected, listened again and reloaded what was revoked meanwhile. A connection that goes
 * deaf without an error is caught two ways: TCP keepalive on the listening connection, and the
 * follower's heartbeat (NOTIFY to itself every REVOCATION_HEARTBEAT; not heard back within twice
 * that, the list is not trusted either).
 */
import { randomBytes } from 'node:crypto';
import { followRevocations, type ListenerConnection, REVOCATION_CHANNEL, revocationPayloads } from '@latchkey/protocol';
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
  /** The listening connection in use, if any (tests: make it deaf). */
  readonly listenerConnection: ListenerConnection | undefined;
  close(): Promise<void>;
}

/** TCP keepalive on the listening connection: a peer gone silently is noticed by the OS, not never. */
export const LISTENER_KEEPALIVE_DELAY_MS = 5_000;

/** A LISTEN connection to `url`: keepalive on, named as pg_stat_activity shows it. */
export function listenerClient(url: string, applicationName: string): pg.Client {
  return new pg.Client({
    connectionString: url,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: LISTENER_KEEPALIVE_DELAY_MS,
  });
}

/**
 * Checks that a LISTEN on `listenUrl` hears a NOTIFY sent through the application's pool (`db`),
 * as the revocations are; a transaction-mode pooler (PgBouncer, Supabase's pooler) fails this.
 * Throws one line naming DATABASE_LISTEN_URL when it does not work within `timeoutMs`.
 */
export async function probeListen(db: Db, listenUrl: string, setting: string, timeoutMs = 3_000): Promise<void> {
  const channel = `latchkey_listen_probe_${randomBytes(6).toString('hex')}`;
  const client = listenerClient(listenUrl, `${LISTENER_APPLICATION_NAME}:probe`);
  client.on('error', () => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const heard = new Promise<void>((resolve) => {
      client.on('notification', (message) => {
        if (message.channel === channel) resolve();
      });
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no notification within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([
      (async () => {
        await client.connect();
        await client.query(`LISTEN ${channel}`);
        // Through the pool, not this connection: PostgreSQL delivers a session's own NOTIFY to itself.
        await sql`select pg_notify(${channel}, 'probe')`.execute(db);
        await heard;
      })(),
      timeout,
    ]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `LISTEN/NOTIFY does not work on ${setting} (${reason}); revocations would go unheard. If DATABASE_URL is a transaction-mode pooler, set DATABASE_LISTEN_URL to a direct (session-mode) connection`,
    );
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => undefined);
  }
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
  /** How often the listener proves it still hears (REVOCATION_HEARTBEAT); default 5 s. */
  heartbeatMs?: number | undefined;
  /** The listening connection for each attempt (default: keepalive pg.Client on postgresUrl); tests wrap it. */
  connection?: ((url: string, applicationName: string) => ListenerConnection) | undefined;
}

export function createRevocations(options: Options): Revocations {
  const { db, clock, logger, retainSeconds, postgresUrl, heartbeatMs } = options;
  const open = options.connection ?? listenerClient;
  const listenerName = `${LISTENER_APPLICATION_NAME}:${randomBytes(4).toString('hex')}`;
  const follower = followRevocations({
    connection: postgresUrl === undefined ? undefined : () => open(postgresUrl, listenerName),
    heartbeatMs,
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
    onDeaf() {
      logger.warn('revocation listener stopped hearing its own heartbeat; using the database until it hears again');
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
    get listenerConnection() {
      return follower.connection;
    },
    close: () => follower.close(),
  };
}
