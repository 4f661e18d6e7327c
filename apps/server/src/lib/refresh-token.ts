import type { RotatingMac } from './keys.js';

/**
 * Refresh tokens are opaque to clients and derived, not stored: token = session id, rotation
 * generation and HMAC-SHA256(key, session id || generation), with a key derived from JWT_SECRET
 * (or, until a rotation is complete, from JWT_SECRET_PREVIOUS: see `rotatingMac`).
 * The database holds only the session id and the current generation, which yield no working token
 * without the key. Deriving (rather than storing a random value) is what lets a token rotated a
 * moment ago return the same successor within the reuse grace window.
 */
const VERSION = 1;
const SESSION_ID_BYTES = 16;
const MAC_BYTES = 32;
const TOKEN_BYTES = 1 + SESSION_ID_BYTES + 4 + MAC_BYTES;

export interface RefreshTokenParts {
  sessionId: string;
  generation: number;
}

export interface RefreshTokenCodec {
  issue(parts: RefreshTokenParts): string;
  /** The parts of a token this server issued, or undefined for anything else. */
  open(token: string): RefreshTokenParts | undefined;
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

function bytesToUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createRefreshTokenCodec(mac: RotatingMac): RefreshTokenCodec {
  return {
    issue({ sessionId, generation }) {
      const body = Buffer.alloc(1 + SESSION_ID_BYTES + 4);
      body.writeUInt8(VERSION, 0);
      uuidToBytes(sessionId).copy(body, 1);
      body.writeUInt32BE(generation, 1 + SESSION_ID_BYTES);
      return Buffer.concat([body, mac.sign(body)]).toString('base64url');
    },

    open(token) {
      if (typeof token !== 'string' || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
      const bytes = Buffer.from(token, 'base64url');
      // The last base64url character carries spare bits: accept only the one canonical spelling.
      if (bytes.length !== TOKEN_BYTES || bytes[0] !== VERSION || bytes.toString('base64url') !== token) return undefined;
      const body = bytes.subarray(0, TOKEN_BYTES - MAC_BYTES);
      if (!mac.verify(body, bytes.subarray(TOKEN_BYTES - MAC_BYTES))) return undefined;
      return {
        sessionId: bytesToUuid(body.subarray(1, 1 + SESSION_ID_BYTES)),
        generation: body.readUInt32BE(1 + SESSION_ID_BYTES),
      };
    },
  };
}
