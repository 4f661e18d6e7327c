import type { SessionStorage } from './storage.js';
import type { StoredSession, Tokens } from './types.js';

export type SessionListener = (session: StoredSession | null) => void;

export interface SessionManagerOptions {
  storage: SessionStorage;
  /** Presents a refresh token to the server; rejects when the server refuses it. */
  refresh(refreshToken: string): Promise<Tokens>;
  onSessionExpired?: ((error: unknown) => void) | undefined;
  now: () => number;
  /** Refresh before sending when the access token expires within this many milliseconds. */
  refreshMarginMs: number;
  /** How long to wait for another tab's refresh before going ahead alone. */
  lockTimeoutMs: number;
  lockName: string;
}

/** Raised to waiting calls when there is no session to refresh. */
export class NoSessionError extends Error {
  override name = 'NoSessionError';
}

interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T>;
}

function webLocks(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks;
}

/**
 * Owns the session: loads it, stores it, and refreshes it, at most one refresh at a time.
 *
 * `generation` counts token changes. A call remembers the generation it was sent with; when it
 * fails, a refresh is needed only if the tokens have not changed since. This catches the failure
 * that arrives after another call's refresh has already finished, which a shared promise alone
 * would turn into a second refresh (and present a rotated token).
 */
export class SessionManager {
  readonly #options: SessionManagerOptions;
  #session: StoredSession | null = null;
  #loaded: Promise<void> | undefined;
  #generation = 0;
  #refreshing: Promise<void> | undefined;
  #expiredNotified = false;
  readonly #listeners = new Set<SessionListener>();

  constructor(options: SessionManagerOptions) {
    this.#options = options;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The session as this client knows it right now (after `ready()`). */
  peek(): StoredSession | null {
    return this.#session;
  }

  /** Loads the stored session once, and follows changes other tabs make to it. */
  ready(): Promise<void> {
    this.#loaded ??= (async () => {
      this.#session = await this.#options.storage.get();
      this.#options.storage.subscribe?.((session) => this.#adopt(session));
    })();
    return this.#loaded;
  }

  subscribe(listener: SessionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async set(session: StoredSession): Promise<void> {
    await this.ready();
    await this.#options.storage.set(session);
    this.#expiredNotified = false;
    this.#change(session);
  }

  async clear(): Promise<void> {
    await this.ready();
    await this.#options.storage.clear();
    this.#change(null);
  }

  /** Refreshes first when the access token is about to expire, saving a failed round trip. */
  async refreshIfExpiring(): Promise<void> {
    await this.ready();
    const session = this.#session;
    if (!session) return;
    if (session.accessTokenExpiresAt.getTime() - this.#options.now() > this.#options.refreshMarginMs) return;
    await this.refresh(this.#generation);
  }

  /**
   * Makes sure the tokens are newer than those of `seenGeneration`: returns at once if they
   * already are, joins a refresh under way, or starts one.
   */
  async refresh(seenGeneration: number): Promise<void> {
    await this.ready();
    if (this.#generation !== seenGeneration && !this.#refreshing) {
      if (this.#session) return;
      throw new NoSessionError('Not signed in');
    }
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshOnce(): Promise<void> {
    const before = this.#session;
    if (!before) throw new NoSessionError('Not signed in');
    await this.#withTabLock(async () => {
      // Another tab may have refreshed (or signed out) while this one waited for the lock.
      const stored = await this.#options.storage.get();
      if (stored?.refreshToken !== before.refreshToken) {
        this.#adopt(stored);
        if (!stored) throw new NoSessionError('Signed out in another tab');
        return;
      }
      let tokens: Tokens;
      try {
        tokens = await this.#options.refresh(before.refreshToken);
      } catch (error) {
        await this.#expire(error);
        throw error;
      }
      const next: StoredSession = { ...before, ...tokens };
      await this.#options.storage.set(next);
      this.#change(next);
    });
  }

  async #expire(error: unknown): Promise<void> {
    await this.#options.storage.clear().catch(() => {});
    this.#change(null);
    if (this.#expiredNotified) return;
    this.#expiredNotified = true;
    this.#options.onSessionExpired?.(error);
  }

  /** In a browser, one tab at a time refreshes; a holder that hangs is waited for only so long. */
  async #withTabLock(work: () => Promise<void>): Promise<void> {
    const locks = webLocks();
    if (!locks) return work();
    let entered = false;
    try {
      await locks.request(this.#options.lockName, { signal: AbortSignal.timeout(this.#options.lockTimeoutMs) }, async () => {
        entered = true;
        await work();
      });
    } catch (error) {
      if (entered) throw error;
      // Timed out waiting: go ahead alone. The server's reuse grace covers a race with the holder.
      await work();
    }
  }

  #adopt(session: StoredSession | null): void {
    if (session?.refreshToken === this.#session?.refreshToken && session?.accessToken === this.#session?.accessToken) return;
    this.#change(session);
  }

  #change(session: StoredSession | null): void {
    this.#session = session;
    this.#generation += 1;
    for (const listener of this.#listeners) listener(session);
  }
}
