/**
 * Another backend service that accepts Latchkey's access tokens: GET /me answers who is calling.
 * It needs the server's address (its public keys are at /.well-known/jwks.json) and no secret; a
 * server with ACCESS_TOKEN_ALG=HS256 is verified with its JWT_SECRET instead. Given the server's
 * PostgreSQL URL too, it also refuses the tokens of sessions that were revoked (logout, password
 * change) within a second.
 *
 *   LATCHKEY_URL=http://localhost:3000 [DATABASE_URL=postgres://...] PORT=4000 pnpm --filter @latchkey/verify example
 *   curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:4000/me
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier, withAuth } from '@latchkey/verify';

const latchkeyUrl = process.env.LATCHKEY_URL;
const secret = process.env.JWT_SECRET;
if (!latchkeyUrl && !secret) {
  console.error('Set LATCHKEY_URL to the Latchkey server’s address (or, for ACCESS_TOKEN_ALG=HS256, JWT_SECRET to its secret).');
  process.exit(1);
}
const databaseUrl = process.env.DATABASE_URL;

const verifier = createVerifier({
  ...(latchkeyUrl ? { jwksUrl: new URL('/.well-known/jwks.json', latchkeyUrl) } : { secret: secret ?? '' }),
  ...(databaseUrl?.startsWith('postgres') && { revocation: { postgresUrl: databaseUrl } }),
});

const server = createServer(
  withAuth(verifier, (req, res, { userId, sessionId, expiresAt }) => {
    if (req.method !== 'GET' || req.url !== '/me') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ userId, sessionId, expiresAt }));
  }),
);

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on http://127.0.0.1:${port} (revocation ${verifier.revocationStatus === 'off' ? 'off' : 'on'})`);
});

// Stop taking requests, then end the revocation listener: nothing is left open and the process
// exits on its own, with status 0. A second signal (Ctrl-C reaches both pnpm and this process, and
// pnpm passes it on) changes nothing: the handler stays installed, so it cannot kill the process.
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close(() => void verifier.close().catch((error: unknown) => console.error(error)));
  server.closeAllConnections();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
