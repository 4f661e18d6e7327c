/** What the `me` baselines answer once they know the user: ONE query by id, shaped as user.me's body. */
import type { ServerResponse } from 'node:http';
import type { Queryable } from './database.js';

interface UserRow {
  id: string;
  email: string;
  username: string;
  bio: string | null;
  image: string | null;
  email_verified_at: Date | null;
  created_at: Date;
}

export function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export const unauthorized = { error: { message: 'UNAUTHORIZED', code: -32001 } };

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The bearer token of the request, parsed as the server does, or undefined. */
export function bearer(authorization: string | undefined): string | undefined {
  return /^(?:bearer|token)[ \t]+([^\s]+)[ \t]*$/i.exec(authorization ?? '')?.[1];
}

export async function answerMe(db: Queryable, userId: string, res: ServerResponse): Promise<void> {
  try {
    const [row] = await db.query<UserRow>(
      'select id, email, username, bio, image, email_verified_at, created_at from users where id = $1',
      [userId],
    );
    if (!row) return send(res, 401, unauthorized);
    const { email_verified_at, created_at, ...rest } = row;
    send(res, 200, { result: { data: { json: { ...rest, emailVerified: email_verified_at !== null, createdAt: created_at } } } });
  } catch {
    send(res, 500, { error: { message: 'Internal server error' } });
  }
}
