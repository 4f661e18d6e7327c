import { createHmac, createPublicKey, verify } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { accessTokenKeys, deriveKey, ed25519KeyPair, rotatingMac } from './keys.js';

const SECRET = 'latchkey-test-kit-secret-of-at-least-32-bytes';
const NEXT_SECRET = 'the-secret-this-one-was-rotated-to-32-bytes';

describe('the Ed25519 access-token key', () => {
  it('is the one HKDF-SHA256(JWT_SECRET, salt empty, info latchkey/access-token/ed25519) seeds (computed apart, with Python)', () => {
    // Computed with Python's hmac (RFC 5869 by hand) and the cryptography package's Ed25519,
    // from the derivation in docs/security.md: a change here signs out every verifier's cache.
    const { jwk } = ed25519KeyPair(SECRET);

    expect(jwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: '4gut7BpwC6nUFtnFil6AefNNnwC_CWiLe3xyLNdwz-o',
      kid: '25zTFqWRqqsPB6jLLNAufnZ2YkTgAu5GLbI-9Dt3ejU',
      alg: 'EdDSA',
      use: 'sig',
    });
  });

  it('has the RFC 7638 thumbprint of its public JWK as kid', async () => {
    const { publicKey, jwk } = ed25519KeyPair(NEXT_SECRET);

    expect(jwk.kid).toBe(await calculateJwkThumbprint(await exportJWK(publicKey), 'sha256'));
  });

  it('differs for another secret, and its public half verifies what the private half signed', async () => {
    const keys = accessTokenKeys({ current: SECRET }, 'EdDSA');
    const signature = Buffer.from(await keys.sign('header.payload'), 'base64url');
    const published = createPublicKey({ key: { ...keys.jwks.keys[0] }, format: 'jwk' });

    expect(ed25519KeyPair(NEXT_SECRET).jwk.x).not.toBe(ed25519KeyPair(SECRET).jwk.x);
    expect(verify(null, Buffer.from('header.payload'), published, signature)).toBe(true);
    expect(verify(null, Buffer.from('header.payloaD'), published, signature)).toBe(false);
  });
});

describe('accessTokenKeys', () => {
  it('EdDSA: signs with the current secret, publishes current then previous, and finds a key only by a known kid', () => {
    const keys = accessTokenKeys({ current: NEXT_SECRET, previous: SECRET }, 'EdDSA');
    const [current, previous] = keys.jwks.keys;

    expect(keys.kid).toBe(ed25519KeyPair(NEXT_SECRET).jwk.kid);
    expect(keys.jwks.keys.map((key) => key.kid)).toEqual([ed25519KeyPair(NEXT_SECRET).jwk.kid, ed25519KeyPair(SECRET).jwk.kid]);
    expect(keys.candidates(current?.kid)).toHaveLength(1);
    expect(keys.candidates(previous?.kid)).toHaveLength(1);
    expect(keys.candidates('some-other-kid')).toEqual([]);
    expect(keys.candidates(undefined)).toEqual([]);
    expect(keys.candidates({ kid: current?.kid })).toEqual([]);
  });

  it('EdDSA without a previous secret publishes one key', () => {
    expect(accessTokenKeys({ current: SECRET }, 'EdDSA').jwks.keys).toHaveLength(1);
  });

  it('HS256: signs with the UTF-8 bytes of the current secret, publishes nothing, and tries current then previous', async () => {
    const keys = accessTokenKeys({ current: NEXT_SECRET, previous: SECRET }, 'HS256');

    expect(await keys.sign('a.b')).toBe(createHmac('sha256', Buffer.from(NEXT_SECRET, 'utf8')).update('a.b').digest('base64url'));
    expect(keys.kid).toBeUndefined();
    expect(keys.jwks).toEqual({ keys: [] });
    expect(keys.candidates(undefined).map((key) => key.export().toString('utf8'))).toEqual([NEXT_SECRET, SECRET]);
  });
});

describe('rotatingMac', () => {
  const data = Buffer.from('session 1, generation 2');

  it('MACs with the key derived from the current secret under its label', () => {
    const mac = rotatingMac({ current: NEXT_SECRET, previous: SECRET }, 'device-token');

    expect(mac.sign(data)).toEqual(createHmac('sha256', deriveKey(NEXT_SECRET, 'device-token')).update(data).digest());
  });

  it('accepts a MAC made under the current or the previous secret, and nothing else', () => {
    const rotated = rotatingMac({ current: NEXT_SECRET, previous: SECRET }, 'device-token');
    const before = rotatingMac({ current: SECRET }, 'device-token').sign(data);
    const afterwards = rotatingMac({ current: NEXT_SECRET }, 'device-token');

    expect(rotated.verify(data, before)).toBe(true);
    expect(rotated.verify(data, rotated.sign(data))).toBe(true);
    expect(afterwards.verify(data, before)).toBe(false);
    expect(rotated.verify(Buffer.from('session 1, generation 3'), before)).toBe(false);
  });

  it('keeps purposes apart: a MAC under one label does not pass under another', () => {
    const refresh = rotatingMac({ current: SECRET }, 'refresh-token');
    const device = rotatingMac({ current: SECRET }, 'device-token');

    expect(device.verify(data, refresh.sign(data))).toBe(false);
  });

  it('refuses a tag of another length rather than throwing', () => {
    const mac = rotatingMac({ current: SECRET }, 'refresh-token');

    expect(mac.verify(data, mac.sign(data).subarray(0, 31))).toBe(false);
    expect(mac.verify(data, Buffer.alloc(0))).toBe(false);
  });
});
