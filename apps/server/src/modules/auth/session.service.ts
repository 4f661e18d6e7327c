import type { Db } from '../../db/database.js';
import type { Revocations } from '../../db/revocations.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { createSessionRevoker } from './auth.service.js';
import { listLiveSessions } from './session.repository.js';

export interface SessionInfo {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
}

/** A user's view of their own sessions: list them, end one, end all. */
export function createSessionService(deps: { db: Db; clock: Clock; revocations: Revocations }) {
  const { db, clock } = deps;
  const revoke = createSessionRevoker(deps);

  return {
    async list(userId: string, currentSessionId: string): Promise<SessionInfo[]> {
      const rows = await listLiveSessions(db, userId, clock.now());
      return rows.map((row) => ({
        id: row.id,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        expiresAt: row.expires_at,
        userAgent: row.user_agent,
        ip: row.ip,
        current: row.id === currentSessionId,
      }));
    },

    /** Ends one of the user's own sessions; another user's id is answered as unknown. */
    async revoke(userId: string, sessionId: string): Promise<void> {
      const revoked = await revoke({ userId, sessionId }, 'revoked');
      if (revoked === 0) throw new AppError('SESSION_NOT_FOUND');
    },

    /** Ends every live session of the user, the calling one included. */
    async revokeAll(userId: string): Promise<{ revoked: number }> {
      return { revoked: await revoke({ userId }, 'logout_all') };
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
