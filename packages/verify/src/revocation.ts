/**
 * Follows the sessions the Latchkey server revokes with the server's own follower
 * (`@latchkey/protocol`), so that a service refuses the access tokens of an ended session within
 * a second instead of until they expire. While the list is not trusted (not yet synchronised, or
 * the connection lost, or deaf: its own heartbeat not heard back within twice `heartbeatMs`), each
 * token's session is looked up in the database instead.
 */
import { DEFAULT_HEARTBEAT_MS, followRevocations as followList, type ListenerConnection, type RevokedSession } from '@latchkey/protocol';
import type pg from 'pg';

/** The server's channel and payload format: part of the contract between the two. */
export { REVOCATION_CHANNEL } from '@latchkey/protocol';

export interface RevocationOptions {
  /**
   * The server's PostgreSQL database. Its schema is found through the URL's `options` parameter as
   * pg reads it (`?options=-c%20search_path%3Dmy_schema`), or the role's default search path.
   */
  postgresUrl: string;
  /**
   * How long after its revocation a session's access tokens can still be presented: the server's
   * ACCESS_TOKEN_TTL plus its clock tolerance. The default matches the server's default (15 min + 60 s);
   * raise it if the server's ACCESS_TOKEN_TTL is longer, or revoked tokens are forgotten too soon.
   */
  retainSeconds?: number;
  /** The listening connection's `application_name`, as pg_stat_activity shows it (unique by default). */
  applicationName?: string;
  /**
   * How often the listener NOTIFYs itself a heartbeat (default 5,000 ms). When its own heartbeat has
   * not come back within twice that, the list is not trusted and sessions are looked up in the database.
   */
  heartbeatMs?: number;
}

export const DEFAULT_RETAIN_SECONDS = 15 * 60 + 60;

export interface RevocationFollower {
  /** False while the list may be missing revocations (listener down or not yet synchronised). */
  readonly trusted: boolean;
  readonly applicationName: string;
  /** The listening connection in use, if any (tests: make it deaf). */
  readonly listenerConnection: ListenerConnection | undefined;
  /** Whether the session has ended; asks the database while the list is not trusted. */
  isRevoked(sessionId: string): Promise<boolean>;
  /** Resolves true once the list is trusted, or false after the timeout or once closed. */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

type PgModule = typeof pg;

/** pg is loaded only when revocation is asked for: a verifier without it opens no connection and needs no driver. */
let pgModule: Promise<PgModule> | undefined;
function loadPg(): Promise<PgModule> {
  pgModule ??= import('pg').then((module) => module.default);
  return pgModule;
}

export function followRevocations(options: RevocationOptions, now: () => Date): RevocationFollower {
  const { postgresUrl } = options;
  const retainSeconds = options.retainSeconds ?? DEFAULT_RETAIN_SECONDS;
  if (!Number.isFinite(retainSeconds) || retainSeconds <= 0) throw new RangeError('revocation.retainSeconds must be a positive number');
  const applicationName = options.applicationName ?? `latchkey-verify:${crypto.randomUUID().slice(0, 8)}`;

  let pool: pg.Pool | undefined;
  /** Concurrent requests with tokens of one session share one database lookup while the list is not trusted. */
  const lookups = new Map<string, Promise<boolean>>();

  const list = followList({
    async connection() {
      const { Client } = await loadPg();
      // TCP keepalive: a peer gone silently (NAT, failover) ends the connection instead of never.
      return new Client({
        connectionString: postgresUrl,
        application_name: applicationName,
        keepAlive: true,
        keepAliveInitialDelayMillis: 5_000,
      });
    },
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    // Through the listening connection: the URL's search path finds the server's schema.
    async reload(since, connection) {
      const result = (await connection.query('select id, revoked_at from sessions where revoked_at > $1', [since])) as pg.QueryResult<{
        id: string;
        revoked_at: Date;
      }>;
      return result.rows.map((row): RevokedSession => ({ id: row.id, revokedAt: row.revoked_at }));
    },
    retainSeconds,
    now,
  });
  let closed = false;

  /** The server's fallback rule: a session counts only while it is neither revoked nor expired. */
  async function isLiveInDatabase(sessionId: string): Promise<boolean> {
    if (closed) throw new Error('the revocation follower is closed');
    if (pool === undefined) {
      const { Pool } = await loadPg();
      if (closed) throw new Error('the revocation follower is closed');
      pool ??= new Pool({
        connectionString: postgresUrl,
        application_name: `${applicationName}:lookup`,
        max: 4,
        connectionTimeoutMillis: 5_000,
        query_timeout: 5_000,
        allowExitOnIdle: true,
      });
      // An idle connection that drops is replaced on the next query; without a listener the error would be thrown.
      pool.on('error', () => undefined);
    }
    const result = await pool.query('select 1 from sessions where id = $1 and revoked_at is null and expires_at > $2', [sessionId, now()]);
    return result.rowCount === 1;
  }

  return {
    get trusted() {
      return list.trusted;
    },
    applicationName,
    get listenerConnection() {
      return list.connection;
    },
    async isRevoked(sessionId) {
      if (list.isRevoked(sessionId)) return true;
      if (list.trusted) return false;
      // While the list may be missing something, ask the database; a failure rejects (fails closed).
      let lookup = lookups.get(sessionId);
      if (lookup === undefined) {
        lookup = isLiveInDatabase(sessionId).finally(() => lookups.delete(sessionId));
        lookups.set(sessionId, lookup);
      }
      return !(await lookup);
    },
    ready: (timeoutMs) => list.ready(timeoutMs),
    async close() {
      closed = true;
      await Promise.all([list.close(), pool?.end().catch(() => undefined)]);
    },
  };
}
