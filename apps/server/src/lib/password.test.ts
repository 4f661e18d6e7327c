import { describe, expect, it } from 'vitest';
import { COMMON_PASSWORD_COUNT, createPasswordHasher, normalizePassword, passwordProblems } from './password.js';

const hasher = createPasswordHasher(4);

describe('password hashing', () => {
  it('a hash verifies its own password and no other', async () => {
    const hash = await hasher.hash('tangerine-lantern-42');

    expect(await hasher.verify('tangerine-lantern-42', hash)).toBe(true);
    expect(await hasher.verify('tangerine-lantern-43', hash)).toBe(false);
  });

  it('hashes with bcrypt at the cost given, salted afresh each time', async () => {
    const first = await hasher.hash('tangerine-lantern-42');
    const second = await hasher.hash('tangerine-lantern-42');

    expect(first).toMatch(/^\$2[aby]\$04\$/);
    expect(first).not.toBe(second);
  });

  it('bytes after the 72nd count: same 72 bytes and a different 73rd do not verify', async () => {
    const prefix = 'x'.repeat(72);
    const hash = await hasher.hash(`${prefix}a`);

    expect(await hasher.verify(`${prefix}a`, hash)).toBe(true);
    expect(await hasher.verify(`${prefix}b`, hash)).toBe(false);
    expect(await hasher.verify(prefix, hash)).toBe(false);
  });

  it('verify against a hash that is not a bcrypt hash returns false instead of throwing', async () => {
    const truncated = (await hasher.hash('tangerine-lantern-42')).slice(0, 20);

    for (const garbage of ['', 'not-a-bcrypt-hash', '$2b$04$', truncated]) {
      expect(await hasher.verify('tangerine-lantern-42', garbage)).toBe(false);
    }
  });

  it('verifyNothing resolves false, even for the password behind its dummy hash', async () => {
    expect(await hasher.verifyNothing('tangerine-lantern-42')).toBe(false);
    expect(await hasher.verifyNothing('latchkey: no such account')).toBe(false);
  });
});

describe('normalizePassword', () => {
  it('the composed (NFC) and decomposed (NFD) spellings of a text normalise alike', () => {
    const composed = 'Crème brûlée à la française'.normalize('NFC');
    const decomposed = composed.normalize('NFD');
    expect(composed).not.toBe(decomposed);

    expect(normalizePassword(decomposed)).toBe(normalizePassword(composed));
  });

  it('a password set in NFC verifies when typed in NFD', async () => {
    const composed = 'Crème brûlée à la française'.normalize('NFC');
    const hash = await hasher.hash(normalizePassword(composed));

    expect(await hasher.verify(normalizePassword(composed.normalize('NFD')), hash)).toBe(true);
  });
});

describe('passwordProblems', () => {
  it('fewer than 8 code points is too short, counting code points rather than UTF-16 units', () => {
    expect(passwordProblems('qz7#vk2')).toEqual(['is too short (minimum is 8 characters)']);
    expect(passwordProblems('🦊🐙🦉🐝🦀🐢🦔')).toEqual(['is too short (minimum is 8 characters)']);
    expect(passwordProblems('qz7#vk2m')).toEqual([]);
  });

  it('more than 256 code points is too long, while 256 multi-byte characters are accepted', () => {
    expect(passwordProblems('q'.repeat(257))).toEqual(['is too long (maximum is 256 characters)']);
    expect(passwordProblems('🦊'.repeat(257))).toEqual(['is too long (maximum is 256 characters)']);
    expect(passwordProblems('🦊'.repeat(256))).toEqual([]);
    expect(passwordProblems('é'.repeat(256))).toEqual([]);
  });

  it('common passwords are refused whatever their case', () => {
    expect(passwordProblems('password1')).toEqual(['is too common']);
    expect(passwordProblems('PassWord1')).toEqual(['is too common']);
  });

  it("every entry of 8+ characters of the 1,000,000 most common is refused, down to the last rank, the tutorial's passwordnew included", () => {
    expect(COMMON_PASSWORD_COUNT).toBe(474_743);
    expect(passwordProblems('passwordnew')).toEqual(['is too common']); // rank 277,753
    expect(passwordProblems('Vjht0409')).toEqual(['is too common']); // the list's last entry of 8 characters
    expect(passwordProblems('correct horse battery')).toEqual([]);
  });

  it('a long uncommon passphrase is accepted', () => {
    expect(passwordProblems('lighthouse keepers dream of copper kettles')).toEqual([]);
  });
});

describe('hashing never starves token checks', () => {
  it("on worker threads (the default), a flood of hashes leaves libuv's pool to everything else", async () => {
    const hasher = createPasswordHasher(10);
    const stored = await hasher.hash('a long enough passphrase');
    const order: string[] = [];
    const flood = Array.from({ length: 8 }, (_, i) =>
      hasher.verify('a long enough passphrase', stored).then((ok) => order.push(`bcrypt${i}:${ok}`)),
    );
    const key = await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    await crypto.subtle.sign('HMAC', key, new Uint8Array(64)).then(() => order.push('hmac'));
    await Promise.all(flood);
    expect(order[0]).toBe('hmac');
    expect(order.filter((o) => o.endsWith(':true'))).toHaveLength(8);
  });

  it("a WebCrypto HMAC (jose's HS256) started during a login flood finishes before any of the hashes", async () => {
    const hasher = createPasswordHasher(10);
    const stored = await hasher.hash('a long enough passphrase');
    const order: string[] = [];
    // Six verifications at once: more than libuv's four threads, which would all be taken without a bound.
    const flood = Array.from({ length: 6 }, (_, i) =>
      hasher.verify('a long enough passphrase', stored).then(() => order.push(`bcrypt${i}`)),
    );
    const key = await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    await crypto.subtle.sign('HMAC', key, new Uint8Array(64)).then(() => order.push('hmac'));
    await Promise.all(flood);
    expect(order[0]).toBe('hmac');
    expect(order).toHaveLength(7);
  });
});
