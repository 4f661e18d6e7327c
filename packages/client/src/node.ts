/** Node-only storage: `@latchkey/client/node`, kept apart so browser bundles never see `node:fs`. */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { decodeState, encodeState, type SessionStorage } from './storage.js';

/**
 * Keeps the session in a file readable by its owner only (0600), for scripts and CLIs. Writes go
 * to a temporary file renamed into place, so a crash never leaves half a session; each write has
 * its own temporary file, so that concurrent writes of one process do not write into each other.
 * Clients of one process on the same file share its lock; other processes do not take it.
 */
export function fileStorage(path: string): SessionStorage {
  return {
    lockName: `latchkey-file:${resolve(path)}`,
    async get() {
      try {
        return decodeState(await readFile(path, 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async set(state) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
      await writeFile(temporary, encodeState(state), { mode: 0o600 });
      await chmod(temporary, 0o600);
      await rename(temporary, path);
    },
  };
}

export type { SessionStorage };
