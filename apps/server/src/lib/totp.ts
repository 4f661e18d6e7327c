/**
 * TOTP (RFC 6238) as authenticator apps expect it: SHA-1, 6 digits, 30-second steps, a 20-byte
 * secret shown in base32. Codes are checked by otplib, which reports the time step a code matched
 * and refuses steps at or below the last one used; the caller stores that step atomically.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { generateURI, verify } from 'otplib';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
export const TOTP_SECRET_BYTES = 20;
/** Steps accepted either side of the current one (clock drift, the time to type). */
export const TOTP_WINDOW_STEPS = 1;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as otpauth URIs carry secrets. */
export function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function newTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** The otpauth:// URI an authenticator app scans (Key Uri Format), naming the issuer and the account. */
export function otpauthUri(secret: Uint8Array, issuer: string, account: string): string {
  return generateURI({
    issuer,
    label: account,
    secret: base32(secret),
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** A code as typed: six digits, spaces allowed between them. Undefined for anything else. */
export function totpCodeOf(input: string): string | undefined {
  const code = input.replace(/\s/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

/**
 * The time step `code` matches at `now` (within one step either side), if it is later than
 * `lastUsedStep`. Undefined for a wrong code, a replayed step, or a step out of the window.
 */
export async function matchTotp(secret: Uint8Array, code: string, now: Date, lastUsedStep: number): Promise<number | undefined> {
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    algorithm: 'sha1',
    ...(lastUsedStep >= 0 && { afterTimeStep: lastUsedStep }),
  });
  // A TOTP verification's result carries its time step (an HOTP one, its counter delta only).
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}

/** Recovery codes: 10 base32 characters (50 bits) each, from node:crypto. */
export const RECOVERY_CODE_COUNT = 10;
export const RECOVERY_CODE_LENGTH = 10;

export function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_CODE_LENGTH; i += 1) code += BASE32[randomInt(32)];
  return code;
}

/**
 * A recovery code as typed, in its stored form: upper case, without the spaces and dashes people
 * put in; undefined when it is not 10 base32 characters then. Bounded by the schema before this.
 */
export function recoveryCodeOf(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  return code.length === RECOVERY_CODE_LENGTH && /^[A-Z2-7]+$/.test(code) ? code : undefined;
}
