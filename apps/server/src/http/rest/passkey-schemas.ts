/**
 * The REST bodies of passkeys, from the schemas auth.passkeys.* validate with. The ceremonies'
 * options and a browser's answers are WebAuthn's own JSON (what `@simplewebauthn/browser`'s
 * `startRegistration` / `startAuthentication` take and give): they pass as they are, in their
 * camelCase; only this API's own fields are snake_case.
 */
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import { verifyMfaInput } from '../../modules/account/account.schemas.js';
import {
  authenticatePasskeyInput,
  passkeyResponseInput,
  registerPasskeyInput,
  removePasskeyInput,
  renamePasskeyInput,
} from '../../modules/mfa/passkey.schemas.js';
import type { Passkey } from '../../modules/mfa/passkey.service.js';
import { emailSchema } from '../../modules/user/user.schemas.js';

/**
 * A browser's answer to a ceremony, as auth.passkeys.* take it: any JSON (the service reads it
 * with strict shapes, so that a malformed answer is 401/422 PASSKEY_INVALID like a wrong one),
 * but there. Missing is "can't be blank", and in a union the member that was meant is not
 * guessed from it (nonoptional is a type check, not a refinement).
 */
export const passkeyAnswer = (description: string) => passkeyResponseInput.nonoptional().meta({ description });

export const registerPasskeyBody = z.object({
  response: passkeyAnswer(
    'The JSON of the new credential (RegistrationResponseJSON, as `startRegistration` gives it) for the options of `POST /api/user/passkeys/registration-options`',
  ),
  name: registerPasskeyInput.shape.name.meta({ description: 'What to call it in the list (default "Passkey"), at most 64 characters' }),
});
export const renamePasskeyBody = z.object({ name: renamePasskeyInput.shape.name });
export const passkeyPath = z.object({ passkey_id: removePasskeyInput.shape.id });

/** Whether `body[key]` of a body that may be anything (the refinement below always runs) is present. */
function has(body: unknown, key: string): boolean {
  return typeof body === 'object' && body !== null && Object.entries(body).some(([name, value]) => name === key && value !== undefined);
}

/** Whose passkey may answer the sign-in's challenge: anyone's (`{}`), the account of an email, or a pending login's. */
export const loginPasskeyOptionsBody = z
  .object({
    email: emailSchema.optional().meta({
      description: "Only this account's passkeys will do. The answer is the same whether or not the address has an account.",
    }),
    mfa_token: verifyMfaInput.shape.mfaToken.optional().meta({
      description:
        'The `mfa_token` of a login that answered `mfa_required`: a passkey of its account, as the second factor (answer at `POST /api/users/login/mfa`)',
    }),
  })
  .refine((body) => !(has(body, 'email') && has(body, 'mfa_token')), {
    when: () => true,
    path: ['mfa_token'],
    message: 'give email or mfa_token, not both',
  });

export const loginPasskeyBody = z.object({
  challenge_id: authenticatePasskeyInput.shape.challengeId.meta({
    description: 'The `challenge_id` of `POST /api/users/login/passkey/options`',
  }),
  response: passkeyAnswer("The passkey's answer (AuthenticationResponseJSON, as `startAuthentication` gives it) to its `options`"),
});

/**
 * A WebAuthn JSON type (declared as interfaces) as the plain object type it is, which the open
 * schemas below accept: a value of the interface is assigned to it as is, no cast.
 */
type Plain<T> = T extends readonly (infer E)[] ? Plain<E>[] : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;
export type RegistrationOptionsJson = Plain<PublicKeyCredentialCreationOptionsJSON>;

/** A credential named in the options (WebAuthn's PublicKeyCredentialDescriptorJSON). */
const credentialDescriptorJson = z.looseObject({
  id: z.string().meta({ description: 'The credential id, base64url' }),
  type: z.string().meta({ description: '`public-key`' }),
  transports: z.array(z.string()).optional(),
});
const extensionsJson = z.looseObject({}).meta({ description: 'Extension inputs, e.g. `{ "credProps": true }`' });

/**
 * WebAuthn's PublicKeyCredentialCreationOptionsJSON, as the server made it: open (fields WebAuthn
 * adds later pass too); give it as it is to `startRegistration({ optionsJSON })`.
 */
export const registrationOptionsResponse = z.looseObject({
  rp: z.looseObject({ name: z.string(), id: z.string().optional().meta({ description: 'The RP ID (WEBAUTHN_RP_ID)' }) }),
  user: z.looseObject({
    id: z.string().meta({ description: "The account's random user handle, base64url (never its email or id)" }),
    name: z.string().meta({ description: 'The email' }),
    displayName: z.string().meta({ description: 'The username' }),
  }),
  challenge: z.string().meta({ description: '32 random bytes, base64url; single use, 5 minutes' }),
  pubKeyCredParams: z.array(z.looseObject({ alg: z.number().int(), type: z.string() })),
  timeout: z.number().optional().meta({ description: 'Milliseconds' }),
  excludeCredentials: z.array(credentialDescriptorJson).optional().meta({ description: "The account's passkeys" }),
  authenticatorSelection: z
    .looseObject({
      authenticatorAttachment: z.string().optional(),
      requireResidentKey: z.boolean().optional(),
      residentKey: z.string().optional(),
      userVerification: z.string().optional(),
    })
    .optional(),
  hints: z.array(z.string()).optional(),
  attestation: z.string().optional(),
  attestationFormats: z.array(z.string()).optional(),
  extensions: extensionsJson.optional(),
});

/** WebAuthn's PublicKeyCredentialRequestOptionsJSON; give it as it is to `startAuthentication({ optionsJSON })`. */
export const requestOptionsJson = z.looseObject({
  challenge: z.string().meta({ description: '32 random bytes, base64url; single use, 5 minutes' }),
  timeout: z.number().optional().meta({ description: 'Milliseconds' }),
  rpId: z.string().optional().meta({ description: 'The RP ID (WEBAUTHN_RP_ID)' }),
  allowCredentials: z
    .array(credentialDescriptorJson)
    .optional()
    .meta({ description: 'The passkeys that may answer; empty for anyone (usernameless, conditional UI) or for an email' }),
  userVerification: z.string().optional().meta({ description: '`required`' }),
  hints: z.array(z.string()).optional(),
  extensions: extensionsJson.optional(),
});

export const authenticationOptionsResponse = z.object({
  challenge_id: z.string().meta({ description: 'Send it back with the answer (`POST /api/users/login/passkey`)' }),
  options: requestOptionsJson,
});

export const passkeyJson = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.string().meta({ description: 'ISO 8601' }),
  last_used_at: z.string().nullable().meta({ description: 'ISO 8601: its last accepted assertion; null when never used' }),
  backed_up: z.boolean().meta({ description: 'Whether the authenticator says the key is backed up (synced) now' }),
  device_type: z.enum(['singleDevice', 'multiDevice']).meta({
    description: '`multiDevice`: backup-eligible (a synced passkey); `singleDevice`: bound to one authenticator',
  }),
});
export const passkeysResponse = z.object({ passkeys: z.array(passkeyJson).meta({ description: 'Oldest first' }) });
export const passkeyResponse = z.object({ passkey: passkeyJson });
export const registeredPasskeyResponse = z.object({
  passkey: passkeyJson,
  recovery_codes: z.array(z.string()).meta({
    description: "Shown this once, each works once: 10 codes with the account's first second factor; empty when it has codes already.",
  }),
});

export function toPasskeyJson(passkey: Passkey): z.input<typeof passkeyJson> {
  return {
    id: passkey.id,
    name: passkey.name,
    created_at: passkey.createdAt.toISOString(),
    last_used_at: passkey.lastUsedAt?.toISOString() ?? null,
    backed_up: passkey.backedUp,
    device_type: passkey.deviceType,
  };
}

export function toAuthenticationOptionsJson(answer: {
  challengeId: string;
  options: PublicKeyCredentialRequestOptionsJSON;
}): z.input<typeof authenticationOptionsResponse> {
  const options: Plain<PublicKeyCredentialRequestOptionsJSON> = answer.options;
  return { challenge_id: answer.challengeId, options };
}
