import { z } from 'zod';

const BLANK = "can't be blank";

export const exchangeCodeInput = z.object({ code: z.string({ error: BLANK }).min(1, BLANK).max(256, 'is invalid') });
export const linkStartInput = z.object({
  provider: z
    .string({ error: BLANK })
    .min(1, BLANK)
    .max(64, 'is invalid')
    .regex(/^[a-z0-9]+$/, 'is invalid'),
  redirectTo: z.string({ error: BLANK }).min(1, BLANK).max(2048, 'is too long'),
});
export const unlinkInput = z.object({ identityId: z.uuid({ error: 'is invalid' }) });
export const linkCompleteInput = z.object({ code: exchangeCodeInput.shape.code });
