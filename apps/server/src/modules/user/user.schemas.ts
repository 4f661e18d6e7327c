import { z } from 'zod';
import { emailSchema, existingPasswordSchema, newPasswordSchema, usernameSchema } from '../auth/auth.schemas.js';

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

export const changePasswordInput = z.object({ currentPassword: existingPasswordSchema, newPassword: newPasswordSchema });
