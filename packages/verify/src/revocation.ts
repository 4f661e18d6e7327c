/**
 * Follows the sessions the Latchkey server revokes, the way its own instances do, so that a
 * service refuses the access tokens of an ended session within a second instead of until they
 * expire.
 *
 * The revoking transaction on the server sends `NOTIFY latchkey_revocations` with the session ids,
 * comma-separated; it is delivered exactly when the revocation commits. On every (re)connection
 * the listener LISTENs first and then reloads the sessions revoked within `retainSeconds`, so a
 * revocation committed in between is caught by one or the other. Until that is done, and whenever
 * the connection is lost, the list is not trusted and each token's session is looked up in the
 * database instead. A small equivalent of the server's `src/db/revocations.ts`: this package must
 * not depend on server code.
 */
import type pg from 'pg';

/** The server's channel and payload format: part of the contract between the two. */
export const REVOCATION_CHANNEL = 'latchkey_revocations';

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
}

export const DEFAULT_RETAIN_SECONDS = 15 * 60 + 60;

export interface RevocationFollower {
  /** False while the list may be missing revocations (listener down or not yet synchronised). */
  readonly trusted: boolean;
  readonly applicationName: string;
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

  /** Session id -> when (ms since epoch) its entry may be forgotten. */
  const revoked = new Map<string, number>();
  let trusted = false;
  let closed = false;
  let listener: pg.Client | undefined;
  let pool: pg.Pool | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = 100;
  const waiters = new Set<() => void>();
  /** Concurrent requests with tokens of one session share one database lookup while the list is not trusted. */
  const lookups = new Map<string, Promise<boolean>>();

  const add = (ids: readonly string[], at: Date) => {
    const until = at.getTime() + retainSeconds * 1000;
    for (const id of ids) if (id) revoked.set(id, Math.max(until, revoked.get(id) ?? 0));
  };
  const prune = () => {
    const at = now().getTime();
    for (const [id, until] of revoked) if (until <= at) revoked.delete(id);
  };
  const pruner = setInterval(prune, 60_000);
  pruner.unref();

  const setTrusted = (value: boolean) => {
    trusted = value;
    if (value) for (const wake of waiters) wake();
  };

  async function connect(): Promise<void> {
    const { Client } = await loadPg();
    if (closed) return;
    const next = new Client({ connectionString: postgresUrl, application_name: applicationName });
    listener = next;
    let failed = false;
    const lost = () => {
      if (failed) return;
      failed = true;
      setTrusted(false);
      next.end().catch(() => undefined);
      if (closed) return;
      retryTimer = setTimeout(() => void connect().catch(() => undefined), retryDelayMs);
      retryDelayMs = Math.min(retryDelayMs * 2, 5_000);
    };
    next.on('error', lost);
    next.on('end', lost);
    next.on('notification', (message) => {
      if (message.channel === REVOCATION_CHANNEL && message.payload) add(message.payload.split(','), now());
    });
    try {
      await next.connect();
      // Listen first, then reload: a revocation committed in between is caught by one or the other.
      await next.query(`LISTEN ${REVOCATION_CHANNEL}`);
      const since = new Date(now().getTime() - retainSeconds * 1000);
      const rows = await next.query<{ id: string; revoked_at: Date }>('select id, revoked_at from sessions where revoked_at > $1', [since]);
      for (const row of rows.rows) add([row.id], row.revoked_at);
      if (failed || closed) return;
      retryDelayMs = 100;
      setTrusted(true);
    } catch {
      lost();
    }
  }

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

  void connect().catch(() => undefined);

  return {
    get trusted() {
      return trusted;
    },
    applicationName,
    async isRevoked(sessionId) {
      const until = revoked.get(sessionId);
      if (until !== undefined && until > now().getTime()) return true;
      if (trusted) return false;
      // While the list may be missing something, ask the database; a failure rejects (fails closed).
      let lookup = lookups.get(sessionId);
      if (lookup === undefined) {
        lookup = isLiveInDatabase(sessionId).finally(() => lookups.delete(sessionId));
        lookups.set(sessionId, lookup);
      }
      return !(await lookup);
    },
    ready(timeoutMs = 5_000) {
      if (trusted || closed) return Promise.resolve(trusted);
      return new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(trusted);
        };
        const timer = setTimeout(wake, timeoutMs);
        waiters.add(wake);
      });
    },
    async close() {
      closed = true;
      setTrusted(false);
      clearInterval(pruner);
      clearTimeout(retryTimer);
      for (const wake of waiters) wake();
      await Promise.all([listener?.end().catch(() => undefined), pool?.end().catch(() => undefined)]);
    },
  };
}
