import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import { type AccessTokenAlgorithm, ED25519_SEED_INFO } from '@latchkey/protocol';

/**
 * Every key the server uses comes from JWT_SECRET (and, during a rotation, JWT_SECRET_PREVIOUS),
 * each purpose under its own HKDF label so that no two purposes ever share bytes. What is made
 * with a key always uses the current secret; what is checked accepts the current or the previous.
 */
export interface Secrets {
  current: string;
  /** The secret before the last rotation (JWT_SECRET_PREVIOUS): still accepted, never used to make anything. */
  previous?: string | undefined;
}

/** The secrets, current first: the order in which what is presented is checked. */
const inOrder = (secrets: Secrets): string[] => [secrets.current, ...(secrets.previous === undefined ? [] : [secrets.previous])];

/** Derives a key for one purpose from a secret. */
export function deriveKey(secret: string, label: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `latchkey:${label}`, length));
}

/** A MAC whose key rotates with JWT_SECRET: made with the current key, checked against current and previous. */
export interface RotatingMac {
  /** HMAC-SHA256 of `data` under the current secret's key (32 bytes). */
  sign(data: Buffer): Buffer;
  /** True if `tag` is the MAC of `data` under the current or the previous secret's key; compared in constant time. */
  verify(data: Buffer, tag: Buffer): boolean;
}

/** A `RotatingMac` for one purpose (`label`), e.g. `refresh-token` or `device-token`. */
export function rotatingMac(secrets: Secrets, label: string): RotatingMac {
  const keys = inOrder(secrets).map((secret) => createSecretKey(deriveKey(secret, label)));
  const mac = (key: KeyObject, data: Buffer) => createHmac('sha256', key).update(data).digest();
  const [current] = keys;
  if (current === undefined) throw new Error('no current secret');
  return {
    sign: (data) => mac(current, data),
    verify(data, tag) {
      // Which key matched may show in the timing; the tag itself never does.
      return keys.some((key) => {
        const expected = mac(key, data);
        return tag.length === expected.length && timingSafeEqual(expected, tag);
      });
    },
  };
}

/** A public key as the JWKS lists it (RFC 8037). */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** The keys of access tokens: one to sign with, those to verify with, and the public ones to publish. */
export interface AccessTokenKeys {
  algorithm: AccessTokenAlgorithm;
  /** The signing key's id, in every new token's header (EdDSA; HS256 tokens carry none, as the tutorial's). */
  kid: string | undefined;
  /** The base64url signature of a JWS signing input, with the current key. */
  sign(signingInput: string): Promise<string>;
  /**
   * The keys a token with this `kid` may have been signed with, best guess first: the one with that
   * id (EdDSA; none for an unknown id), or the current then the previous secret (HS256). Chosen
   * among the server's own keys only: nothing in a token makes the server fetch or trust a key.
   */
  candidates(kid: unknown): KeyObject[];
  /** `{ keys }`: every public key accepted now, the signing one first (empty for HS256). */
  jwks: { keys: readonly PublicJwk[] };
}

/** RFC 8410's PKCS#8 wrapping of a raw Ed25519 seed: node builds a private key from this DER. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The Ed25519 key pair of a secret (API.md, "Tokens"): reproducible by anyone holding the secret. */
export function ed25519KeyPair(secret: string): { privateKey: KeyObject; publicKey: KeyObject; jwk: PublicJwk } {
  const seed = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), ED25519_SEED_INFO, 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const x = publicKey.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new Error('an Ed25519 public key without x');
  // RFC 7638: the required members, in lexicographic order, without whitespace.
  const kid = createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
  return { privateKey, publicKey, jwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' } };
}

export function accessTokenKeys(secrets: Secrets, algorithm: AccessTokenAlgorithm): AccessTokenKeys {
  const all = inOrder(secrets);
  if (algorithm === 'HS256') {
    // The contract keys HS256 with the UTF-8 bytes of JWT_SECRET so other services can verify.
    // KeyObjects: jose imports a KeyObject's CryptoKey once and keeps it; raw bytes it imports every time.
    const keys = all.map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
    const [current] = keys;
    if (current === undefined) throw new Error('no current secret');
    return {
      algorithm,
      kid: undefined,
      // A few microseconds: on this thread.
      sign: async (signingInput) => createHmac('sha256', current).update(signingInput).digest('base64url'),
      candidates: () => keys,
      jwks: { keys: [] },
    };
  }
  const pairs = all.map(ed25519KeyPair);
  const [current] = pairs;
  if (current === undefined) throw new Error('no current secret');
  const byKid = new Map(pairs.map((pair) => [pair.jwk.kid, pair.publicKey]));
  return {
    algorithm,
    kid: current.jwk.kid,
    // About 35 µs of Ed25519 per token: on libuv's thread pool (node:crypto's callback form), off
    // the thread that answers requests (apps/bench/RESULTS.md, 2026-12-03, third session: 1.05 to
    // 1.07 x the refresh rate of signing on it). No password hash ever queues there: they run on
    // worker threads of their own (lib/hash-workers.ts). What does: jose's first verification of
    // a token, file writes and DNS lookups, each short.
    sign: (signingInput) =>
      new Promise((resolve, reject) => {
        sign(null, Buffer.from(signingInput), current.privateKey, (error, signature) =>
          error ? reject(error) : resolve(signature.toString('base64url')),
        );
      }),
    candidates(kid) {
      const key = typeof kid === 'string' ? byKid.get(kid) : undefined;
      return key ? [key] : [];
    },
    jwks: Object.freeze({ keys: Object.freeze(pairs.map((pair) => Object.freeze(pair.jwk))) }),
  };
}
