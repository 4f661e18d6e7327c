/**
 * Throttles kept in the database, so that every instance sees the same counts and they survive
 * restarts. Each check is one atomic statement: concurrent requests cannot both slip under a limit.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { type BufferOptions, createBufferedCounter, secondsUntil, type WindowCount } from './buffered-counter.js';

export type Verdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface Limit {
  /** At most this many hits... */
  max: number;
  /** ...per window of this many seconds. */
  windowSeconds: number;
  /** A limit per client address: multiplied by RATE_LIMIT_SCALE (per-account limits never are). */
  perAddress?: boolean;
}

/** Back-off of failed logins per account: free attempts, then doubling waits, never a permanent lock. */
export const LOGIN_BACKOFF = {
  freeFailures: 5,
  firstWaitSeconds: 1,
  maxWaitSeconds: 15 * 60,
  /** After this many consecutive failures every attempt waits the longest, until one succeeds. */
  hardLimit: 100,
  hardLimitWaitSeconds: 60 * 60,
} as const;

export function backoffSeconds(failures: number): number {
  if (failures >= LOGIN_BACKOFF.hardLimit) return LOGIN_BACKOFF.hardLimitWaitSeconds;
  if (failures < LOGIN_BACKOFF.freeFailures) return 0;
  const exponent = failures - LOGIN_BACKOFF.freeFailures;
  return Math.min(LOGIN_BACKOFF.maxWaitSeconds, LOGIN_BACKOFF.firstWaitSeconds * 2 ** exponent);
}

/**
 * `db` should be the relaxed handle (DatabaseHandle.relaxed): counters may lose their last
 * milliseconds in a crash, but a counter row that every request from one address updates must
 * not stay locked through a WAL flush, or those requests run one at a time.
 * `addressScale` multiplies the per-address limits (RATE_LIMIT_SCALE).
 */
export function createRateLimiter(db: Db, addressScale = 1, bufferOptions: BufferOptions = {}) {
  const maxOf = (limit: Limit) => (limit.perAddress ? Math.max(1, Math.round(limit.max * addressScale)) : limit.max);

  /** Adds `hits` to `key`'s window in one atomic statement (a new window when the last one ended). */
  async function add(key: string, limit: Limit, hits: number, now: Date): Promise<WindowCount> {
    const windowEnd = new Date(now.getTime() + limit.windowSeconds * 1000);
    const row = await db
      .insertInto('rate_limits')
      .values({ key, count: hits, window_started_at: now, expires_at: windowEnd })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          count: sql`case when rate_limits.expires_at <= ${now} then ${hits} else rate_limits.count + ${hits} end`,
          window_started_at: sql`case when rate_limits.expires_at <= ${now} then ${now} else rate_limits.window_started_at end`,
          expires_at: sql`case when rate_limits.expires_at <= ${now} then ${windowEnd} else rate_limits.expires_at end`,
        }),
      )
      .returning(['count', 'expires_at'])
      .executeTakeFirstOrThrow();
    return { count: row.count, expiresAt: row.expires_at };
  }
  const buffered = createBufferedCounter({ add, maxOf }, bufferOptions);

  return {
    add,
    maxOf,

    /** Counts one hit against `key` and says whether it is within the limit. */
    async hit(key: string, limit: Limit, now: Date): Promise<Verdict> {
      const row = await add(key, limit, 1, now);
      return row.count <= maxOf(limit) ? { allowed: true } : { allowed: false, retryAfterSeconds: secondsUntil(row.expiresAt, now) };
    },

    /**
     * Like `hit`, with one database write per key every `flushMs` instead of one per hit:
     * see createBufferedCounter. For limits that guard against load, not against guessing.
     */
    hitBuffered: buffered.hit,
    /** Writes the hits `hitBuffered` still holds: before the database closes. */
    flushBuffered: buffered.flush,

    /** Gives back a hit that turned out not to count (a login that succeeded). */
    async release(key: string): Promise<void> {
      await db.updateTable('rate_limits').set({ count: sql`greatest(count - 1, 0)` }).where('key', '=', key).execute();
    },

    /** Whether `key` is already over its limit, without counting a hit. */
    async peek(key: string, limit: Limit, now: Date): Promise<Verdict> {
      const row = await db.selectFrom('rate_limits').select(['count', 'expires_at']).where('key', '=', key).executeTakeFirst();
      if (!row || row.expires_at <= now || row.count < maxOf(limit)) return { allowed: true };
      return { allowed: false, retryAfterSeconds: secondsUntil(row.expires_at, now) };
    },

    /**
     * Takes one login attempt for an account, or refuses it while the account's back-off runs.
     * The attempt is counted before the password is checked, in one statement, so concurrent
     * attempts (a batch of logins, several instances) cannot all pass the check together; a
     * success clears the count.
     */
    async reserveLogin(key: string, now: Date): Promise<Verdict> {
      const wait = sql<number>`case
        when login_failures.failures >= ${LOGIN_BACKOFF.hardLimit} then ${LOGIN_BACKOFF.hardLimitWaitSeconds}
        when login_failures.failures < ${LOGIN_BACKOFF.freeFailures} then 0
        else least(${LOGIN_BACKOFF.maxWaitSeconds}, ${LOGIN_BACKOFF.firstWaitSeconds} * power(2, login_failures.failures - ${LOGIN_BACKOFF.freeFailures}))
      end`;
      const taken = await db
        .insertInto('login_failures')
        .values({ key, failures: 1, last_failed_at: now })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ failures: sql`login_failures.failures + 1`, last_failed_at: now })
            .where(sql<boolean>`login_failures.last_failed_at + make_interval(secs => ${wait}) <= ${now}`),
        )
        .returning('failures')
        .executeTakeFirst();
      if (taken) return { allowed: true };
      const row = await db.selectFrom('login_failures').select(['failures', 'last_failed_at']).where('key', '=', key).executeTakeFirst();
      if (!row) return { allowed: true };
      const until = new Date(row.last_failed_at.getTime() + backoffSeconds(row.failures) * 1000);
      return { allowed: false, retryAfterSeconds: secondsUntil(until, now) };
    },

    async loginSucceeded(key: string): Promise<void> {
      await db.deleteFrom('login_failures').where('key', '=', key).execute();
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
