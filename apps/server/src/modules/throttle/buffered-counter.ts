/**
 * A throttle counter that every instance shares, written in batches.
 *
 * The plain `hit` costs one upsert of the key's row per request. For a limit that many requests
 * from one address go through (refreshes behind one NAT, or one load test), that row is hot: every
 * upsert waits for the one before it, and the throttle, not the work it guards, sets the pace.
 * Here an instance counts hits in memory and adds them to the shared row once per `flushMs`:
 *
 * - On one instance the limit is exact. Every hit that could be the one over the limit (the
 *   count known from the last write plus the hits not yet written reaches the limit), the first
 *   hit of a window, and any hit more than `flushMs` after the last write was sent, is written
 *   at once together with the hits waiting, and decided on the count the database returns.
 * - Across instances a hit can pass while other instances hold unwritten hits. An instance takes
 *   hits in memory only within `flushMs` of its last write, and writes what it took at most
 *   `flushMs` after the first of them; so what it has not written yet is roughly its last one or
 *   two `flushMs` of hits (never more than the limit). The limit can be passed by that much per
 *   other instance.
 * - Once a key is over its limit, its hits are refused without a database write until the window
 *   ends.
 * - Hits not written when their window ends are dropped with it. A crash loses the last
 *   `flushMs` of hits (the counters' pool does not wait for the WAL flush either); a graceful
 *   stop writes them (`flush`).
 *
 * Use it for limits that guard against load; failed logins are counted with `hit`, one statement
 * per attempt.
 */
import { systemTimer, type Timer, type TimerHandle } from '../../lib/clock.js';
import type { Limit, Verdict } from './throttle.policy.js';

export interface WindowCount {
  /** Hits in the window after this write, from every instance. */
  count: number;
  expiresAt: Date;
}

export interface BufferOptions {
  /** How long hits may wait in memory before they are written (default 100 ms). */
  flushMs?: number;
  /** Keys kept in memory; past this, a new key's hits are written one by one (default 50,000). */
  maxKeys?: number;
  /** Monotonic time (how recent a shared count is) and the flush timers (default: the system's). */
  timer?: Timer;
}

interface Store {
  add(key: string, limit: Limit, hits: number, now: Date): Promise<WindowCount>;
  maxOf(limit: Limit): number;
}

interface KeyState {
  limit: Limit;
  /** The shared count the last write returned, the end of its window (0: not known yet), and when
   * that write was sent (`timer.nowMs()`). */
  shared: number;
  windowEnd: number;
  sharedAt: number;
  /** Hits counted here and not yet written, and hits being written now. */
  pending: number;
  writing: number;
  flushTimer: TimerHandle | undefined;
  /** The time of the latest hit waiting: the batch is written as of then. */
  latest: Date;
}

export function secondsUntil(later: Date | number, now: Date): number {
  const laterMs = typeof later === 'number' ? later : later.getTime();
  return Math.max(1, Math.ceil((laterMs - now.getTime()) / 1000));
}

export function createBufferedCounter(store: Store, options: BufferOptions = {}) {
  const flushMs = options.flushMs ?? 100;
  const maxKeys = options.maxKeys ?? 50_000;
  const timer = options.timer ?? systemTimer;
  const states = new Map<string, KeyState>();
  let lastSweep = 0;

  /** Hits not yet written when a window ends belong to that window: they are dropped with it. */
  function endWindow(state: KeyState): void {
    state.shared = 0;
    state.windowEnd = 0;
    state.sharedAt = Number.NEGATIVE_INFINITY;
    state.pending = 0;
    timer.clearTimeout(state.flushTimer);
    state.flushTimer = undefined;
  }

  /** Drops keys whose window ended and which are not being written; at most once a second. */
  function sweep(nowMs: number): void {
    if (nowMs - lastSweep < 1_000) return;
    lastSweep = nowMs;
    for (const [key, state] of states) {
      if (state.windowEnd <= nowMs && state.writing === 0) {
        endWindow(state);
        states.delete(key);
      }
    }
  }

  /** Writes the waiting hits plus `extra`; updates what is known of the shared count. */
  async function write(key: string, state: KeyState, extra: number, now: Date): Promise<WindowCount> {
    const hits = state.pending + extra;
    state.pending = 0;
    state.writing += hits;
    const sentAt = timer.nowMs();
    try {
      const result = await store.add(key, state.limit, hits, now);
      const end = result.expiresAt.getTime();
      // Answers may come back out of order: counts only grow within a window.
      if (end > state.windowEnd) {
        state.windowEnd = end;
        state.shared = result.count;
      } else if (end === state.windowEnd) {
        state.shared = Math.max(state.shared, result.count);
      }
      // The count is at least as recent as the moment the write was sent.
      if (end >= state.windowEnd) state.sharedAt = Math.max(state.sharedAt, sentAt);
      return result;
    } catch (error) {
      // Not written: the hits counted earlier wait for the next write (this one's caller failed).
      state.pending += hits - extra;
      throw error;
    } finally {
      state.writing -= hits;
    }
  }

  function schedule(key: string, state: KeyState): void {
    if (state.flushTimer) return;
    state.flushTimer = timer.setTimeout(() => {
      state.flushTimer = undefined;
      if (state.pending === 0) return;
      // A failed background write keeps its hits for the next write; the next hit schedules one.
      write(key, state, 0, state.latest).catch(() => {});
    }, flushMs);
  }

  return {
    async hit(key: string, limit: Limit, now: Date): Promise<Verdict> {
      const nowMs = now.getTime();
      const max = store.maxOf(limit);
      let state = states.get(key);
      if (state && state.windowEnd <= nowMs && state.writing === 0) endWindow(state);
      if (!state) {
        if (states.size >= maxKeys) sweep(nowMs);
        if (states.size >= maxKeys) {
          const result = await store.add(key, limit, 1, now);
          return result.count <= max ? { allowed: true } : { allowed: false, retryAfterSeconds: secondsUntil(result.expiresAt, now) };
        }
        state = {
          limit,
          shared: 0,
          windowEnd: 0,
          sharedAt: Number.NEGATIVE_INFINITY,
          pending: 0,
          writing: 0,
          flushTimer: undefined,
          latest: now,
        };
        states.set(key, state);
      }
      if (state.windowEnd > nowMs) {
        // Counts only grow within a window: once over, refused until it ends, with no write.
        if (state.shared > max) return { allowed: false, retryAfterSeconds: secondsUntil(state.windowEnd, now) };
        // Taken here only while the shared count is recent (other instances count too) and
        // this hit cannot be the one over the limit.
        const fresh = timer.nowMs() - state.sharedAt <= flushMs;
        if (fresh && state.shared + state.writing + state.pending + 1 <= max) {
          state.pending += 1;
          state.latest = now;
          schedule(key, state);
          return { allowed: true };
        }
      }
      // The first hit of a window, one after the shared count went stale, or one that may be
      // over the limit: written now with the hits waiting before it, and judged on the count
      // that includes them all.
      const result = await write(key, state, 1, now);
      return result.count <= max ? { allowed: true } : { allowed: false, retryAfterSeconds: secondsUntil(result.expiresAt, now) };
    },

    /** Writes every hit still waiting (at shutdown); failures are dropped with the process. */
    async flush(): Promise<void> {
      const waiting = [...states].filter(([, state]) => state.pending > 0);
      await Promise.all(
        waiting.map(([key, state]) => {
          timer.clearTimeout(state.flushTimer);
          state.flushTimer = undefined;
          return write(key, state, 0, state.latest).catch(() => {});
        }),
      );
    },
  };
}
