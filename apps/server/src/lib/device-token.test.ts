import { describe, expect, it } from 'vitest';
import { createDeviceTokenCodec, DEVICE_TOKEN_TTL_SECONDS } from './device-token.js';
import { rotatingMac } from './keys.js';

const CURRENT = 'device-token-test-secret-of-32-bytes-or-more';
const KEY = rotatingMac({ current: CURRENT }, 'device-token');
const USER = '3f2b8c1d-7a64-4e19-b0c5-d8e7f6a5b4c3';
const OTHER_USER = 'a1b2c3d4-e5f6-4789-8abc-def012345678';
const NOW = new Date('2026-06-01T00:00:00Z');

describe('device tokens', () => {
  const codec = createDeviceTokenCodec(KEY);

  it('open gives back the device id of a token issued to the same user', () => {
    const token = codec.issue(USER, NOW);
    const opened = codec.open(token, USER, NOW);
    expect(opened?.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // Signing in again from that device keeps its id.
    expect(codec.open(codec.issue(USER, NOW, opened?.deviceId), USER, NOW)).toEqual(opened);
    expect(codec.open(codec.issue(USER, NOW), USER, NOW)).not.toEqual(opened);
  });

  it("counts only for the account it was issued to: another user's token is nothing", () => {
    expect(codec.open(codec.issue(OTHER_USER, NOW), USER, NOW)).toBeUndefined();
  });

  it('lives a year, then is refused', () => {
    const token = codec.issue(USER, NOW);
    const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
    expect(codec.open(token, USER, later(DEVICE_TOKEN_TTL_SECONDS - 1))).toBeDefined();
    expect(codec.open(token, USER, later(DEVICE_TOKEN_TTL_SECONDS))).toBeUndefined();
  });

  it('a token made before a rotation of JWT_SECRET still counts while the old secret is JWT_SECRET_PREVIOUS', () => {
    const before = codec.issue(USER, NOW);
    const NEXT = 'the-next-device-token-secret-of-32-bytes-or-more';
    const rotated = createDeviceTokenCodec(rotatingMac({ current: NEXT, previous: CURRENT }, 'device-token'));
    expect(rotated.open(before, USER, NOW)).toEqual(codec.open(before, USER, NOW));
    expect(createDeviceTokenCodec(rotatingMac({ current: NEXT }, 'device-token')).open(before, USER, NOW)).toBeUndefined();
  });

  it('refuses a token made with another key, a tampered one, and anything that is not a token', () => {
    const token = codec.issue(USER, NOW);
    expect(
      createDeviceTokenCodec(rotatingMac({ current: 'another-secret-that-is-at-least-32-bytes' }, 'device-token')).open(token, USER, NOW),
    ).toBeUndefined();
    const bytes = Buffer.from(token, 'base64url');
    bytes[5] = (bytes[5] ?? 0) ^ 1;
    expect(codec.open(bytes.toString('base64url'), USER, NOW)).toBeUndefined();
    for (const junk of [undefined, '', 'x'.repeat(10_000), `${token}=`, token.replace(/.$/, '!')])
      expect(codec.open(junk, USER, NOW)).toBeUndefined();
  });
});
