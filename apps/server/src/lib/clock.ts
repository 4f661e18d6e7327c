/** The one source of "now": injected so that tests move time instead of sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; for tests and the test kit. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date = new Date()) {
    this.#ms = start.getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }
  set(date: Date): void {
    this.#ms = date.getTime();
  }
}

/** Real time shifted by an offset that only grows: for tests that need time to pass and to jump. */
export class ShiftedClock implements Clock {
  #offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }
  advance(seconds: number): void {
    this.#offsetMs += seconds * 1000;
  }
}

/** What a timer returns, to be given back to `clearTimeout`. */
export type TimerHandle = object;

/**
 * Monotonic time and timers, injected so that tests fire timers by moving time instead of
 * sleeping. Monotonic: intervals measured with `nowMs` are unmoved by steps of the wall clock.
 */
export interface Timer {
  /** Milliseconds since an arbitrary origin. */
  nowMs(): number;
  /** Calls `callback` once after `ms`; a waiting call does not keep the process alive. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemTimer: Timer = {
  nowMs: () => performance.now(),
  setTimeout(callback, ms) {
    const timeout = setTimeout(callback, ms);
    timeout.unref();
    return timeout;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};

/** A timer whose time only moves when told to; for tests. */
export class ManualTimer implements Timer {
  #ms = 0;
  readonly #due = new Map<TimerHandle, { at: number; callback: () => void }>();

  nowMs(): number {
    return this.#ms;
  }
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const handle = {};
    this.#due.set(handle, { at: this.#ms + Math.max(0, ms), callback });
    return handle;
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.#due.delete(handle);
  }
  /** Timers set and not yet called or cleared. */
  get waiting(): number {
    return this.#due.size;
  }
  /** Moves time on by `ms`, calling each timer that falls due at its own time, earliest first. */
  advance(ms: number): void {
    const end = this.#ms + ms;
    for (;;) {
      let next: [TimerHandle, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#due) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#due.delete(next[0]);
      this.#ms = Math.max(this.#ms, next[1].at);
      next[1].callback();
    }
    this.#ms = end;
  }
}
