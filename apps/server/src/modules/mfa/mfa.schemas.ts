import { z } from 'zod';

const BLANK = "can't be blank";

/** A code of an authenticator app as typed (six digits; spaces allowed), bounded before it is looked at. */
export const totpCodeSchema = z.string({ error: BLANK }).min(1, BLANK).max(32, 'is invalid');
/** A recovery code as typed (ten base32 characters; case, spaces and dashes ignored). */
export const recoveryCodeSchema = z.string({ error: BLANK }).min(1, BLANK).max(64, 'is invalid');

const factorId = z.uuid({ error: 'is invalid' });

export const confirmTotpInput = z.object({ factorId, code: totpCodeSchema });
export const removeFactorInput = z.object({ factorId });
