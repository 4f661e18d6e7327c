/**
 * Accounts and sessions made through the server's own API: a refresh token can only come from it.
 * Each registration is one bcrypt hash at the configured cost, so they go a few at a time.
 */
import type { Seed } from '../baselines/database.js';

export const PASSWORD = 'latchkey bench: correct horse battery';

export interface SeededUser {
  id: string;
  email: string;
  username: string;
  createdAt: string;
  accessToken: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
}

interface RegisterAnswer {
  result?: {
    data?: {
      json?: {
        user: { id: string; email: string; username: string; createdAt: string };
        accessToken: string;
        refreshToken: string;
        refreshTokenExpiresAt: string;
      };
    };
  };
}

/** POSTs a tRPC mutation; throws with the server's answer unless it is 200. */
export async function mutation(baseUrl: string, path: string, input: unknown, timeoutMs = 120_000): Promise<unknown> {
  const response = await fetch(`${baseUrl}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ json: input }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export async function registerUsers(baseUrl: string, count: number, progress: (message: string) => void): Promise<SeededUser[]> {
  const users: SeededUser[] = new Array(count);
  let next = 0;
  let done = 0;
  // Four at a time keeps libuv's four threads hashing without queueing the rest behind them.
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const name = `bench${String(i).padStart(6, '0')}`;
      const answer = (await mutation(baseUrl, 'auth.register', {
        username: name,
        email: `${name}@example.com`,
        password: PASSWORD,
      })) as RegisterAnswer;
      const session = answer.result?.data?.json;
      if (!session) throw new Error('auth.register answered without a session');
      users[i] = {
        id: session.user.id,
        email: session.user.email,
        username: session.user.username,
        createdAt: session.user.createdAt,
        accessToken: session.accessToken,
        refreshToken: session.refreshToken,
        refreshTokenExpiresAt: session.refreshTokenExpiresAt,
      };
      done += 1;
      if (done % 25 === 0 && done < count) progress(`registered ${done} of ${count}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return users;
}

/**
 * The session a refresh token names (src/lib/refresh-token.ts: version byte, 16-byte session id,
 * 4-byte generation, MAC). Only the embedded baselines need it, to hold the same sessions.
 */
export function sessionOf(refreshToken: string): { sessionId: string; generation: number } {
  const bytes = Buffer.from(refreshToken, 'base64url');
  const hex = bytes.subarray(1, 17).toString('hex');
  return {
    sessionId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    generation: bytes.readUInt32BE(17),
  };
}

/** The same users and sessions, for a baseline's own embedded database. */
export function baselineSeed(users: readonly SeededUser[]): Seed {
  const absolute = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  return {
    users: users.map((u) => ({ id: u.id, email: u.email, username: u.username, created_at: u.createdAt })),
    sessions: users.map((u) => {
      const { sessionId, generation } = sessionOf(u.refreshToken);
      return { id: sessionId, user_id: u.id, generation, expires_at: u.refreshTokenExpiresAt, absolute_expires_at: absolute };
    }),
  };
}
