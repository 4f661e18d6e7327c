/**
 * The keys of the server's access tokens, as the baselines need them to verify and sign what the
 * server does: ACCESS_TOKEN_ALG=EdDSA (the server's default), the Ed25519 key whose seed is
 * HKDF-SHA256(JWT_SECRET, salt empty, info 'latchkey/access-token/ed25519'); HS256, the UTF-8
 * bytes of JWT_SECRET. The derivation is copied (docs/security.md), not imported from the server.
 */
import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';

export interface AccessKey {
  alg: 'EdDSA' | 'HS256';
  /** The header's kid (EdDSA only). */
  kid: string | undefined;
  signingKey: KeyObject | Uint8Array;
  verificationKey: KeyObject | Uint8Array;
}

export async function accessKey(): Promise<AccessKey> {
  const secret = process.env.JWT_SECRET ?? '';
  if (process.env.ACCESS_TOKEN_ALG === 'HS256') {
    const key = new TextEncoder().encode(secret);
    return { alg: 'HS256', kid: undefined, signingKey: key, verificationKey: key };
  }
  const seed = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'latchkey/access-token/ed25519', 32));
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  return {
    alg: 'EdDSA',
    kid: await calculateJwkThumbprint(await exportJWK(publicKey)),
    signingKey: privateKey,
    verificationKey: publicKey,
  };
}
