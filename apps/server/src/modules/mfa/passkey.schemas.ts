import { z } from 'zod';
import { emailSchema } from '../user/user.schemas.js';

const BLANK = "can't be blank";
const base64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/);

/**
 * A browser's answer to a ceremony (`startRegistration` / `startAuthentication`), as it arrives:
 * anything, bounded only by the request's size. The service reads it with the strict shapes
 * below, so that a malformed answer is PASSKEY_INVALID like a wrong one, never a 5xx.
 */
export const passkeyResponseInput = z.unknown().describe('The JSON of a WebAuthn credential, as @simplewebauthn/browser gives it');

/** Every field bounded before anything decodes it (a credential id is at most 1023 bytes). */
const credentialFields = {
  id: base64url(1400).min(1),
  rawId: base64url(1400).min(1),
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string().max(64), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};
const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;

export const registrationResponseSchema = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url(4096).min(1),
    attestationObject: base64url(32_768).min(1),
    authenticatorData: base64url(32_768).optional(),
    transports: z.array(z.enum(TRANSPORTS)).max(TRANSPORTS.length).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64url(4096).optional(),
  }),
});

export const authenticationResponseSchema = z.object({
  ...credentialFields,
  response: z.object({
    clientDataJSON: base64url(4096).min(1),
    authenticatorData: base64url(8192).min(1),
    signature: base64url(1024).min(1),
    userHandle: base64url(128).optional(),
  }),
});

const passkeyId = z.uuid({ error: 'is invalid' });
const passkeyName = z
  .string({ error: BLANK })
  .trim()
  .min(1, BLANK)
  .max(64, 'is too long (maximum is 64 characters)')
  .regex(/^[^\p{Cc}]*$/u, 'may not contain control characters');

export const registerPasskeyInput = z.object({ response: passkeyResponseInput, name: passkeyName.optional() });
export const renamePasskeyInput = z.object({ id: passkeyId, name: passkeyName });
export const removePasskeyInput = z.object({ id: passkeyId });

/**
 * Whose passkey may answer: anyone's (usernameless, or conditional UI), the account of an email
 * (the answer is the same whether it exists or not), the pending sign-in of a login that asked
 * for a second factor, or the signed-in user re-authenticating.
 */
export const authenticationOptionsInput = z
  .union([
    z.object({ email: emailSchema }).strict(),
    z.object({ mfaToken: z.string({ error: BLANK }).min(1, BLANK).max(256, 'is invalid') }).strict(),
    z.object({ reauthenticate: z.literal(true) }).strict(),
    z.object({}).strict(),
  ])
  .optional();

export const authenticatePasskeyInput = z.object({ challengeId: z.uuid({ error: 'is invalid' }), response: passkeyResponseInput });

export type AuthenticationOptionsInput = z.output<typeof authenticationOptionsInput>;
