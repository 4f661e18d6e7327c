import { createHmac } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash as rawBcryptHash, verify as rawBcryptVerify } from '@node-rs/bcrypt';
import { dictionary } from '@zxcvbn-ts/language-common';
import { hashPool } from './hash-workers.js';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));

/** Passwords are compared after NFKC so that the same text typed on any keyboard logs in alike. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Problems with a new (already normalised) password, as messages for the `password` field. */
export function passwordProblems(password: string): string[] {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return [`is too short (minimum is ${PASSWORD_MIN_LENGTH} characters)`];
  if (length > PASSWORD_MAX_LENGTH) return [`is too long (maximum is ${PASSWORD_MAX_LENGTH} characters)`];
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return ['is too common'];
  return [];
}

/**
 * bcrypt reads only 72 bytes: pre-hash so that every byte counts. A keyed (domain-separated) hash
 * rather than bare SHA-256, so that leaked unsalted SHA-256 lists cannot be tried against our
 * bcrypt hashes ("password shucking"). Base64 keeps the input free of NUL bytes, 44 bytes long.
 */
function prehash(password: string): string {
  return createHmac('sha256', 'latchkey/bcrypt-prehash/v1').update(password, 'utf8').digest('base64');
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /**
   * Does the work of a verification that fails, for logins of unknown accounts, so that they
   * take as long as a wrong password does.
   */
  verifyNothing(password: string): Promise<false>;
}

/**
 * At most this many bcrypt operations at once. bcrypt runs on libuv's thread pool (4 threads by
 * default), where jose's WebCrypto HMAC and file I/O run too: left unbounded, a login flood fills
 * every thread and token checks queue behind the hashes (measured: a `me` endpoint fell from
 * 5,500 to 16 requests/s). Bounded to the cores, and below the pool size, hashing keeps all the
 * CPU it can use while one thread always stays free for everything else.
 */
export const HASH_CONCURRENCY = Math.max(1, Math.min(availableParallelism(), 3));

/** A counting semaphore: `run` waits for a free slot. */
function limiter(slots: number) {
  let free = slots;
  const waiting: (() => void)[] = [];
  return async function run<T>(work: () => Promise<T>): Promise<T> {
    if (free > 0) free -= 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    }
  };
}

/**
 * `threads` (the default): bcrypt on worker threads of the lowest priority (hash-workers.ts),
 * off libuv's pool; `pool`: @node-rs/bcrypt's async calls on libuv's pool, bounded as above.
 */
export function createPasswordHasher(cost: number, concurrency = HASH_CONCURRENCY, where: 'threads' | 'pool' = 'threads'): PasswordHasher {
  const slot = limiter(concurrency);
  const pool = where === 'threads' ? hashPool() : undefined;
  const bcryptHash = (password: string, rounds: number) =>
    pool ? (pool.run({ op: 'hash', password, cost: rounds }) as Promise<string>) : slot(() => rawBcryptHash(password, rounds));
  const bcryptVerify = (password: string, hash: string) =>
    pool ? (pool.run({ op: 'verify', password, hash }) as Promise<boolean>) : slot(() => rawBcryptVerify(password, hash));
  // Made at once, not on first use: otherwise the first unknown-email login of an instance would
  // cost a hash more than a wrong password does, and tell which addresses exist.
  const dummyHash = bcryptHash(prehash('latchkey: no such account'), cost);
  dummyHash.catch(() => undefined);
  return {
    hash: (password) => bcryptHash(prehash(password), cost),
    verify: async (password, hash) => {
      try {
        return await bcryptVerify(prehash(password), hash);
      } catch {
        return false;
      }
    },
    async verifyNothing(password) {
      await bcryptVerify(prehash(password), await dummyHash);
      return false;
    },
  };
}
