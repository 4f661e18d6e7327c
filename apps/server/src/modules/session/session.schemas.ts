import { z } from 'zod';

const BLANK = "can't be blank";

export const refreshTokenSchema = z.string({ error: BLANK }).min(1, BLANK).max(512, 'is invalid');
export const refreshInput = z.object({ refreshToken: refreshTokenSchema });
export const revokeSessionInput = z.object({ sessionId: z.uuid({ error: 'is invalid' }) });
