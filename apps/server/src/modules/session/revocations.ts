/**
 * Each instance's list of revoked sessions, so that access tokens of ended sessions are refused
 * without a database round trip on every request.
 *
 * The instance that revokes a session adds it at once; every other instance sharing the
 * PostgreSQL database learns of it through LISTEN/NOTIFY (the NOTIFY is sent in the revoking
 * transaction, so it is delivered exactly when the revocation commits). When the notification
 * connection drops, the list is no longer trusted and callers fall back to asking the database,
 * until the listener has reconnected, listened again and reloaded what was revoked meanwhile.
 * Entries are kept only as long as an access token can outlive its session's revocation.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Db } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';

export const REVOCATION_CHANNEL = 'latchkey_revocations';
export const LISTENER_APPLICATION_NAME = 'latchkey-revocations';
/** NOTIFY payloads must stay under 8000 bytes: 36-character ids, comma-separated. */
const IDS_PER_NOTIFICATION = 200;

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
  for (let i = 0; i < sessionIds.length; i += IDS_PER_NOTIFICATION) {
    const payload = sessionIds.slice(i, i + IDS_PER_NOTIFICATION).join(',');
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
  const revoked = new Map<string, number>();
  let trusted = postgresUrl === undefined;
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = 100;
  const waiters = new Set<() => void>();
  const listenerName = `${LISTENER_APPLICATION_NAME}:${randomBytes(4).toString('hex')}`;

  const keepUntil = (revokedAt: Date) => revokedAt.getTime() + retainSeconds * 1000;
  const prune = () => {
    const now = clock.now().getTime();
    for (const [id, until] of revoked) if (until <= now) revoked.delete(id);
  };
  const pruner = setInterval(prune, 60_000);
  pruner.unref();

  const add = (ids: readonly string[], at: Date = clock.now()) => {
    for (const id of ids) revoked.set(id, keepUntil(at));
  };

  const setTrusted = (value: boolean) => {
    trusted = value;
    if (value) for (const wake of waiters) wake();
  };

  async function resync(): Promise<void> {
    const since = new Date(clock.now().getTime() - retainSeconds * 1000);
    const rows = await db.selectFrom('sessions').select(['id', 'revoked_at']).where('revoked_at', '>', since).execute();
    for (const row of rows) if (row.revoked_at) add([row.id], row.revoked_at);
  }

  async function connect(): Promise<void> {
    if (closed || postgresUrl === undefined) return;
    const next = new pg.Client({ connectionString: postgresUrl, application_name: listenerName });
    client = next;
    let failed = false;
    const lost = (reason: unknown) => {
      if (failed) return;
      failed = true;
      setTrusted(false);
      next.end().catch(() => undefined);
      if (closed) return;
      logger.warn(
        { err: reason instanceof Error ? reason.message : String(reason) },
        'revocation listener lost; using the database until it is back',
      );
      retryTimer = setTimeout(() => void connect(), retryDelayMs);
      retryDelayMs = Math.min(retryDelayMs * 2, 5_000);
    };
    next.on('error', lost);
    next.on('end', () => lost(new Error('connection ended')));
    next.on('notification', (message) => {
      if (message.channel === REVOCATION_CHANNEL && message.payload) add(message.payload.split(','));
    });
    try {
      await next.connect();
      // Listen first, then reload: a revocation committed in between is caught by one or the other.
      await next.query(`LISTEN ${REVOCATION_CHANNEL}`);
      await resync();
      if (failed || closed) return;
      retryDelayMs = 100;
      setTrusted(true);
    } catch (error) {
      lost(error);
    }
  }

  void connect();

  return {
    isRevoked(sessionId) {
      const until = revoked.get(sessionId);
      return until !== undefined && until > clock.now().getTime();
    },
    get trusted() {
      return trusted;
    },
    listenerName,
    add: (ids) => add(ids),
    ready(timeoutMs = 5_000) {
      if (trusted) return Promise.resolve(true);
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
      clearInterval(pruner);
      clearTimeout(retryTimer);
      for (const wake of waiters) wake();
      await client?.end().catch(() => undefined);
    },
  };
}
