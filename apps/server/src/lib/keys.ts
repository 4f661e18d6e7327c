import { hkdfSync } from 'node:crypto';

/**
 * Derives a key for one purpose from JWT_SECRET. The access-token key is the secret itself (the
 * contract keeps it compatible with other verifiers); every other key comes from here, each under
 * its own label, so that no two purposes ever share bytes.
 */
export function deriveKey(secret: string, label: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `latchkey:${label}`, length));
}
