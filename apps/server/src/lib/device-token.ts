import { randomBytes } from 'node:crypto';
import type { RotatingMac } from './keys.js';

/**
 * Device tokens (OWASP "device cookies"): a browser or app that once signed in to an account gets
 * one, and sends it back with its next logins, so that strangers failing to guess the password
 * cannot lock the owner out. Stateless: version, a random device id, an expiry, and
 * HMAC-SHA256(key, version || device id || expiry || user id), so a token counts only for the
 * account it was issued to, and the database holds nothing that makes one.
 */
const VERSION = 1;
const DEVICE_ID_BYTES = 16;
const EXPIRY_BYTES = 4;
const MAC_BYTES = 32;
const BODY_BYTES = 1 + DEVICE_ID_BYTES + EXPIRY_BYTES;
const TOKEN_BYTES = BODY_BYTES + MAC_BYTES;
/** Longer than any token this codec makes: the rest is refused before any work. */
const MAX_TOKEN_LENGTH = 128;

export const DEVICE_TOKEN_TTL_SECONDS = 365 * 24 * 60 * 60;

export interface DeviceTokenCodec {
  /** A token for `userId`; the same device id when a device signs in again (its back-off count follows it). */
  issue(userId: string, now: Date, deviceId?: string): string;
  /** The device id of a live token issued to `userId`, or undefined for anything else. */
  open(token: string | undefined, userId: string, now: Date): { deviceId: string } | undefined;
}

const uuidBytes = (uuid: string) => Buffer.from(uuid.replaceAll('-', ''), 'hex');

/** `mac` signs with the current secret's key and accepts the previous one's too (JWT_SECRET_PREVIOUS). */
export function createDeviceTokenCodec(mac: RotatingMac): DeviceTokenCodec {
  const signed = (body: Buffer, userId: string) => Buffer.concat([body, uuidBytes(userId)]);

  return {
    issue(userId, now, deviceId) {
      const body = Buffer.alloc(BODY_BYTES);
      body.writeUInt8(VERSION, 0);
      const id = deviceId === undefined ? randomBytes(DEVICE_ID_BYTES) : Buffer.from(deviceId, 'base64url');
      if (id.length !== DEVICE_ID_BYTES) throw new Error('a device id is 16 bytes');
      id.copy(body, 1);
      body.writeUInt32BE(Math.floor(now.getTime() / 1000) + DEVICE_TOKEN_TTL_SECONDS, 1 + DEVICE_ID_BYTES);
      return Buffer.concat([body, mac.sign(signed(body, userId))]).toString('base64url');
    },

    open(token, userId, now) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
      const bytes = Buffer.from(token, 'base64url');
      // Only the one canonical spelling: the last base64url character carries spare bits.
      if (bytes.length !== TOKEN_BYTES || bytes[0] !== VERSION || bytes.toString('base64url') !== token) return undefined;
      const body = bytes.subarray(0, BODY_BYTES);
      if (!mac.verify(signed(body, userId), bytes.subarray(BODY_BYTES))) return undefined;
      if (body.readUInt32BE(1 + DEVICE_ID_BYTES) * 1000 <= now.getTime()) return undefined;
      return { deviceId: body.subarray(1, 1 + DEVICE_ID_BYTES).toString('base64url') };
    },
  };
}
