import superjson from 'superjson';
import type { StoredSession } from './types.js';

/**
 * What a storage holds. `generation` goes up by one with every write (sign-in, refresh,
 * sign-out), all made under the storage's lock: a refresh stores its tokens only if the storage
 * still holds the generation it started from. A sign-out keeps the record, with `session` null,
 * and every write carries over the fields it does not know, so a field added here (one that must
 * outlive a session) survives logouts and refreshes.
 */
export interface StoredState {
  generation: number;
  session: StoredSession | null;
  /**
   * The device token of this storage's last sign-in. It outlives sessions (a logout keeps it) and
   * goes with every login, so that strangers' failed logins cannot lock this device out.
   */
  deviceToken?: string;
}

/**
 * Where the client keeps its session. Any async get/set will do; `subscribe`, when a storage
 * offers it, tells the client about changes made elsewhere (another tab).
 */
export interface SessionStorage {
  get(): Promise<StoredState | null>;
  set(state: StoredState): Promise<void>;
  subscribe?(listener: (state: StoredState | null) => void): () => void;
  /**
   * Names the lock that clients take to read and write this storage. A storage that tabs share
   * names it: it is then a Web Lock, the same in every tab of the origin. Without a name the lock
   * belongs to the storage object, within this page or process.
   */
  readonly lockName?: string;
}

function isSession(value: unknown): value is StoredSession {
  if (typeof value !== 'object' || value === null) return false;
  const { refreshToken, accessToken } = value as { refreshToken?: unknown; accessToken?: unknown };
  return typeof refreshToken === 'string' && typeof accessToken === 'string';
}

/** Storage records travel as superjson text, so that dates stay dates. */
export function encodeState(state: StoredState): string {
  return superjson.stringify(state);
}

export function decodeState(text: string | null | undefined): StoredState | null {
  if (!text) return null;
  let value: unknown;
  try {
    value = superjson.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { generation, session, deviceToken } = value as { generation?: unknown; session?: unknown; deviceToken?: unknown };
  if (Number.isSafeInteger(generation) && (session === null || isSession(session))) {
    if (deviceToken === undefined || typeof deviceToken === 'string') return value as StoredState;
    const { deviceToken: _unreadable, ...rest } = value as StoredState;
    return rest;
  }
  // Written by an earlier version of the client: the session alone.
  if (isSession(value)) return { generation: 0, session: value };
  return null;
}

/** The default: the session lives as long as the storage object. */
export function memoryStorage(): SessionStorage {
  let current: StoredState | null = null;
  return {
    get: async () => current,
    set: async (state) => {
      current = state;
    },
  };
}

/**
 * Browser storage shared by the tabs of one origin; changes made by another tab arrive through
 * the `storage` event. The tabs take one Web Lock per key.
 */
export function localStorageStorage(key = 'latchkey.session', storage: Storage = globalThis.localStorage): SessionStorage {
  return {
    lockName: `latchkey-storage:${key}`,
    get: async () => decodeState(storage.getItem(key)),
    set: async (state) => storage.setItem(key, encodeState(state)),
    subscribe(listener) {
      if (typeof globalThis.addEventListener !== 'function') return () => {};
      const onStorage = (event: StorageEvent) => {
        // localStorage.clear() in another tab reports a null key. The record is read afresh rather
        // than taken from the event: another tab's event can arrive after this tab's own later
        // write (the lock passes between tabs faster than their copies of localStorage sync).
        if (event.storageArea === storage && (event.key === key || event.key === null)) listener(decodeState(storage.getItem(key)));
      };
      globalThis.addEventListener('storage', onStorage);
      return () => globalThis.removeEventListener('storage', onStorage);
    },
  };
}
