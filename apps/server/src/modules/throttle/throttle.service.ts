/**
 * Throttles kept in the database, so that every instance sees the same counts and they survive
 * restarts. The rules are in throttle.policy.ts; the SQL in throttle.repository.ts.
 */
import type { Db } from '../../db/database.js';
import { type BufferOptions, createBufferedCounter, secondsUntil, type WindowCount } from './buffered-counter.js';
import { backoffSeconds, type Limit, LOGIN_BACKOFF, type Verdict } from './throttle.policy.js';
import {
  addHits,
  clearLoginFailures,
  deleteStaleCounters,
  findLoginFailures,
  findWindow,
  giveBackLoginAttempt,
  type LoginCountMode,
  removeHit,
  takeLoginAttempt,
} from './throttle.repository.js';

/**
 * `db` should be the relaxed handle (DatabaseHandle.relaxed): counters may lose their last
 * milliseconds in a crash, but a counter row that every request from one address updates must
 * not stay locked through a WAL flush, or those requests run one at a time.
 * `addressScale` multiplies the per-address limits (RATE_LIMIT_SCALE).
 */
/** A login attempt taken from its counts, or refused; one taken can be given back. */
export type Reservation = { allowed: true; giveBack(): Promise<void> } | { allowed: false; retryAfterSeconds: number };

export function createThrottle(db: Db, addressScale = 1, bufferOptions: BufferOptions = {}) {
  const maxOf = (limit: Limit) => (limit.perAddress ? Math.max(1, Math.round(limit.max * addressScale)) : limit.max);

  /** Adds `hits` to `key`'s window in one atomic statement (a new window when the last one ended). */
  async function add(key: string, limit: Limit, hits: number, now: Date): Promise<WindowCount> {
    const row = await addHits(db, key, hits, now, new Date(now.getTime() + limit.windowSeconds * 1000));
    return { count: row.count, expiresAt: row.expires_at };
  }
  const buffered = createBufferedCounter({ add, maxOf }, bufferOptions);

  /**
   * Takes one login attempt for an account, or refuses it while the account's back-off runs.
   * The attempt is counted before the password is checked, in one statement, so concurrent
   * attempts (a batch of logins, several instances) cannot all pass the check together; a
   * success clears the count.
   */
  async function reserveLogin(key: string, now: Date, mode: LoginCountMode = 'backoff'): Promise<Reservation> {
    const taken = await takeLoginAttempt(db, key, now, mode);
    if (taken) return { allowed: true, giveBack: () => giveBackLoginAttempt(db, key, taken.previousFailedAt) };
    const row = await findLoginFailures(db, key);
    if (!row) return { allowed: true, giveBack: async () => {} };
    const wait = mode === 'cap' ? LOGIN_BACKOFF.hardLimitWaitSeconds : backoffSeconds(row.failures);
    const until = new Date(row.last_failed_at.getTime() + wait * 1000);
    return { allowed: false, retryAfterSeconds: secondsUntil(until, now) };
  }

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
      await removeHit(db, key);
    },

    /** Whether `key` is already over its limit, without counting a hit. */
    async peek(key: string, limit: Limit, now: Date): Promise<Verdict> {
      const row = await findWindow(db, key);
      if (!row || row.expires_at <= now || row.count < maxOf(limit)) return { allowed: true };
      return { allowed: false, retryAfterSeconds: secondsUntil(row.expires_at, now) };
    },

    /** One login attempt from one count (see above). */
    reserveLogin,

    /**
     * Takes one attempt from every count, in order, or none: a count that refuses gives back the
     * attempts the ones before it took. `keys` pairs each key with how it counts.
     */
    async reserveLogins(keys: ReadonlyArray<readonly [string, LoginCountMode]>, now: Date): Promise<Reservation> {
      const taken: Array<() => Promise<void>> = [];
      const giveBack = async () => {
        for (const each of taken) await each();
      };
      for (const [key, mode] of keys) {
        const verdict = await reserveLogin(key, now, mode);
        if (!verdict.allowed) {
          await giveBack();
          return verdict;
        }
        taken.push(verdict.giveBack);
      }
      // An attempt that turns out to be no failure (a right password still waiting for its second
      // factor) is given back without ending the runs of failures: they stay as they were found.
      return { allowed: true, giveBack };
    },

    /** A login succeeded: these counts of consecutive failures start again. */
    async loginSucceeded(...keys: string[]): Promise<void> {
      await clearLoginFailures(db, keys);
    },
  };
}

export type Throttle = ReturnType<typeof createThrottle>;

/** Deletes counters that ended before `before` (the clean-up job). */
export function deleteStaleThrottles(db: Db, before: Date): Promise<{ rateLimits: number; loginFailures: number }> {
  return deleteStaleCounters(db, before);
}
