/**
 * The throttle's tables, `rate_limits` (fixed windows) and `login_failures` (the login back-off).
 * Each write is one atomic statement: concurrent requests cannot both slip under a limit.
 */
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { LOGIN_BACKOFF } from './throttle.policy.js';

export interface WindowRow {
  count: number;
  expires_at: Date;
}

/** Adds `hits` to `key`'s window (a new window when the last one ended); returns the window after the write. */
export async function addHits(db: Db, key: string, hits: number, now: Date, windowEnd: Date): Promise<WindowRow> {
  return db
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
}

export async function removeHit(db: Db, key: string): Promise<void> {
  await db.updateTable('rate_limits').set({ count: sql`greatest(count - 1, 0)` }).where('key', '=', key).execute();
}

export async function findWindow(db: Db, key: string): Promise<WindowRow | undefined> {
  return db.selectFrom('rate_limits').select(['count', 'expires_at']).where('key', '=', key).executeTakeFirst();
}

/** `backoff`: free failures, then doubling waits (backoffSeconds). `cap`: free until the hard limit, then its wait. */
export type LoginCountMode = 'backoff' | 'cap';

/**
 * Counts one more login failure for `key` unless its wait is still running, in one statement.
 * Undefined when refused; else when the count's last failure was before this one (null for a
 * new count), so that an attempt given back can leave the count as it found it.
 */
export async function takeLoginAttempt(
  db: Db,
  key: string,
  now: Date,
  mode: LoginCountMode = 'backoff',
): Promise<{ previousFailedAt: Date | null } | undefined> {
  const wait =
    mode === 'cap'
      ? sql<number>`case when login_failures.failures >= ${LOGIN_BACKOFF.hardLimit} then ${LOGIN_BACKOFF.hardLimitWaitSeconds} else 0 end`
      : sql<number>`case
    when login_failures.failures >= ${LOGIN_BACKOFF.hardLimit} then ${LOGIN_BACKOFF.hardLimitWaitSeconds}
    when login_failures.failures < ${LOGIN_BACKOFF.freeFailures} then 0
    else least(${LOGIN_BACKOFF.maxWaitSeconds}, ${LOGIN_BACKOFF.firstWaitSeconds} * power(2, login_failures.failures - ${LOGIN_BACKOFF.freeFailures}))
  end`;
  const taken = await db
    // The row as the statement found it (every part of one statement sees the same snapshot).
    .with('previous', (q) => q.selectFrom('login_failures').select('last_failed_at').where('key', '=', key))
    .insertInto('login_failures')
    .values({ key, failures: 1, last_failed_at: now })
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({ failures: sql`login_failures.failures + 1`, last_failed_at: now })
        .where(sql<boolean>`login_failures.last_failed_at + make_interval(secs => ${wait}) <= ${now}`),
    )
    .returning(['failures', sql<Date | null>`(select last_failed_at from previous)`.as('previous_failed_at')])
    .executeTakeFirst();
  return taken === undefined ? undefined : { previousFailedAt: taken.previous_failed_at };
}

export async function findLoginFailures(db: Db, key: string): Promise<{ failures: number; last_failed_at: Date } | undefined> {
  return db.selectFrom('login_failures').select(['failures', 'last_failed_at']).where('key', '=', key).executeTakeFirst();
}

export async function clearLoginFailures(db: Db, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) await db.deleteFrom('login_failures').where('key', 'in', keys).execute();
}

/**
 * Gives back an attempt `takeLoginAttempt` took (another count of the same login refused it, or
 * it was no failure); with `previousFailedAt`, the count's last failure is again the one before.
 */
export async function giveBackLoginAttempt(db: Db, key: string, previousFailedAt?: Date | null): Promise<void> {
  await db
    .updateTable('login_failures')
    .set({
      failures: sql`greatest(failures - 1, 0)`,
      ...(previousFailedAt && { last_failed_at: sql<Date>`least(last_failed_at, ${previousFailedAt}::timestamptz)` }),
    })
    .where('key', '=', key)
    .execute();
}

/** Deletes windows and failure counts older than `before`. Idempotent: every instance may run it at once. */
export async function deleteStaleCounters(db: Db, before: Date): Promise<{ rateLimits: number; loginFailures: number }> {
  const rateLimits = await db.deleteFrom('rate_limits').where('expires_at', '<', before).executeTakeFirst();
  const loginFailures = await db.deleteFrom('login_failures').where('last_failed_at', '<', before).executeTakeFirst();
  return { rateLimits: Number(rateLimits.numDeletedRows), loginFailures: Number(loginFailures.numDeletedRows) };
}
