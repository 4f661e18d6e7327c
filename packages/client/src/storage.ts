import superjson from 'superjson';
import type { StoredSession } from './types.js';

/**
 * Where the client keeps its session. Any async get/set/clear will do; `subscribe`, when a
 * storage offers it, tells the client about changes made elsewhere (another tab).
 */
export interface SessionStorage {
  get(): Promise<StoredSession | null>;
  set(session: StoredSession): Promise<void>;
  clear(): Promise<void>;
  subscribe?(listener: (session: StoredSession | null) => void): () => void;
}

/** Sessions travel through storage as superjson text, so that dates stay dates. */
export function encodeSession(session: StoredSession): string {
  return superjson.stringify(session);
}

export function decodeSession(text: string | null | undefined): StoredSession | null {
  if (!text) return null;
  try {
    const value = superjson.parse<StoredSession>(text);
    return value && typeof value.refreshToken === 'string' && typeof value.accessToken === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** The default: the session lives as long as the client object. */
export function memoryStorage(): SessionStorage {
  let current: StoredSession | null = null;
  return {
    get: async () => current,
    set: async (session) => {
      current = session;
    },
    clear: async () => {
      current = null;
    },
  };
}

/**
 * Browser storage shared by the tabs of one origin; changes made by another tab arrive through
 * the `storage` event.
 */
export function localStorageStorage(key = 'latchkey.session', storage: Storage = globalThis.localStorage): SessionStorage {
  return {
    get: async () => decodeSession(storage.getItem(key)),
    set: async (session) => storage.setItem(key, encodeSession(session)),
    clear: async () => storage.removeItem(key),
    subscribe(listener) {
      if (typeof globalThis.addEventListener !== 'function') return () => {};
      const onStorage = (event: StorageEvent) => {
        if (event.key === key && event.storageArea === storage) listener(decodeSession(event.newValue));
        // localStorage.clear() in another tab reports a null key.
        if (event.key === null && event.storageArea === storage) listener(null);
      };
      globalThis.addEventListener('storage', onStorage);
      return () => globalThis.removeEventListener('storage', onStorage);
    },
  };
}
