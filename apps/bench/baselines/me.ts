/**
 * The `user.me` baseline: node:http, jose's jwtVerify with the server's options (src/lib/jwt.ts)
 * and key (EdDSA by default), then ONE query for the user by id. No framework, no cache.
 */
import { createServer } from 'node:http';
import { jwtVerify } from 'jose';
import { accessKey } from './access-key.js';
import { openDatabase } from './database.js';
import { listen } from './listen.js';
import { answerMe, bearer, send, UUID, unauthorized } from './me-answer.js';

const { alg, verificationKey } = await accessKey();
const db = await openDatabase();

listen(
  createServer(async (req, res) => {
    const token = bearer(req.headers.authorization);
    if (!token) return send(res, 401, unauthorized);
    let userId: string;
    try {
      const { payload } = await jwtVerify(token, verificationKey, {
        algorithms: [alg],
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
    await answerMe(db, userId, res);
  }),
  'me',
);
