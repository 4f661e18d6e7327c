/**
 * The lock a client takes to read and write its storage (sign-in, sign-out, refresh). A storage
 * that names its lock (`lockName`) gets a Web Lock of that name where `navigator.locks` exists,
 * so every tab of the origin takes the same one. Otherwise the lock is this realm's own, keyed by
 * the name or, without one, by the storage object: the same code path, in Node too.
 */
import type { SessionStorage } from './storage.js';

export interface LockRequestOptions {
  signal?: AbortSignal;
  ifAvailable?: boolean;
}

/** `navigator.locks.request` as the client uses it: exclusive, with `ifAvailable` and `signal`. */
interface LockManagerLike<Key> {
  /** The callback gets null when `ifAvailable` is set and another holder has the lock. */
  request<T>(key: Key, options: LockRequestOptions, callback: (lock: object | null) => Promise<T>): Promise<T>;
}

export interface StorageLock {
  request<T>(options: LockRequestOptions, callback: (lock: object | null) => Promise<T>): Promise<T>;
  /** Held across tabs, whose copies of the storage may lag behind one another's writes. */
  readonly crossTab: boolean;
}

/** Exclusive locks granted in the order asked for, like Web Locks, within one JavaScript realm. */
function realmLocks(): LockManagerLike<unknown> {
  // A key is present while its lock is held; its value is the queue of those waiting for it.
  const queues = new Map<unknown, (() => void)[]>();
  return {
    async request(key, options, callback) {
      const waiting = queues.get(key);
      if (waiting) {
        if (options.ifAvailable) return callback(null);
        const { signal } = options;
        await new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
          const grant = () => {
            signal?.removeEventListener('abort', abort);
            resolve();
          };
          const abort = () => {
            waiting.splice(waiting.indexOf(grant), 1);
            reject(signal?.reason);
          };
          signal?.addEventListener('abort', abort, { once: true });
          waiting.push(grant);
        });
      } else {
        queues.set(key, []);
      }
      try {
        return await callback({});
      } finally {
        // Handed straight to the next in line, or released.
        const next = queues.get(key)?.shift();
        if (next) next();
        else queues.delete(key);
      }
    },
  };
}

const inRealm = realmLocks();

function webLocks(): LockManagerLike<string> | undefined {
  return (globalThis as { navigator?: { locks?: LockManagerLike<string> } }).navigator?.locks;
}

export function storageLock(storage: SessionStorage): StorageLock {
  const web = webLocks();
  const name = storage.lockName;
  if (name !== undefined && web) return { crossTab: true, request: (options, callback) => web.request(name, options, callback) };
  const key: unknown = name ?? storage;
  return { crossTab: false, request: (options, callback) => inRealm.request(key, options, callback) };
}
