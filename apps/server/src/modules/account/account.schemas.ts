import { z } from 'zod';
import {
  normalizePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  PASSWORD_RAW_MAX_LENGTH,
  passwordProblems,
} from '../../lib/password.js';
import { recoveryCodeSchema, totpCodeSchema } from '../mfa/mfa.schemas.js';
import { passkeyResponseInput } from '../mfa/passkey.schemas.js';
import { emailSchema, updateInput, usernameSchema } from '../user/user.schemas.js';

const BLANK = "can't be blank";

/**
 * A password being set: bounded as sent (nothing below runs on a longer one), normalised, then held
 * to the length rule and the common-password list.
 */
export const newPasswordSchema = z
  .string({ error: BLANK })
  .min(1, BLANK)
  .max(PASSWORD_RAW_MAX_LENGTH, `is too long (maximum is ${PASSWORD_MAX_LENGTH} characters)`)
  .transform(normalizePassword)
  .superRefine((password, ctx) => {
    for (const message of passwordProblems(password)) ctx.addIssue({ code: 'custom', message });
  });

/** A password being checked: only bounded as sent, then normalised; the rules of the day it was set may differ. */
export const existingPasswordSchema = z
  .string({ error: BLANK })
  .min(1, BLANK)
  .max(PASSWORD_RAW_MAX_LENGTH, 'is too long')
  .transform(normalizePassword);

export const registerInput = z.object({ username: usernameSchema, email: emailSchema, password: newPasswordSchema });
export const loginInput = z.object({
  email: emailSchema,
  password: existingPasswordSchema,
  /** The device token of an earlier login to this account from this device; anything else counts as none. */
  deviceToken: z.string().max(256, 'is invalid').optional(),
});

export const tokenInput = z.object({ token: z.string({ error: BLANK }).min(1, BLANK).max(256, 'is invalid') });
export const forgotPasswordInput = z.object({ email: emailSchema });
export const resetPasswordInput = z.object({ token: tokenInput.shape.token, newPassword: newPasswordSchema });

/** Without `currentPassword`, a password change needs a re-authentication within REAUTH_MAX_AGE. */
export const changePasswordInput = z.object({ currentPassword: existingPasswordSchema.optional(), newPassword: newPasswordSchema });
/** A new address needs `currentPassword` or a re-authentication within REAUTH_MAX_AGE; the profile needs neither. */
export const updateAccountInput = updateInput.extend({ currentPassword: existingPasswordSchema.optional() });

/**
 * The proof of identity: the password, a code of the authenticator app, a recovery code, or a
 * passkey's assertion (options from auth.passkeys.authenticationOptions({ reauthenticate: true })).
 */
export const reauthenticateInput = z.union([
  z.object({ password: existingPasswordSchema }),
  z.object({ code: totpCodeSchema }),
  z.object({ recoveryCode: recoveryCodeSchema }),
  z.object({ passkey: passkeyResponseInput.nonoptional() }),
]);

/**
 * The second step of a login: its pending sign-in's token and one factor (a code of the
 * authenticator app, a recovery code, or a passkey's assertion for authenticationOptions({ mfaToken })).
 */
export const verifyMfaInput = z
  .object({
    mfaToken: z.string({ error: BLANK }).min(1, BLANK).max(256, 'is invalid'),
    code: totpCodeSchema.optional(),
    recoveryCode: recoveryCodeSchema.optional(),
    passkey: passkeyResponseInput.optional(),
  })
  .refine((input) => [input.code, input.recoveryCode, input.passkey].filter((value) => value !== undefined).length === 1, {
    message: 'give one of code, recoveryCode or passkey',
    path: ['code'],
  });

export type RegisterInput = z.output<typeof registerInput>;
export type LoginInput = z.output<typeof loginInput>;
export type VerifyMfaInput = z.output<typeof verifyMfaInput>;
export type ReauthenticateInput = z.output<typeof reauthenticateInput>;

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };
