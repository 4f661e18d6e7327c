import { z } from 'zod';

const BLANK = "can't be blank";

// Refresh tokens are 71 characters; the bound only keeps hostile input small (an access token, 530, is refused as invalid, not as malformed).
export const refreshTokenSchema = z.string({ error: BLANK }).min(1, BLANK).max(1024, 'is invalid');
export const refreshInput = z.object({ refreshToken: refreshTokenSchema });
export const revokeSessionInput = z.object({ sessionId: z.uuid({ error: 'is invalid' }) });
