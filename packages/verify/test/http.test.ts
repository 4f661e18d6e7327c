import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase } from '@latchkey/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, createVerifier, type Verifier, VerifyError, withAuth, withAuthFetch } from '../src/index.js';

let database: TestDatabase;
let app: ServedApp;
let verifier: Verifier;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // The server signs EdDSA (the default): the verifier needs only its public keys.
  app = await servedApp(database);
  verifier = createVerifier({ jwksUrl: `${app.url}/.well-known/jwks.json`, now: () => app.clock.now() });
});
afterAll(async () => {
  await verifier?.close();
  await app?.close();
  await database?.close();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const stop = (server: Server | undefined) => new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));

/** A verifier whose revocation check cannot reach its database (nothing listens on port 1). */
const unreachable = () =>
  createVerifier({
    jwksUrl: `${app.url}/.well-known/jwks.json`,
    now: () => app.clock.now(),
    revocation: { postgresUrl: 'postgres://nobody@127.0.0.1:1/none' },
  });

describe('withAuth, on a real node:http server', () => {
  let server: Server;
  let url: string;
  const failures: unknown[] = [];

  beforeAll(async () => {
    server = createServer(
      withAuth(
        verifier,
        async (req, res, claims) => {
          if (req.url === '/boom') throw new Error('the handler failed');
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(claims));
        },
        { onError: (error) => failures.push(error) },
      ),
    );
    url = await listen(server);
  });
  afterAll(() => stop(server));

  it('hands the claims of a server-issued token to the handler (Bearer or Token)', async () => {
    const session = await app.caller().auth.register(newUser());
    for (const scheme of ['Bearer', 'Token']) {
      const response = await fetch(`${url}/me`, { headers: { authorization: `${scheme} ${session.accessToken}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ userId: session.user.id, expiresAt: session.accessTokenExpiresAt.toISOString() });
    }
  });

  it('answers 401 { error: { code } } with a Bearer challenge, without calling the handler', async () => {
    const session = await app.caller().auth.register(newUser());
    const cases: [Record<string, string>, string, string][] = [
      [{}, 'ACCESS_TOKEN_MISSING', 'Bearer'],
      [{ authorization: `Basic ${btoa('a:b')}` }, 'ACCESS_TOKEN_MISSING', 'Bearer'],
      [{ authorization: 'Bearer not-a-jwt' }, 'ACCESS_TOKEN_INVALID', 'Bearer error="invalid_token"'],
      [{ authorization: `Bearer ${session.accessToken}x` }, 'ACCESS_TOKEN_INVALID', 'Bearer error="invalid_token"'],
    ];
    for (const [headers, code, challenge] of cases) {
      const response = await fetch(`${url}/boom`, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(challenge);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({ error: { code, message: expect.any(String) } });
    }
    expect(failures).toEqual([]);
  });

  it('answers 401 ACCESS_TOKEN_EXPIRED once the token has expired', async () => {
    const session = await app.caller().auth.register(newUser());
    app.clock.advance(15 * 60 + 6);
    const response = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${session.accessToken}` } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: 'ACCESS_TOKEN_EXPIRED' } });
  });

  it('turns a failing handler into a 500 and reports it, instead of an unhandled rejection', async () => {
    const session = await app.caller().auth.register(newUser());
    const response = await fetch(`${url}/boom`, { headers: { authorization: `Bearer ${session.accessToken}` } });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' } });
    expect(failures).toEqual([new Error('the handler failed')]);
    failures.length = 0;
  });

  it('answers 503, never lets the request through, when the revocation check cannot be made', async () => {
    const broken = unreachable();
    const reported: unknown[] = [];
    const other = createServer(withAuth(broken, (_req, res) => void res.end('let through'), { onError: (e) => reported.push(e) }));
    try {
      const otherUrl = await listen(other);
      const session = await app.caller().auth.register(newUser());
      const response = await fetch(otherUrl, { headers: { authorization: `Bearer ${session.accessToken}` } });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: 'VERIFIER_UNAVAILABLE' } });
      expect(reported).toHaveLength(1);
    } finally {
      await stop(other);
      await broken.close();
    }
  });
});

describe('authenticate(verifier, req)', () => {
  it('reads the header of a Node request and of a fetch Request alike', async () => {
    const session = await app.caller().auth.register(newUser());
    const server = createServer((req, res) => {
      authenticate(verifier, req).then(
        (claims) => res.end(claims.userId),
        (error: unknown) => res.writeHead(401).end(error instanceof VerifyError ? error.code : 'unexpected'),
      );
    });
    try {
      const url = await listen(server);
      const ok = await fetch(url, { headers: { authorization: `Token ${session.accessToken}` } });
      expect(await ok.text()).toBe(session.user.id);
      const refused = await fetch(url);
      expect([refused.status, await refused.text()]).toEqual([401, 'ACCESS_TOKEN_MISSING']);
    } finally {
      await stop(server);
    }
    const request = new Request('http://service.test/', { headers: { Authorization: `Bearer ${session.accessToken}` } });
    await expect(authenticate(verifier, request)).resolves.toMatchObject({ userId: session.user.id });
  });
});

describe('withAuthFetch', () => {
  const handler = () => withAuthFetch(verifier, (_request, claims) => Response.json({ userId: claims.userId }));

  it('hands the claims to a fetch-style handler', async () => {
    const session = await app.caller().auth.register(newUser());
    const response = await handler()(new Request('http://service.test/', { headers: { authorization: `Bearer ${session.accessToken}` } }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ userId: session.user.id });
  });

  it('answers 401 with the code and the challenge', async () => {
    const response = await handler()(new Request('http://service.test/', { headers: { authorization: 'Token nope' } }));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await response.json()).toMatchObject({ error: { code: 'ACCESS_TOKEN_INVALID' } });
  });

  it('answers 503 when the revocation check cannot be made', async () => {
    const broken = unreachable();
    try {
      const session = await app.caller().auth.register(newUser());
      const reported: unknown[] = [];
      const response = await withAuthFetch(broken, () => new Response('let through'), { onError: (e) => reported.push(e) })(
        new Request('http://service.test/', { headers: { authorization: `Bearer ${session.accessToken}` } }),
      );
      expect(response.status).toBe(503);
      expect(reported).toHaveLength(1);
    } finally {
      await broken.close();
    }
  });
});
