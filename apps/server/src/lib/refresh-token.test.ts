import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveKey, rotatingMac } from './keys.js';
import { createRefreshTokenCodec } from './refresh-token.js';

const SECRET = 'refresh-test-secret-at-least-32-bytes!!';
const OTHER_SECRET = 'another-refresh-secret-at-least-32-bytes';
const KEY = deriveKey(SECRET, 'refresh-token');
const codecOf = (current: string, previous?: string) => createRefreshTokenCodec(rotatingMac({ current, previous }, 'refresh-token'));
const SESSION_ID = '6c1f2e3d-4b5a-4697-8877-a6b5c4d3e2f1';
const OTHER_SESSION_ID = 'd4c3b2a1-0f9e-48d7-96c5-b4a392817065';
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Version byte, 16-byte session id, 32-bit generation: everything before the MAC. */
const BODY_BYTES = 1 + 16 + 4;

const codec = codecOf(SECRET);

describe('refresh tokens', () => {
  it('open returns the session id and generation that issue put in', () => {
    for (const generation of [0, 1, 41, 2 ** 32 - 1]) {
      expect(codec.open(codec.issue({ sessionId: SESSION_ID, generation }))).toEqual({ sessionId: SESSION_ID, generation });
    }
  });

  it('is base64url text', () => {
    expect(codec.issue({ sessionId: SESSION_ID, generation: 3 })).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('carries at least 256 bits of key-dependent MAC after the session id and generation', () => {
    const ours = Buffer.from(codec.issue({ sessionId: SESSION_ID, generation: 3 }), 'base64url');
    const theirs = Buffer.from(codecOf(OTHER_SECRET).issue({ sessionId: SESSION_ID, generation: 3 }), 'base64url');

    expect(ours.length - BODY_BYTES).toBeGreaterThanOrEqual(32);
    expect(ours.subarray(0, BODY_BYTES)).toEqual(theirs.subarray(0, BODY_BYTES));
    expect(ours.subarray(BODY_BYTES)).not.toEqual(theirs.subarray(BODY_BYTES));
  });

  it('is the same for the same session and generation, so the grace window can hand back the same successor', () => {
    const again = codecOf(`${SECRET}`);

    expect(codec.issue({ sessionId: SESSION_ID, generation: 8 })).toBe(codec.issue({ sessionId: SESSION_ID, generation: 8 }));
    expect(again.issue({ sessionId: SESSION_ID, generation: 8 })).toBe(codec.issue({ sessionId: SESSION_ID, generation: 8 }));
  });

  it('differs between generations of one session and between sessions', () => {
    const tokens = new Set([
      codec.issue({ sessionId: SESSION_ID, generation: 0 }),
      codec.issue({ sessionId: SESSION_ID, generation: 1 }),
      codec.issue({ sessionId: SESSION_ID, generation: 2 }),
      codec.issue({ sessionId: OTHER_SESSION_ID, generation: 1 }),
    ]);

    expect(tokens.size).toBe(4);
  });
});

describe('refresh tokens across a rotation of JWT_SECRET', () => {
  const before = codec.issue({ sessionId: SESSION_ID, generation: 5 });

  it('are MACed under the key HKDF derives from the secret with the label latchkey:refresh-token, as before rotations existed', () => {
    const bytes = Buffer.from(before, 'base64url');
    const expected = createHmac('sha256', KEY).update(bytes.subarray(0, BODY_BYTES)).digest();

    expect(bytes.subarray(BODY_BYTES)).toEqual(expected);
  });

  it('a token MACed under the previous secret is still opened while JWT_SECRET_PREVIOUS holds it', () => {
    const rotated = codecOf(OTHER_SECRET, SECRET);

    expect(rotated.open(before)).toEqual({ sessionId: SESSION_ID, generation: 5 });
  });

  it('new tokens are MACed under the current secret only', () => {
    const rotated = codecOf(OTHER_SECRET, SECRET);
    const issued = rotated.issue({ sessionId: SESSION_ID, generation: 6 });

    expect(issued).toBe(codecOf(OTHER_SECRET).issue({ sessionId: SESSION_ID, generation: 6 }));
    expect(codec.open(issued)).toBeUndefined();
  });

  it('once the previous secret is removed, what it MACed is refused', () => {
    expect(codecOf(OTHER_SECRET).open(before)).toBeUndefined();
  });
});

describe('refresh tokens refused', () => {
  const token = codec.issue({ sessionId: SESSION_ID, generation: 5 });

  it('any single-character change is refused', () => {
    const accepted: string[] = [];
    for (let i = 0; i < token.length; i++) {
      for (const c of BASE64URL_ALPHABET) {
        if (c === token[i]) continue;
        const changed = `${token.slice(0, i)}${c}${token.slice(i + 1)}`;
        if (codec.open(changed) !== undefined) accepted.push(`position ${i}: ${token[i]} -> ${c}`);
      }
    }

    expect(accepted).toEqual([]);
  });

  it('a token issued under another key is refused', () => {
    const foreign = codecOf(OTHER_SECRET).issue({ sessionId: SESSION_ID, generation: 5 });

    expect(codec.open(foreign)).toBeUndefined();
  });

  it('a token of the wrong length is refused', () => {
    const bytes = Buffer.from(token, 'base64url');

    expect(codec.open('')).toBeUndefined();
    expect(codec.open(token.slice(0, -1))).toBeUndefined();
    expect(codec.open(bytes.subarray(0, -1).toString('base64url'))).toBeUndefined();
    expect(codec.open(Buffer.concat([bytes, Buffer.from([0])]).toString('base64url'))).toBeUndefined();
  });

  it('a token with another version byte is refused, even with a correct MAC over it', () => {
    const body = Buffer.from(token, 'base64url').subarray(0, BODY_BYTES);
    body.writeUInt8(2, 0);
    const mac = createHmac('sha256', KEY).update(body).digest();

    expect(codec.open(Buffer.concat([body, mac]).toString('base64url'))).toBeUndefined();
  });

  it('characters outside base64url are refused', () => {
    const standardBase64 = Buffer.from(token, 'base64url').toString('base64');

    for (const c of ['+', '/', '=', ' ', '.', '\n', 'é']) {
      expect(codec.open(`${token.slice(0, 10)}${c}${token.slice(11)}`)).toBeUndefined();
    }
    expect(codec.open(`${token}=`)).toBeUndefined();
    expect(codec.open(` ${token}`)).toBeUndefined();
    expect(codec.open(standardBase64)).toBeUndefined();
  });

  it('huge input is refused', () => {
    expect(codec.open('A'.repeat(1_000_000))).toBeUndefined();
    expect(codec.open(`${token}${'A'.repeat(100_000)}`)).toBeUndefined();
  });

  it('a value that is not a string is refused rather than throwing', () => {
    for (const value of [undefined, null, 42, { token }]) {
      expect(codec.open(value as unknown as string)).toBeUndefined();
    }
  });
});
