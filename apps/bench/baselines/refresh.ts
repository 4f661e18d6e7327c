/**
 * The `auth.refresh` floor: node:http, the statements the server's refresh runs
 * (auth.service.ts refresh(), session.repository.ts: one UPDATE ... RETURNING for the current
 * token of a live session; otherwise BEGIN; SELECT ... FOR UPDATE; UPDATE; COMMIT) and ONE jose sign
 * (the server's algorithm: EdDSA by default, see access-key.ts). It accepts the server's refresh tokens: they are an HMAC over the session id
 * and its generation, keyed by HKDF(JWT_SECRET, 'latchkey:refresh-token') (src/lib/keys.ts,
 * src/lib/refresh-token.ts), and the few lines deriving them are copied here.
 */
import { createHmac, hkdfSync, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import { accessKey } from './access-key.js';
import { openDatabase } from './database.js';
import { listen } from './listen.js';

const secret = process.env.JWT_SECRET ?? '';
const access = await accessKey();
const refreshKey = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'latchkey:refresh-token', 32));
const ACCESS_TTL_SECONDS = Number(process.env.ACCESS_TOKEN_TTL_SECONDS ?? 900);
// The server's defaults (REFRESH_IDLE_TTL, REFRESH_REUSE_GRACE); the harness does not change them.
const IDLE_TTL_MS = 7 * 24 * 3600 * 1000;
const REUSE_GRACE_MS = 10_000;
const TOKEN_BYTES = 1 + 16 + 4 + 32;
const db = await openDatabase();

const mac = (body: Buffer) => createHmac('sha256', refreshKey).update(body).digest();

function issue(sessionId: string, generation: number): string {
  const body = Buffer.alloc(1 + 16 + 4);
  body.writeUInt8(1, 0);
  Buffer.from(sessionId.replaceAll('-', ''), 'hex').copy(body, 1);
  body.writeUInt32BE(generation, 17);
  return Buffer.concat([body, mac(body)]).toString('base64url');
}

function open(token: unknown): { sessionId: string; generation: number } | undefined {
  if (typeof token !== 'string' || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== TOKEN_BYTES || bytes[0] !== 1 || bytes.toString('base64url') !== token) return undefined;
  const body = bytes.subarray(0, TOKEN_BYTES - 32);
  if (!timingSafeEqual(mac(body), bytes.subarray(TOKEN_BYTES - 32))) return undefined;
  const hex = body.subarray(1, 17).toString('hex');
  return {
    sessionId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    generation: body.readUInt32BE(17),
  };
}

interface SessionRow {
  id: string;
  user_id: string;
  generation: number;
  rotated_at: Date | null;
  expires_at: Date;
  absolute_expires_at: Date;
  revoked_at: Date | null;
}

type Outcome = { ok: true; userId: string; sessionId: string; generation: number; expiresAt: Date } | { ok: false };

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

async function refresh(token: unknown): Promise<Outcome> {
  const presented = open(token);
  if (!presented) return { ok: false };
  const now = new Date();
  // The current token of a live session: one statement, as the server's advanceCurrentSession.
  const [advanced] = await db.query<Pick<SessionRow, 'user_id' | 'generation' | 'expires_at'>>(
    `update sessions set generation = $2 + 1, rotated_at = $3, last_used_at = $3, expires_at = least($4::timestamptz, absolute_expires_at)
     where id = $1 and generation = $2 and revoked_at is null and expires_at > $3
     returning user_id, generation, expires_at`,
    [presented.sessionId, presented.generation, now, new Date(now.getTime() + IDLE_TTL_MS)],
  );
  if (advanced) {
    return {
      ok: true,
      userId: advanced.user_id,
      sessionId: presented.sessionId,
      generation: advanced.generation,
      expiresAt: advanced.expires_at,
    };
  }
  // Anything else under the row lock, as the server does.
  return db.transaction(async (trx): Promise<Outcome> => {
    const [session] = await trx.query<SessionRow>('select * from sessions where id = $1 for update', [presented.sessionId]);
    if (!session || session.revoked_at || session.expires_at.getTime() <= now.getTime()) return { ok: false };
    if (presented.generation === session.generation) {
      const generation = session.generation + 1;
      const expiresAt = new Date(Math.min(now.getTime() + IDLE_TTL_MS, session.absolute_expires_at.getTime()));
      await trx.query(
        `update sessions set generation = $2, rotated_at = $3, last_used_at = $3, expires_at = $4
         where id = $1 and generation = $5 and revoked_at is null`,
        [session.id, generation, now, expiresAt, session.generation],
      );
      return { ok: true, userId: session.user_id, sessionId: session.id, generation, expiresAt };
    }
    // The token rotated a moment ago (a lost response): the same successor, as the server does.
    if (
      presented.generation === session.generation - 1 &&
      session.rotated_at &&
      now.getTime() - session.rotated_at.getTime() < REUSE_GRACE_MS
    ) {
      return { ok: true, userId: session.user_id, sessionId: session.id, generation: session.generation, expiresAt: session.expires_at };
    }
    await trx.query(`update sessions set revoked_at = $2, revoked_reason = 'refresh_token_reused' where id = $1 and revoked_at is null`, [
      session.id,
      now,
    ]);
    return { ok: false };
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1024 * 1024) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

listen(
  createServer(async (req, res) => {
    try {
      const input = JSON.parse(await readBody(req)) as { json?: { refreshToken?: unknown } };
      const outcome = await refresh(input.json?.refreshToken);
      if (!outcome.ok) return send(res, 401, { error: { message: 'REFRESH_TOKEN_INVALID', code: -32001 } });
      const issuedAt = Math.floor(Date.now() / 1000);
      const exp = Math.max(issuedAt + 1, Math.min(issuedAt + ACCESS_TTL_SECONDS, Math.floor(outcome.expiresAt.getTime() / 1000)));
      const accessToken = await new SignJWT({ sid: outcome.sessionId })
        .setProtectedHeader({ alg: access.alg, typ: 'at+jwt', ...(access.kid && { kid: access.kid }) })
        .setSubject(outcome.userId)
        .setIssuer('latchkey')
        .setAudience('latchkey')
        .setIssuedAt(issuedAt)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(access.signingKey);
      send(res, 200, {
        result: {
          data: {
            json: {
              accessToken,
              accessTokenExpiresAt: new Date(exp * 1000),
              refreshToken: issue(outcome.sessionId, outcome.generation),
              refreshTokenExpiresAt: outcome.expiresAt,
            },
          },
        },
      });
    } catch {
      if (!res.headersSent) send(res, 500, { error: { message: 'Internal server error' } });
    }
  }),
  'refresh',
);
