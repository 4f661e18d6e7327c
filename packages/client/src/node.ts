/** Node-only storage: `@latchkey/client/node`, kept apart so browser bundles never see `node:fs`. */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodeSession, encodeSession, type SessionStorage } from './storage.js';

/**
 * Keeps the session in a file readable by its owner only (0600), for scripts and CLIs. Writes go
 * to a temporary file renamed into place, so a crash never leaves half a session; each write has
 * its own temporary file, so that concurrent writes of one process do not write into each other.
 */
export function fileStorage(path: string): SessionStorage {
  return {
    async get() {
      try {
        return decodeSession(await readFile(path, 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async set(session) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
      await writeFile(temporary, encodeSession(session), { mode: 0o600 });
      await chmod(temporary, 0o600);
      await rename(temporary, path);
    },
    async clear() {
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
  };
}

export type { SessionStorage };
