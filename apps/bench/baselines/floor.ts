/**
 * The `user.me` floor: node:http and the same ONE query by id, with NO token verification at all
 * (the user id is read from the token's payload, unchecked). Nothing that answers user.me
 * correctly can be faster than this here; user.me's ratio to it is what the server's own code costs.
 */
import { createServer } from 'node:http';
import { openDatabase } from './database.js';
import { listen } from './listen.js';
import { answerMe, bearer, send, UUID, unauthorized } from './me-answer.js';

const db = await openDatabase();

/** `sub` of a JWT, decoded and not verified: only a floor may do this. */
function unverifiedSubject(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const sub: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).sub;
    return typeof sub === 'string' && UUID.test(sub) ? sub : undefined;
  } catch {
    return undefined;
  }
}

listen(
  createServer(async (req, res) => {
    const userId = unverifiedSubject(bearer(req.headers.authorization) ?? '');
    if (!userId) return send(res, 401, unauthorized);
    await answerMe(db, userId, res);
  }),
  'floor',
);
