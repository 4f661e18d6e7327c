import type { SessionStorage } from './storage.js';
import type { StoredSession, Tokens } from './types.js';

/**
 * The server's answers to a refresh that mean the session is over for good. `ACCOUNT_DISABLED` is
 * not in `@latchkey/protocol`'s APP_CODES yet; it is listed so that the client already treats it
 * as final once the server sends it. Any other failure (the network, a 429, a 5xx, an answer that
 * is not a tRPC error) is weather: the session is kept and the next call refreshes again.
 */
export const DEFINITIVE_REFRESH_REFUSALS: ReadonlySet<string> = new Set([
  'REFRESH_TOKEN_INVALID',
  'REFRESH_TOKEN_EXPIRED',
  'REFRESH_TOKEN_REUSED',
  'SESSION_REVOKED',
  'ACCOUNT_DISABLED',
]);

/** Whether a refresh's failure ends the session (see DEFINITIVE_REFRESH_REFUSALS). */
export function isDefinitiveRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const data: unknown = (error as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null) return false;
  const { appCode } = data as { appCode?: unknown };
  return typeof appCode === 'string' && DEFINITIVE_REFRESH_REFUSALS.has(appCode);
}

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
  /** The callback gets null when `ifAvailable` is set and another holder has the lock. */
  request<T>(
    name: string,
    options: { signal?: AbortSignal; ifAvailable?: boolean },
    callback: (lock: object | null) => Promise<T>,
  ): Promise<T>;
}

/** How often, and how long, a tab that waited for the lock looks for the holder's tokens in storage. */
const POLL_INTERVAL_MS = 25;
const POLL_LIMIT_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
  /** Storage writes, one after another, so that a write and the generation check guarding it are never split by another write. */
  #writes: Promise<unknown> = Promise.resolve();
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
    await this.#commit(session);
    this.#expiredNotified = false;
  }

  async clear(): Promise<void> {
    await this.ready();
    await this.#commit(null);
  }

  /**
   * Stores a session (or its absence) and makes it current. With `ifGeneration`, does so only if
   * the tokens are still those of that generation: a login that landed in the meantime wins.
   * Resolves to whether it wrote.
   */
  #commit(
    session: StoredSession | null,
    ifGeneration?: number,
    store: () => Promise<void> = () => (session ? this.#options.storage.set(session) : this.#options.storage.clear()),
    ifStoredRefreshToken?: string,
  ): Promise<boolean> {
    const write = this.#writes.then(async () => {
      if (ifGeneration !== undefined && ifGeneration !== this.#generation) return false;
      if (ifStoredRefreshToken !== undefined) {
        // Storage may be shared with clients this one hears nothing from: if it no longer holds
        // the session the refresh started from, another client signed in or out meanwhile, and
        // that wins. This client then follows the storage instead.
        const stored = await this.#options.storage.get();
        if (stored?.refreshToken !== ifStoredRefreshToken) {
          this.#adopt(stored);
          return false;
        }
      }
      await store();
      this.#change(session);
      return true;
    });
    this.#writes = write.catch(() => undefined);
    return write;
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
    // The session this refresh is for: if it is replaced meanwhile (a login, a register), the
    // answer belongs to the previous session and must neither overwrite nor clear the new one.
    const generation = this.#generation;
    if (!before) throw new NoSessionError('Not signed in');
    await this.#withTabLock(async (waited) => {
      // Another tab may have refreshed (or signed out) while this one waited for the lock.
      let stored = await this.#options.storage.get();
      // The holder's write may not be visible to this tab yet when the lock passes to it (the
      // tabs' copies of localStorage sync asynchronously): look again for a while before
      // presenting a refresh token that the holder has probably rotated already.
      const deadline = Date.now() + POLL_LIMIT_MS;
      while (waited && stored?.refreshToken === before.refreshToken && Date.now() < deadline) {
        await sleep(POLL_INTERVAL_MS);
        stored = await this.#options.storage.get();
      }
      if (stored?.refreshToken !== before.refreshToken) {
        this.#adopt(stored);
        if (!stored) throw new NoSessionError('Signed out in another tab');
        return;
      }
      let tokens: Tokens;
      try {
        tokens = await this.#options.refresh(before.refreshToken);
      } catch (error) {
        // Only a definitive refusal ends the session; weather (network, 429, 5xx) keeps it, the
        // waiting calls reject with this error, and the next call refreshes again.
        if (isDefinitiveRefusal(error)) await this.#expire(error, generation, before.refreshToken);
        throw error;
      }
      // Not stored when the session changed meanwhile, here or in shared storage: the calls
      // waiting on this refresh then go on with the tokens now current, as after any refresh
      // another party made.
      const committed = await this.#commit({ ...before, ...tokens }, generation, undefined, before.refreshToken);
      if (!committed && !this.#session) throw new NoSessionError('Signed out elsewhere');
    });
  }

  async #expire(error: unknown, generation: number, refreshToken: string): Promise<void> {
    // A storage that fails to clear does not keep the session alive here.
    const cleared = await this.#commit(null, generation, () => this.#options.storage.clear().catch(() => {}), refreshToken);
    if (!cleared || this.#expiredNotified) return;
    this.#expiredNotified = true;
    this.#options.onSessionExpired?.(error);
  }

  /**
   * In a browser, one tab at a time refreshes; a holder that hangs is waited for only so long.
   * `work` learns whether another tab held the lock first (and so has probably refreshed).
   */
  async #withTabLock(work: (waited: boolean) => Promise<void>): Promise<void> {
    const locks = webLocks();
    if (!locks) return work(false);
    const { lockName, lockTimeoutMs } = this.#options;
    // A free lock means no other tab is refreshing: no need to look for its tokens.
    const done = await locks.request(lockName, { ifAvailable: true }, async (lock) => {
      if (!lock) return false;
      await work(false);
      return true;
    });
    if (done) return;
    let entered = false;
    try {
      await locks.request(lockName, { signal: AbortSignal.timeout(lockTimeoutMs) }, async () => {
        entered = true;
        await work(true);
      });
    } catch (error) {
      if (entered) throw error;
      // Timed out waiting: go ahead alone. The server's reuse grace covers a race with the holder.
      await work(false);
    }
  }

  #adopt(session: StoredSession | null): void {
    if (session?.refreshToken === this.#session?.refreshToken && session?.accessToken === this.#session?.accessToken) return;
    // A session signed in elsewhere may expire in its turn, and deserves its own notice.
    if (session) this.#expiredNotified = false;
    this.#change(session);
  }

  #change(session: StoredSession | null): void {
    this.#session = session;
    this.#generation += 1;
    for (const listener of this.#listeners) listener(session);
  }
}
