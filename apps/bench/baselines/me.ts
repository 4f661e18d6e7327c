/**
 * The `user.me` floor: node:http, jose's jwtVerify with the server's options (src/lib/jwt.ts),
 * then ONE query for the user by id. No framework, no cache.
 */
import { createServer, type ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { openDatabase } from './database.js';
import { listen } from './listen.js';

const key = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const db = await openDatabase();

interface UserRow {
  id: string;
  email: string;
  username: string;
  bio: string | null;
  image: string | null;
  email_verified_at: Date | null;
  created_at: Date;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

const unauthorized = { error: { message: 'UNAUTHORIZED', code: -32001 } };

listen(
  createServer(async (req, res) => {
    const token = /^(?:bearer|token)[ \t]+([^\s]+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return send(res, 401, unauthorized);
    let userId: string;
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: 'latchkey',
        audience: 'latchkey',
        typ: 'at+jwt',
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
        clockTolerance: 5,
      });
      if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) return send(res, 401, unauthorized);
      userId = payload.sub;
    } catch {
      return send(res, 401, unauthorized);
    }
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
  }),
  'me',
);
