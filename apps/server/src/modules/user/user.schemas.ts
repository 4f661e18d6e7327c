import { z } from 'zod';
import { hasNoNul, NUL_MESSAGE } from '../../lib/errors.js';

const BLANK = "can't be blank";

/**
 * Raw bounds, checked on the string as sent, before it is normalised, trimmed or matched (a check
 * with `abort` stops the checks after it; a failed one before `.transform` stops the transform).
 * They leave room for whitespace that trimming removes; the rules after them keep their messages.
 */
export const EMAIL_RAW_MAX_LENGTH = 320;
export const USERNAME_RAW_MAX_LENGTH = 200;

export const emailSchema = z
  .string({ error: BLANK })
  .max(EMAIL_RAW_MAX_LENGTH, 'is too long (maximum is 254 characters)')
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
  .max(USERNAME_RAW_MAX_LENGTH, { error: 'is too long (maximum is 50 characters)', abort: true })
  .trim()
  .min(1, BLANK)
  .min(3, 'is too short (minimum is 3 characters)')
  .max(50, 'is too long (maximum is 50 characters)')
  .regex(/^[\p{L}\p{N}._-]+$/u, 'may contain only letters, digits, ".", "_" and "-"');

const optionalText = (max: number) =>
  z
    .string()
    .max(max * 2, { error: `is too long (maximum is ${max} characters)`, abort: true })
    .refine(hasNoNul, { error: NUL_MESSAGE, abort: true })
    .trim()
    .max(max, `is too long (maximum is ${max} characters)`)
    .nullable()
    .optional();

export const updateInput = z.object({
  username: usernameSchema.optional(),
  email: emailSchema.optional(),
  bio: optionalText(2_000),
  // An http(s) URL, or "" / null to clear it.
  image: optionalText(2_048).refine(
    (value) => value === undefined || value === null || value === '' || (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)),
    'must be an http(s) URL',
  ),
});
