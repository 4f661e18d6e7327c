import { z } from 'zod';
import { normalizePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblems } from '../../lib/password.js';

const BLANK = "can't be blank";

export const emailSchema = z
  .string({ error: BLANK })
  // NFKC folds look-alikes into the letters they imitate (the Kelvin sign into K), so that they
  // collide with the address they imitate instead of becoming a second account or reset target.
  .transform((email) => email.normalize('NFKC').trim())
  .pipe(
    z
      .string()
      .min(1, BLANK)
      .max(254, 'is too long (maximum is 254 characters)')
      .pipe(z.email({ error: 'is invalid' })),
  );

export const usernameSchema = z
  .string({ error: BLANK })
  .trim()
  .min(1, BLANK)
  .min(3, 'is too short (minimum is 3 characters)')
  .max(50, 'is too long (maximum is 50 characters)')
  .regex(/^[\p{L}\p{N}._-]+$/u, 'may contain only letters, digits, ".", "_" and "-"');

/** A password being set: normalised, then held to the length rule and the common-password list. */
export const newPasswordSchema = z
  .string({ error: BLANK })
  .min(1, BLANK)
  .transform(normalizePassword)
  .superRefine((password, ctx) => {
    for (const message of passwordProblems(password)) ctx.addIssue({ code: 'custom', message });
  });

/** A password being checked: only normalised and bounded; the rules of the day it was set may differ. */
export const existingPasswordSchema = z
  .string({ error: BLANK })
  .min(1, BLANK)
  .max(PASSWORD_MAX_LENGTH * 4, 'is too long')
  .transform(normalizePassword);

export const refreshTokenSchema = z.string({ error: BLANK }).min(1, BLANK).max(512, 'is invalid');

export const registerInput = z.object({ username: usernameSchema, email: emailSchema, password: newPasswordSchema });
export const loginInput = z.object({ email: emailSchema, password: existingPasswordSchema });
export const refreshInput = z.object({ refreshToken: refreshTokenSchema });

export const tokenInput = z.object({ token: z.string({ error: BLANK }).min(1, BLANK).max(256, 'is invalid') });
export const forgotPasswordInput = z.object({ email: emailSchema });
export const resetPasswordInput = z.object({ token: tokenInput.shape.token, newPassword: newPasswordSchema });

export type RegisterInput = z.output<typeof registerInput>;
export type LoginInput = z.output<typeof loginInput>;

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH };
