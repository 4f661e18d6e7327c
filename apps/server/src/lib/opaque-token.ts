import { createHash, randomBytes } from 'node:crypto';

/** A single-use secret for a link: 256 random bits; only its digest is ever stored. */
export function newOpaqueToken(): { token: string; digest: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, digest: digestOf(token) };
}

/**
 * SHA-256 suffices here (no salt, no stretching): the token is 256 random bits, so its digest
 * cannot be brute-forced, and looking it up by digest compares no secret in variable time.
 */
export function digestOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
