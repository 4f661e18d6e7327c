import { z } from 'zod';

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

const optionalText = (max: number) => z.string().trim().max(max, `is too long (maximum is ${max} characters)`).nullable().optional();

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
