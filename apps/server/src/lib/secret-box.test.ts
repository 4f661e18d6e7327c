import { describe, expect, it } from 'vitest';
import { createSecretBox } from './secret-box.js';

const SECRET = 'the current secret, long enough for the tests';
const OLD = 'the secret before the rotation, also long enough';

describe('secret box', () => {
  it('opens what it sealed, for the same associated data only', () => {
    const box = createSecretBox({ current: SECRET }, 'totp-secret');
    const plaintext = Buffer.from('12345678901234567890');
    const sealed = box.seal(plaintext, 'factor-a');
    expect(sealed).not.toContain(plaintext.toString('base64url'));
    expect(box.open(sealed, 'factor-a')).toEqual(plaintext);
    expect(box.open(sealed, 'factor-b')).toBeUndefined();
    // Two seals of one secret differ (a fresh IV each time).
    expect(box.seal(plaintext, 'factor-a')).not.toBe(sealed);
  });

  it('refuses a tampered value, another label and another secret; opens the previous secret after a rotation', () => {
    const before = createSecretBox({ current: OLD }, 'totp-secret');
    const sealed = before.seal(Buffer.from('seed'), 'row');
    const bytes = Buffer.from(sealed, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    expect(before.open(bytes.toString('base64url'), 'row')).toBeUndefined();
    expect(createSecretBox({ current: OLD }, 'recovery-code').open(sealed, 'row')).toBeUndefined();
    expect(createSecretBox({ current: SECRET }, 'totp-secret').open(sealed, 'row')).toBeUndefined();
    expect(createSecretBox({ current: SECRET, previous: OLD }, 'totp-secret').open(sealed, 'row')).toEqual(Buffer.from('seed'));
    expect(before.open('', 'row')).toBeUndefined();
    expect(before.open('AQ', 'row')).toBeUndefined();
  });
});

describe('secret box rotation', () => {
  it('says whether the current secret sealed a value, so that what the previous one sealed can be sealed again', () => {
    const before = createSecretBox({ current: OLD }, 'totp-secret');
    const during = createSecretBox({ current: SECRET, previous: OLD }, 'totp-secret');
    const old = before.seal(Buffer.from('seed'), 'row');
    expect(during.openDetailed(old, 'row')).toEqual({ plaintext: Buffer.from('seed'), current: false });
    const again = during.seal(Buffer.from('seed'), 'row');
    expect(during.openDetailed(again, 'row')).toEqual({ plaintext: Buffer.from('seed'), current: true });
    expect(createSecretBox({ current: SECRET }, 'totp-secret').open(again, 'row')).toEqual(Buffer.from('seed'));
  });
});
