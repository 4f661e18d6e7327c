/**
 * Secrets the server must read back (TOTP seeds) are sealed at rest: AES-256-GCM under a key
 * derived from JWT_SECRET for this purpose alone, with the row they belong to as associated data,
 * so a sealed value copied to another row does not open. Sealed with the current secret; opened
 * with the current or the previous one (JWT_SECRET_PREVIOUS), like every other key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveKey, type Secrets } from './keys.js';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SecretBox {
  /** A previous secret is set (a rotation runs): values it sealed are due to be sealed again. */
  readonly rotating: boolean;
  /** `v1` | iv | tag | ciphertext, base64url. */
  seal(plaintext: Buffer, associatedData: string): string;
  /** The plaintext, or undefined when no accepted key opens it for this associated data. */
  open(sealed: string, associatedData: string): Buffer | undefined;
  /** Like `open`, saying whether the current secret sealed it (else it is due to be sealed again). */
  openDetailed(sealed: string, associatedData: string): { plaintext: Buffer; current: boolean } | undefined;
}

export function createSecretBox(secrets: Secrets, label: string): SecretBox {
  const keys = [secrets.current, ...(secrets.previous === undefined ? [] : [secrets.previous])].map((secret) => deriveKey(secret, label));
  const [current] = keys;
  if (current === undefined) throw new Error('no current secret');
  return {
    rotating: keys.length > 1,
    seal(plaintext, associatedData) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(associatedData, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    },
    open(sealed, associatedData) {
      return openDetailed(sealed, associatedData)?.plaintext;
    },
    openDetailed,
  };

  function openDetailed(sealed: string, associatedData: string): { plaintext: Buffer; current: boolean } | undefined {
    const bytes = Buffer.from(sealed, 'base64url');
    if (bytes.length <= 1 + IV_BYTES + TAG_BYTES || bytes[0] !== VERSION) return undefined;
    const iv = bytes.subarray(1, 1 + IV_BYTES);
    const tag = bytes.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const ciphertext = bytes.subarray(1 + IV_BYTES + TAG_BYTES);
    for (const [index, key] of keys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(associatedData, 'utf8'));
        decipher.setAuthTag(tag);
        return { plaintext: Buffer.concat([decipher.update(ciphertext), decipher.final()]), current: index === 0 };
      } catch {
        // Not this key (or tampered with): try the next.
      }
    }
    return undefined;
  }
}
