import type { AppCode } from '@latchkey/protocol';
import { type StorageLock, storageLock } from './locks.js';
import type { SessionStorage, StoredState } from './storage.js';
import type { StoredSession, Tokens } from './types.js';

/**
 * The server's answers to a refresh that mean the session is over for good (`ACCOUNT_DISABLED`:
 * an admin disabled the account). Any other failure (the network, a 429, a 5xx, an answer that is
 * not a tRPC error) is weather: the session is kept and the next call refreshes again.
 */
export const DEFINITIVE_REFRESH_REFUSALS: ReadonlySet<string> = new Set([
  'REFRESH_TOKEN_INVALID',
  'REFRESH_TOKEN_EXPIRED',
  'REFRESH_TOKEN_REUSED',
  'SESSION_REVOKED',
  'ACCOUNT_DISABLED',
] satisfies AppCode[]);

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
  /** How long to wait for the storage's lock (another tab's refresh, sign-in or sign-out) before going ahead alone. */
  lockTimeoutMs: number;
}

/** Raised to waiting calls when there is no session to refresh. */
export class NoSessionError extends Error {
  override name = 'NoSessionError';
}

/** How often, and how long, a tab that waited for the lock looks for the holder's tokens in storage. */
const POLL_INTERVAL_MS = 25;
const POLL_LIMIT_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Owns the session: loads it, stores it, and refreshes it, at most one refresh at a time.
 *
 * Sign-in, sign-out and refresh all read and write the storage under its lock (see locks.ts), so
 * that a refresh's check "the storage still holds the generation I started from" and its write
 * are one step as far as other tabs are concerned.
 *
 * `version` counts the changes of session this client has seen (not the stored generation). A
 * call remembers the version it was sent with; when it fails, a refresh is needed only if the
 * tokens have not changed since. This catches the failure that arrives after another call's
 * refresh has already finished, which a shared promise alone would turn into a second refresh
 * (and present a rotated token).
 */
export class SessionManager {
  readonly #options: SessionManagerOptions;
  readonly #lock: StorageLock;
  #session: StoredSession | null = null;
  #loaded: Promise<void> | undefined;
  #version = 0;
  #refreshing: Promise<void> | undefined;
  /** Sign-ins and sign-outs made here and not yet stored: what the storage holds meanwhile is older, and not adopted. */
  #pendingWrites = 0;
  /** The latest generation this client has read or written in the storage. */
  #storedGeneration = 0;
  #expiredNotified = false;
  readonly #listeners = new Set<SessionListener>();

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#lock = storageLock(options.storage);
  }

  get version(): number {
    return this.#version;
  }

  /** The session as this client knows it right now (after `ready()`). */
  peek(): StoredSession | null {
    return this.#session;
  }

  /** Loads the stored session once, and follows changes other tabs make to it. */
  ready(): Promise<void> {
    this.#loaded ??= (async () => {
      const state = await this.#options.storage.get();
      this.#session = state?.session ?? null;
      this.#storedGeneration = state?.generation ?? 0;
      this.#options.storage.subscribe?.((changed) => this.#adopt(changed));
    })();
    return this.#loaded;
  }

  subscribe(listener: SessionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Signs in: current here at once, then stored under the lock over whatever the storage holds,
   * with the device token the sign-in answered.
   */
  async set(session: StoredSession, deviceToken?: string): Promise<void> {
    await this.ready();
    this.#expiredNotified = false;
    await this.#replace(session, deviceToken);
  }

  /** The device token the storage keeps from an earlier sign-in (it outlives logouts), if any. */
  async deviceToken(): Promise<string | undefined> {
    return (await this.#options.storage.get())?.deviceToken;
  }

  /**
   * Signs out: at once here, then in the storage under the lock. Resolves to the session the
   * storage held until then (another tab may have refreshed or replaced this one's).
   */
  async clear(): Promise<StoredSession | null> {
    await this.ready();
    return this.#replace(null);
  }

  async #replace(session: StoredSession | null, deviceToken?: string): Promise<StoredSession | null> {
    // Current here before the lock is ours: what a refresh under way brings back belongs to the
    // previous session, and is dropped (see #commitIf).
    this.#change(session);
    this.#pendingWrites += 1;
    try {
      return await this.#withLock(async () => {
        const stored = await this.#options.storage.get();
        await this.#write(stored, session, deviceToken);
        return stored?.session ?? null;
      });
    } finally {
      this.#pendingWrites -= 1;
    }
  }

  /**
   * Under the lock: the next generation, keeping the fields of the record this client does not
   * know. Above any this client has seen, too, in case its read of the storage lags behind.
   */
  async #write(stored: StoredState | null, session: StoredSession | null, deviceToken?: string): Promise<void> {
    const generation = Math.max(stored?.generation ?? 0, this.#storedGeneration) + 1;
    await this.#options.storage.set({ ...stored, generation, session, ...(deviceToken !== undefined && { deviceToken }) });
    this.#storedGeneration = generation;
  }

  /**
   * Puts a fresh access token of the current session (`auth.reauthenticate`'s, whose auth_time is
   * now) in place of the one it has, here and in the storage, under the lock; the refresh token
   * stays. The storage's session gets it only if it is still the same session on the server (the
   * `sid` both access tokens carry: a refresh in another tab may have rotated its refresh token
   * meanwhile); after a sign-in or sign-out elsewhere the token is dropped and this client
   * follows the storage. Resolves to whether the token was stored.
   */
  async replaceAccessToken(tokens: Pick<Tokens, 'accessToken' | 'accessTokenExpiresAt'>): Promise<boolean> {
    await this.ready();
    const session = sessionIdOf(tokens.accessToken);
    return this.#withLock(async () => {
      const stored = await this.#options.storage.get();
      const current = stored?.session;
      if (!stored || !current || session === undefined || sessionIdOf(current.accessToken) !== session) {
        this.#adopt(stored);
        return false;
      }
      const next = { ...current, accessToken: tokens.accessToken, accessTokenExpiresAt: tokens.accessTokenExpiresAt };
      await this.#write(stored, next);
      this.#change(next);
      return true;
    });
  }

  /** Refreshes first when the access token is about to expire, saving a failed round trip. */
  async refreshIfExpiring(): Promise<void> {
    await this.ready();
    const session = this.#session;
    if (!session) return;
    if (session.accessTokenExpiresAt.getTime() - this.#options.now() > this.#options.refreshMarginMs) return;
    await this.refresh(this.#version);
  }

  /**
   * Makes sure the tokens are newer than those of `seenVersion`: returns at once if they already
   * are, joins a refresh under way, or starts one.
   */
  async refresh(seenVersion: number): Promise<void> {
    await this.ready();
    if (this.#version !== seenVersion && !this.#refreshing) {
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
    const version = this.#version;
    if (!before) throw new NoSessionError('Not signed in');
    await this.#withLock(async (lookAgain) => {
      // Another tab may have refreshed, signed in or signed out while this one waited for the lock.
      let start = await this.#options.storage.get();
      // The holder's write may not be visible to this tab yet when the lock passes to it (the
      // tabs' copies of localStorage sync asynchronously): look again for a while before
      // presenting a refresh token that the holder has probably rotated already.
      const deadline = Date.now() + POLL_LIMIT_MS;
      while (lookAgain && start?.session?.refreshToken === before.refreshToken && Date.now() < deadline) {
        await sleep(POLL_INTERVAL_MS);
        start = await this.#options.storage.get();
      }
      if (this.#version !== version) return;
      if (!start || start.session?.refreshToken !== before.refreshToken) {
        this.#adopt(start);
        return;
      }
      let tokens: Tokens;
      try {
        tokens = await this.#options.refresh(before.refreshToken);
      } catch (error) {
        // Only a definitive refusal ends the session; weather (network, 429, 5xx) keeps it, the
        // waiting calls reject with this error, and the next call refreshes again.
        if (isDefinitiveRefusal(error) && (await this.#commitIf(start, version, null, () => {}))) this.#notifyExpired(error);
        throw error;
      }
      // Not stored when the session changed meanwhile, here or in the storage: the calls waiting
      // on this refresh then go on with the tokens now current, as after any refresh another
      // party made.
      await this.#commitIf(start, version, { ...before, ...tokens });
    });
    if (!this.#session) throw new NoSessionError('Signed out elsewhere');
  }

  /**
   * Under the lock: stores what a refresh brought back only if nothing changed since it began,
   * neither here (`version`) nor in the storage (its generation and session are still those of
   * `start`). Otherwise the change wins, and this client follows the storage. Resolves to whether
   * it stored `session` and made it current. `onStoreError` lets a failure to store be ignored.
   */
  async #commitIf(
    start: StoredState,
    version: number,
    session: StoredSession | null,
    onStoreError?: (error: unknown) => void,
  ): Promise<boolean> {
    if (this.#version !== version) return false;
    const stored = await this.#options.storage.get();
    if (this.#version !== version) return false;
    if (!stored || stored.generation !== start.generation || stored.session?.refreshToken !== start.session?.refreshToken) {
      this.#adopt(stored);
      return false;
    }
    const write = this.#write(stored, session);
    await (onStoreError ? write.catch(onStoreError) : write);
    // A sign-in or sign-out here that landed during the write is stored after it, and stays current.
    if (this.#version !== version) return false;
    this.#change(session);
    return true;
  }

  #notifyExpired(error: unknown): void {
    if (this.#expiredNotified) return;
    this.#expiredNotified = true;
    this.#options.onSessionExpired?.(error);
  }

  /**
   * Runs `work` holding the storage's lock; a holder that hangs is waited for only so long.
   * `work` learns whether to look again for a write that another tab made before passing the lock
   * on (it held the lock first, and its write may reach this tab's storage late).
   */
  async #withLock<T>(work: (lookAgain: boolean) => Promise<T>): Promise<T> {
    const lock = this.#lock;
    // A free lock means no one else is refreshing, signing in or out: nothing to look for.
    const free = await lock.request({ ifAvailable: true }, async (held) => (held ? { value: await work(false) } : undefined));
    if (free) return free.value;
    let entered = false;
    try {
      return await lock.request({ signal: AbortSignal.timeout(this.#options.lockTimeoutMs) }, async () => {
        entered = true;
        return work(lock.crossTab);
      });
    } catch (error) {
      if (entered) throw error;
      // Timed out waiting: go ahead alone. The server's reuse grace covers a race with the holder.
      return work(false);
    }
  }

  /**
   * Follows what the storage holds, unless this client has since seen a later generation there:
   * another tab's `storage` event can arrive after this tab's own, later, write.
   */
  #adopt(state: StoredState | null): void {
    if (this.#pendingWrites > 0) return;
    // A record removed altogether (localStorage.clear()) starts the count again.
    if (state && state.generation < this.#storedGeneration) return;
    this.#storedGeneration = state?.generation ?? 0;
    const session = state?.session ?? null;
    if (session?.refreshToken === this.#session?.refreshToken && session?.accessToken === this.#session?.accessToken) return;
    // A session signed in elsewhere may expire in its turn, and deserves its own notice.
    if (session) this.#expiredNotified = false;
    this.#change(session);
  }

  #change(session: StoredSession | null): void {
    this.#session = session;
    this.#version += 1;
    for (const listener of this.#listeners) listener(session);
  }
}

/**
 * The session an access token belongs to (its `sid` claim), read without checking the signature:
 * the client only compares two tokens the server gave it. Undefined when it cannot be read.
 */
function sessionIdOf(accessToken: string): string | undefined {
  const payload = accessToken.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const { sid } = JSON.parse(json) as { sid?: unknown };
    return typeof sid === 'string' ? sid : undefined;
  } catch {
    return undefined;
  }
}
